//! Renders the key tables of `ws-dsl` (`ws-dsl/src/keys.rs`) into markdown for the
//! builders' documentation (`WebSocketOptions`, `Deflate`): the defaults users read
//! are the ones `install!` documents.

use std::path::PathBuf;

use ws_dsl::keys::{DEFLATE, Links, PLUGIN, markdown};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let tables = [
        ("options_table.md", markdown(PLUGIN, Links::Setters("Self"))),
        (
            "deflate_table.md",
            markdown(DEFLATE, Links::Setters("Deflate")),
        ),
    ];
    for (file, table) in tables {
        std::fs::write(out.join(file), table).expect("OUT_DIR is writable");
    }
}
