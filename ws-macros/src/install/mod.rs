//! `install!(app, WebSockets { key = value, ... })`: the WebSockets plugin's options.
//!
//! `parse` checks every key and value into a typed model (collecting all errors);
//! `expand` writes the `WebSocketOptions` builder calls. With errors, the keys that
//! were valid are still expanded, so nothing else in the block fails because of them.

mod expand;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

use crate::diag::Errors;

/// Expands one `install!`.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let install = parse::parse(input, &mut errors);
    let expansion = match &install {
        Some(install) if errors.is_empty() => expand::generate(install),
        Some(install) => {
            let partial = expand::generate(install);
            let errors = errors.to_compile_errors();
            quote!({ #errors #partial })
        }
        None => {
            let errors = errors.to_compile_errors();
            quote!({ #errors })
        }
    };
    crate::debug::print("install", "", &expansion);
    expansion
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_reported_never_panics() {
        crate::test_support::assert_each_is_an_error(
            expand,
            &[
                "",
                "app",
                "app,",
                "app, 42",
                "app, WebSockets [1]",
                "app, WebSockets { ping_period }",
                "app, WebSockets { ping_period = }",
                "app, WebSockets { = 15s }",
                "app, WebSockets { ping_period 15s }",
                "app, WebSockets { extensions }",
                "app, WebSockets { extensions = 5 }",
                "app, WebSockets { extensions { 42 } }",
                "app, WebSockets { extensions { Deflate { compression_level = 99999999999999999999999 } } }",
                "app, WebSockets { extensions { Deflate { level } } }",
                "app, WebSockets { timeout = 99999999999999999999999999999999999999h }",
                "app, WebSockets { timeout = 1e400s }",
                "app, WebSockets { max_frame_size = 99999999999999999999999999999999999999999 }",
                "app, WebSockets { max_frame_size = 18446744073709551616 }",
                "app, WebSockets { allowed_origins = [1, \"x\"] }",
                "app, WebSockets { outgoing_overflow = \"close\" }",
                "app, WebSockets {} extra",
                "WebSockets",
                "1 + , WebSockets",
            ],
        );
    }

    #[test]
    fn valid_input_expands_to_builder_calls_only() {
        let out = expand(
            "app, WebSockets { ping_period = 15s, max_frame_size = 1KiB, extensions { Deflate, My { k = 2m } } }"
                .parse()
                .expect("lexes"),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains(". ping_period (:: ws :: __private :: Duration :: from_secs (15))"),
            "{out}"
        );
        assert!(out.contains(". max_frame_size (1024)"), "{out}");
        assert!(
            out.contains(":: ws :: extension :: Deflate :: new ()"),
            "{out}"
        );
        assert!(
            out.contains(". k (:: ws :: __private :: Duration :: from_secs (120))"),
            "{out}"
        );
    }
}
