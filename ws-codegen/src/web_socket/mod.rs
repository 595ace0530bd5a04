//! `#[web_socket("/path")]`, `#[web_socket("/path", protocol = "...")]`,
//! `#[web_socket_raw("/path")]`, and `#[web_socket_client]` (the rewrite alone).
//!
//! `parse` reads the arguments and the function into a checked model (collecting every
//! error), `rewrite` turns `for ... in incoming` into a receive loop, `expand`
//! generates the hidden route item.

pub mod client;
pub(crate) mod expand;
pub(crate) mod parse;
mod rewrite;

use proc_macro2::{Span, TokenStream};
use quote::quote;

pub use parse::Kind;

use crate::diag::Errors;

/// A route as its attribute declares it, read with the parser the attribute uses
/// (for tools such as `cargo ws routes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSummary {
    /// The route path, as written.
    pub path: String,
    /// The required subprotocol, if any.
    pub protocol: Option<String>,
    /// The guard, as written.
    pub guard: Option<String>,
    /// `#[web_socket_raw]`.
    pub raw: bool,
}

/// A guard expression as `cargo ws routes` shows it: its tokens without spaces.
pub(crate) fn guard_text(guard: &syn::Expr) -> String {
    quote::ToTokens::to_token_stream(guard)
        .to_string()
        .replace(' ', "")
}

/// Reads an attribute's arguments (`"/chat", protocol = "chat.v1", guard = auth`) as
/// the attribute does; the errors it would report, if any.
pub fn describe(args: TokenStream, kind: Kind) -> Result<RouteSummary, Vec<String>> {
    let mut errors = Errors::new();
    let parsed = parse::args(args, kind, &mut errors);
    if !errors.is_empty() {
        return Err(errors.messages());
    }
    let Some(path) = parsed.path else {
        return Err(vec![format!("`{}` needs the route path", kind.attr())]);
    };
    Ok(RouteSummary {
        path: path.lit.value(),
        protocol: parsed.protocol.map(|p| p.value()),
        guard: parsed.guard.as_ref().map(guard_text),
        raw: kind == Kind::Raw,
    })
}

/// Expands one handler attribute.
pub fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let mut errors = Errors::new();
    let func: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            errors.at(
                Span::call_site(),
                format!("`{}` applies to an `async fn` handler", kind.attr()),
            );
            let errors = errors.to_compile_errors();
            return quote!(#errors #item);
        }
    };
    let args = parse::args(args, kind, &mut errors);
    let handler = parse::handler(func, kind, &args, &mut errors);
    let output = expand::generate(&handler, &args, kind, &errors);
    crate::debug::print(kind.name(), &handler.func.sig.ident.to_string(), &output);
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str, kind: Kind) -> String {
        let args: TokenStream = args.parse().expect("args lex");
        let item: TokenStream = item.parse().expect("item lexes");
        expand(args, item, kind).to_string()
    }

    #[test]
    fn malformed_input_is_reported_never_panics() {
        let handler = "async fn h(session: WebSocketSession) {}";
        for args in [
            "",
            "42",
            "/chat",
            "\"/chat\", protocol",
            "\"/chat\",, protocol = \"x\"",
            "\"/chat\" \"/other\"",
            "protocol = \"x\"",
            "\"/{\"",
            "\"/}\"",
            "\"/{}\"",
            "\"\"",
            "\"/a\", protocol = \"\"",
            "\"/a\", protocol = 1 + 2",
            "\"/a\", path = \"/b\"",
            "\"/a\", \"/b\"",
        ] {
            let out = expand_str(args, handler, Kind::Normal);
            assert!(
                out.contains("compile_error"),
                "`{args}` gave no error: {out}"
            );
            assert!(
                out.contains("async fn h"),
                "`{args}` dropped the function: {out}"
            );
        }
        for item in [
            "struct S;",
            "fn",
            "impl X {}",
            "async fn h(self) {}",
            "const fn f() {}",
            "async fn f<'a>(x: &'a str) {}",
            // Trait objects and `impl Trait`, with or without `dyn` (fuzz finding
            // `macros/trait-object-parameter`: `Session +` is a trait object).
            "async fn h(session: WebSocketSession +) {}",
            "async fn h(session: dyn Session + Send) {}",
            "async fn h(session: impl Session) {}",
        ] {
            let out = expand_str("\"/a\"", item, Kind::Raw);
            assert!(
                out.contains("compile_error"),
                "`{item}` gave no error: {out}"
            );
        }
    }

    #[test]
    fn a_valid_handler_has_no_error_and_keeps_its_attributes() {
        let out = expand_str(
            "\"/rooms/{room}\", protocol = \"chat.v1\"",
            "/// Docs.\n#[cfg(all())] pub async fn r#loop(session: WebSocketSession, Path(room): Path<String>) {}",
            Kind::Normal,
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("\"loop\""),
            "the route is named without `r#`: {out}"
        );
        assert!(out.contains(". protocol (\"chat.v1\")"), "{out}");
        assert!(
            out.matches("cfg (all ())").count() == 3,
            "cfg copied to struct and impl: {out}"
        );
        assert!(
            out.contains("pub struct r#loop { }") || out.contains("pub struct r#loop {}"),
            "{out}"
        );
    }

    #[test]
    fn only_loops_over_incoming_are_rewritten() {
        let out = expand_str(
            "\"/a\"",
            "async fn h(session: WebSocketSession) {
                for x in [1, 2] { let _ = x; }
                for f in session.incoming { let _ = f; }
                for f in incoming { }
                for f in &self_.incoming() { }
                for f in session.incoming.iter() { }
                fn inner(incoming: Vec<u8>) { for b in incoming { let _ = b; } }
            }",
            Kind::Normal,
        );
        assert_eq!(out.matches("next_frame").count(), 3, "{out}");
        for untouched in [
            "for x in [1 , 2]",
            "for f in session . incoming . iter ()",
            "for b in incoming",
        ] {
            assert!(out.contains(untouched), "`{untouched}` stays: {out}");
        }
        assert!(!out.contains("for f in session . incoming {"), "{out}");
    }
}
