//! What the macros of `ws` do, as a plain library over `proc_macro2` token streams:
//! `ws-macros` is a thin proc-macro crate whose entry points call these `expand`
//! functions. Being a plain library, every parser and expansion can be unit tested and
//! fuzzed (`fuzz/`) outside a compiler: an input of any tokens gives an expansion or
//! `compile_error!`s, never a panic.
//!
//! One folder per macro (`web_socket/`, `install/`: `parse` builds a checked model,
//! `expand` generates), shared pieces beside them: `diag` (errors, "did you mean"),
//! `lit` (duration and size literals), `paths` (every path an expansion names),
//! `spans`, `debug` (`WS_MACROS_DEBUG`).

// The parse models live for one macro expansion; their variants' sizes do not matter
// (and change with proc-macro2's `span-locations`, which `cargo-ws` turns on).
#![allow(clippy::large_enum_variant)]

mod debug;
mod diag;
pub mod embedded_server;
pub mod http;
pub mod install;
mod lit;
mod paths;
pub mod routing;
mod spans;
pub mod web_socket;

#[cfg(test)]
mod test_support {
    use proc_macro2::TokenStream;

    /// Expands each input with a function-like macro's `expand` and checks that the
    /// result is a `compile_error!`, not a panic or a silent success.
    pub(crate) fn assert_each_is_an_error(expand: fn(TokenStream) -> TokenStream, inputs: &[&str]) {
        for input in inputs {
            let out = expand(input.parse().expect("lexes")).to_string();
            assert!(
                out.contains("compile_error"),
                "`{input}` gave no error: {out}"
            );
        }
    }
}
