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
pub fn expand(input: TokenStream) -> TokenStream {
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
                // A keyword as a user extension's setter (fuzz finding `keyword-setter`).
                "app, WebSockets { extensions { My { impl = 1 } } }",
            ],
        );
        let out = expand(
            "app, WebSockets { extensions { My { impl = 1, r#type = 2 } } }"
                .parse()
                .expect("lexes"),
        );
        syn::parse2::<syn::Expr>(out.clone()).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(out.to_string().matches("compile_error").count(), 1, "{out}");
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

    /// `Name { a: 1, b: None }` → `[("a", "1"), ("b", "None")]` (no nested commas in
    /// the defaults).
    fn debug_fields(debug: &str) -> Vec<(String, String)> {
        let inner =
            &debug[debug.find('{').expect("a struct") + 1..debug.rfind('}').expect("a struct")];
        inner
            .split(", ")
            .filter_map(|field| field.trim().split_once(": "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The runtime's `Debug` of a default the table documents as `default`.
    fn expected_debug(spec: &ws_dsl::keys::KeySpec) -> String {
        use crate::lit::{DurationValue, IntValue};
        use ws_dsl::keys::Rule;
        let written = spec.default.trim_matches('`');
        let literal: Option<syn::Expr> = syn::parse_str(written).ok();
        let prose = literal.is_none() || written.contains(' ');
        match spec.rule {
            Rule::Duration { .. } if prose => "None".into(),
            Rule::Duration { .. } => match crate::lit::duration(&literal.unwrap(), spec.name) {
                Ok(DurationValue::Const { secs, nanos, .. }) => {
                    format!("{:?}", std::time::Duration::new(secs, nanos))
                }
                _ => panic!("`{}`: default `{written}` is not a duration", spec.name),
            },
            Rule::Size { .. } | Rule::Count { .. } if written == "unlimited" || prose => {
                "None".into()
            }
            Rule::Size { .. } | Rule::Count { .. } if written == "u64::MAX" => u64::MAX.to_string(),
            Rule::Size { .. } | Rule::Count { .. } => {
                match crate::lit::size(&literal.expect("a literal"), spec.name, u128::MAX, "u128") {
                    Ok(IntValue::Const { value, .. }) => value.to_string(),
                    _ => panic!("`{}`: default `{written}` is not a size", spec.name),
                }
            }
            Rule::Bool { .. } if written == "off" => "false".into(),
            // A default that depends on the role (`on (a client: off)`): unset, resolved
            // when the session's role is known.
            Rule::Bool { .. } if written.contains("(a client:") => "None".into(),
            Rule::Bool { .. } | Rule::Variant { .. } => written.into(),
            Rule::Expr { .. } => "false".into(),
            Rule::Origins => "SameHost".into(),
            Rule::Extensions => "[]".into(),
        }
    }

    #[test]
    fn documented_defaults_are_the_runtime_defaults() {
        let tables = [
            (
                ws_dsl::keys::PLUGIN,
                format!("{:?}", ws::WebSocketOptions::new()),
            ),
            (
                ws_dsl::keys::DEFLATE,
                format!("{:?}", ws::extension::Deflate::new()),
            ),
        ];
        for (rows, debug) in tables {
            let fields = debug_fields(&debug);
            for spec in rows {
                let actual = fields
                    .iter()
                    .find(|(k, _)| k == spec.name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or_else(|| panic!("no field `{}` in {debug}", spec.name));
                // An optional setting that is on by default: compare what it holds.
                let actual = actual
                    .strip_prefix("Some(")
                    .and_then(|v| v.strip_suffix(')'))
                    .unwrap_or(actual);
                assert_eq!(
                    actual,
                    expected_debug(spec),
                    "`{}`: ws-dsl/src/keys.rs documents the default `{}`",
                    spec.name,
                    spec.default
                );
            }
        }
    }
}
