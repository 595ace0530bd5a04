//! Takes the templates from the workspace's `examples/` at build time: every example
//! that opts in with a `// ws-new: template` line, the pages they include, the shared
//! `examples/common/mod.rs`, and the versions of the workspace's dependencies (so a
//! generated `Cargo.toml` never drifts from what the examples are built with).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let root = Path::new(&manifest)
        .parent()
        .expect("cargo-ws sits in the workspace");
    let examples = root.join("examples");
    println!("cargo:rerun-if-changed={}", examples.display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );
    let mut out = String::new();
    let mut names: Vec<_> = std::fs::read_dir(&examples)
        .expect("examples/ is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    names.sort();
    out.push_str("/// The examples, as `(name, source)`.\npub(crate) static EXAMPLES: &[(&str, &str)] = &[\n");
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_stem().unwrap().to_string_lossy();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n\n/// Files the examples include (pages), as `(file name, contents)`.\npub(crate) static PAGES: &[(&str, &str)] = &[\n");
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
    {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .unwrap();
    }
    let common = examples.join("common").join("mod.rs");
    println!("cargo:rerun-if-changed={}", common.display());
    writeln!(
        out,
        "];\n\n/// `examples/common/mod.rs`.\npub(crate) static COMMON: &str = include_str!({:?});\n",
        common.display().to_string()
    )
    .unwrap();
    // `name = "1.2"` or `name = { version = "1.2", .. }` lines of [workspace.dependencies].
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let mut in_deps = false;
    out.push_str("/// The workspace's dependency lines, `(name, spec)`.\npub(crate) static VERSIONS: &[(&str, &str)] = &[\n");
    for line in cargo.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[workspace.dependencies]";
            continue;
        }
        if !in_deps || line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some((name, spec)) = line.split_once('=') {
            let (name, spec) = (name.trim(), spec.trim());
            if spec.contains("path =") {
                continue;
            }
            writeln!(out, "    ({name:?}, {spec:?}),").unwrap();
        }
    }
    out.push_str("];\n");
    let version = cargo
        .lines()
        .skip_while(|l| l.trim() != "[workspace.package]")
        .find_map(|l| l.trim().strip_prefix("version = "))
        .map(|v| v.trim_matches('"').to_string())
        .expect("[workspace.package] version");
    writeln!(out, "\n/// The version of `ws` this generator was built with.\npub(crate) static WS_VERSION: &str = {version:?};").unwrap();
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("templates.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
