//! Compile-time behaviour of the macros, one folder per concern (`tests/ui/web_socket`,
//! `install`, `routing`, `embedded_server`, `samples`): each `*/pass/*.rs` must compile,
//! each `*/fail/*.rs` must fail with exactly the errors of its `.stderr`.
//!
//! Compiler messages change between Rust releases, so the `.stderr` files are only
//! compared on the release they were made with (see `tests/ui/README.md`); on any other
//! compiler this test prints a notice and passes without running them.
//! `TRYBUILD=overwrite cargo test --test ui` regenerates them: read the diff first.

use std::io::Write;
use std::process::Command;

/// The release the `.stderr` files were made with.
const STDERR_MADE_WITH: &str = "1.95.";

fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    String::from_utf8(output.stdout).ok()
}

#[test]
fn ui() {
    let version = rustc_version().unwrap_or_default();
    let release = version.split_whitespace().nth(1).unwrap_or("unknown");
    if !release.starts_with(STDERR_MADE_WITH) {
        // Written to stderr directly so the notice shows without `--nocapture`.
        let _ = writeln!(
            std::io::stderr(),
            "note: skipping the UI tests: their .stderr files were made with rustc {STDERR_MADE_WITH}x, this is rustc {release}"
        );
        return;
    }
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/*/pass/*.rs");
    cases.compile_fail("tests/ui/*/fail/*.rs");
}
