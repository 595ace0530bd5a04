//! What the `ws` DSL accepts, in one place: the route path grammar ([`path`]), the
//! `allowed_origins` grammar and origin comparison ([`origin`]), the `trusted_proxies`
//! grammar ([`net`]), and the tables of `install!` keys ([`keys`]).
//!
//! # Why a crate of its own
//!
//! Two crates need the same facts. `ws-macros` checks a route path at compile time and
//! `ws-runtime` parses it again when a `Route` is built (by the macro's expansion or by
//! `Route::new`); `install!` checks each key and calls its setter, while the README,
//! `install!`'s docs and the builders' docs list the keys with their defaults. A
//! proc-macro crate can export nothing but macros, and the runtime must not depend on
//! the macros' parsing libraries, so these facts live here, in a crate with no
//! dependencies that both build (as Rocket's codegen shares `rocket_http`'s route
//! parser):
//!
//! - [`path`]: one scanner for route paths, with the macro's messages and the
//!   runtime's [`PathError`](path::PathError);
//! - [`keys`]: one row per `install!` key and per `Deflate { ... }` key (name, value
//!   [`Rule`](keys::Rule), Ktor spelling, default, setter, what it does). The macro
//!   parses and expands from the rows; the build scripts of `ws-macros` and
//!   `ws-runtime` render them into the docs ([`keys::markdown`]); this crate's tests
//!   check that the README's tables are the rendered rows, and `ws-macros`' tests that
//!   the documented defaults are the runtime's.
//!
//! `docs/architecture.md` in the repository shows where this crate sits.
//!
//! Nothing here is `ws`'s public API: users see it through
//! `ws::routing::PathPattern` and the macros' messages.

pub mod keys;
pub mod net;
pub mod origin;
pub mod path;

#[cfg(test)]
mod readme {
    //! The README's option tables are the tables of [`keys`](crate::keys), rendered.

    use crate::keys::{DEFLATE, KeySpec, Links, PLUGIN, markdown};

    const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");

    /// Replaces what sits between `<!-- keys:NAME ... -->` and `<!-- /keys:NAME -->`.
    fn with_table(text: &str, name: &str, table: &str) -> String {
        let open = format!("<!-- keys:{name}");
        let close = format!("<!-- /keys:{name} -->");
        let start = text
            .find(&open)
            .unwrap_or_else(|| panic!("README.md has no `{open}`"));
        let start = start + text[start..].find("-->\n").expect("marker closes") + 4;
        let end = text
            .find(&close)
            .unwrap_or_else(|| panic!("README.md has no `{close}`"));
        format!("{}{table}{}", &text[..start], &text[end..])
    }

    #[test]
    fn readme_tables_are_the_key_tables() {
        let text = std::fs::read_to_string(README).expect("README.md");
        let tables: [(&str, &[KeySpec]); 2] = [("plugin", PLUGIN), ("deflate", DEFLATE)];
        let mut expected = text.clone();
        for (name, rows) in tables {
            expected = with_table(&expected, name, &markdown(rows, Links::None));
        }
        if expected == text {
            return;
        }
        if std::env::var_os("UPDATE_README").is_some() {
            std::fs::write(README, expected).expect("README.md written");
            return;
        }
        panic!(
            "README.md's option tables differ from ws-dsl/src/keys.rs: run `UPDATE_README=1 cargo test -p ws-dsl` and read the diff"
        );
    }
}
