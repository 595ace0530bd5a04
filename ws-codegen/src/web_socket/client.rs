//! `#[web_socket_client]`: a client handler. The body gets the one rewrite (`for ..
//! in incoming`) and nothing else is generated: the function stays a plain `async fn`
//! that `Client::web_socket(url, handler)` calls with the session.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ItemFn, Token};

use super::rewrite;
use crate::diag::Errors;
use crate::paths::{self, Paths};

const ATTR: &str = "#[web_socket_client]";

/// Expands `#[web_socket_client]` (its only option: `crate = path`).
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            errors.at(
                Span::call_site(),
                format!("`{ATTR}` applies to an `async fn` client handler"),
            );
            let errors = errors.to_compile_errors();
            return quote!(#errors #item);
        }
    };
    let paths = Paths::new(root(args, &mut errors));
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!(
                "a `{ATTR}` handler must be an `async fn`: write `async fn {}(session: WebSocketSession)`",
                sig.ident
            ),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.at(
            constness.span,
            format!("a `{ATTR}` handler cannot be a `const fn`"),
        );
    }
    rewrite::rewrite_body(&mut func.block, &paths, &mut errors);
    if func.sig.asyncness.is_none() {
        // Keeps the body's `.await`s from adding errors of their own.
        func.sig.asyncness = Some(Token![async](func.sig.fn_token.span));
    }
    let errors = errors.to_compile_errors();
    let output = quote!(#errors #func);
    crate::debug::print("web_socket_client", &func.sig.ident.to_string(), &output);
    output
}

/// The `crate = path` option, if given; anything else is an error.
fn root(args: TokenStream, errors: &mut Errors) -> Option<syn::Path> {
    if args.is_empty() {
        return None;
    }
    let parser = Punctuated::<syn::ExprAssign, Token![,]>::parse_terminated;
    let assigns = match parser.parse2(args) {
        Ok(assigns) => assigns,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("`{ATTR}` takes no arguments but `crate = path`"),
            ));
            return None;
        }
    };
    let mut root = None;
    for assign in assigns {
        let is_crate = matches!(&*assign.left, Expr::Path(p)
            if p.path.get_ident().is_some_and(|i| i.unraw() == "crate")
                || p.path.segments.len() == 1 && p.path.segments[0].ident == "crate");
        if !is_crate {
            errors.spanned(
                &assign.left,
                format!("`{ATTR}` takes no arguments but `crate = path`"),
            );
            continue;
        }
        if root.is_some() {
            errors.spanned(&assign.left, "duplicate option `crate`: keep one");
            continue;
        }
        match paths::crate_path(&assign.right) {
            Ok(path) => root = Some(path),
            Err(e) => errors.push(e),
        }
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        expand(args.parse().unwrap(), item.parse().unwrap()).to_string()
    }

    #[test]
    fn rewrites_receive_loops_and_adds_nothing() {
        let out = expand_str(
            "",
            "async fn chat(session: WebSocketSession) -> Result<()> { for frame in session.incoming { let _ = frame; } Ok(()) }",
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("next_frame"), "{out}");
        assert!(!out.contains("struct"), "{out}");
        let out = expand_str(
            "crate = my_ws",
            "async fn c(s: WebSocketSession) { for f in s.incoming {} }",
        );
        assert!(out.contains("my_ws :: __private"), "{out}");
    }

    #[test]
    fn mistakes_are_errors_that_keep_the_function() {
        for (args, item) in [
            ("", "fn c(s: WebSocketSession) {}"),
            ("\"/path\"", "async fn c(s: WebSocketSession) {}"),
            ("path = 1", "async fn c(s: WebSocketSession) {}"),
            ("crate = 1", "async fn c(s: WebSocketSession) {}"),
        ] {
            let out = expand_str(args, item);
            assert!(out.contains("compile_error"), "{args} {item}: {out}");
            assert!(out.contains("fn c"), "{out}");
        }
        assert!(expand_str("", "struct S;").contains("compile_error"));
    }
}
