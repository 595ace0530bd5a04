//! Renders the key tables of `ws-dsl` (`ws-dsl/src/keys.rs`) into markdown for the
//! documentation of `install!`, so the table users read is the one the macro checks.

use std::path::PathBuf;

use ws_dsl::keys::{DEFLATE, Links, PLUGIN, markdown};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for (file, rows) in [("plugin_keys.md", PLUGIN), ("deflate_keys.md", DEFLATE)] {
        std::fs::write(out.join(file), markdown(rows, Links::None)).expect("OUT_DIR is writable");
    }
}
