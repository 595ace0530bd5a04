//! `routing!(app, echo, chat, some::module::handler)`: adds each handler's route.
//!
//! Each name refers to the hidden struct `#[web_socket]` put beside the handler; its
//! `RouteDef::route()` builds the `Route`. The same handler twice is an error here;
//! two handlers with the same path are a start-up error naming both (the macro cannot
//! see their paths).
//!
//! `authenticate(guard) { chat, admin }` (Ktor's `authenticate { webSocket(..) }`)
//! puts a guard in front of each route in the braces, before the route's own; blocks
//! nest, the outer guard running first.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Token};

use crate::diag::Errors;

const USAGE: &str =
    "`routing!(app, echo, chat)` or `routing!(app, authenticate(guard) { chat, admin }, echo)`";

/// One entry of the list: a handler, or a block of entries behind a guard.
enum Item {
    Handler(syn::Path),
    Authenticate { guard: Expr, items: Vec<Item> },
}

/// Parses `entry, entry, ...` up to the end of `input`.
fn items(input: ParseStream<'_>) -> syn::Result<Vec<Item>> {
    let mut list = Vec::new();
    while !input.is_empty() {
        if input.peek(syn::Ident) && input.peek2(syn::token::Paren) {
            let keyword: syn::Ident = input.parse()?;
            if keyword != "authenticate" {
                return Err(syn::Error::new(
                    keyword.span(),
                    "expected the name of a `#[web_socket]` function, or `authenticate(guard) { handlers }`: `routing!` takes handler names, not calls or expressions",
                ));
            }
            let args;
            syn::parenthesized!(args in input);
            let guard: Expr = args.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`authenticate` takes one guard: `authenticate(auth) { chat }`",
                )
            })?;
            if !args.is_empty() {
                return Err(syn::Error::new(
                    args.span(),
                    "`authenticate` takes one guard: `authenticate(auth) { chat }`",
                ));
            }
            if !input.peek(syn::token::Brace) {
                return Err(syn::Error::new(
                    keyword.span(),
                    "expected the guarded handlers in braces: `authenticate(auth) { chat, admin }`",
                ));
            }
            let body;
            syn::braced!(body in input);
            let inner = items(&body)?;
            if inner.is_empty() {
                return Err(syn::Error::new(
                    keyword.span(),
                    "`authenticate` guards no handler: list them in its braces, `authenticate(auth) { chat }`",
                ));
            }
            list.push(Item::Authenticate {
                guard,
                items: inner,
            });
        } else {
            let handler: syn::Path = input.call(syn::Path::parse_mod_style).map_err(|e| {
                syn::Error::new(e.span(), "expected the name of a `#[web_socket]` function")
            })?;
            list.push(Item::Handler(handler));
        }
        if input.is_empty() {
            break;
        }
        if !input.peek(Token![,]) {
            return Err(syn::Error::new(
                input.span(),
                "expected `,` or the end: `routing!` takes handler names, not calls or expressions",
            ));
        }
        input.parse::<Token![,]>()?;
    }
    Ok(list)
}

/// Flattens the entries: each handler with the guards of the blocks around it,
/// innermost first.
fn flatten<'a>(
    items: &'a [Item],
    guards: &mut Vec<usize>,
    out: &mut Vec<(&'a syn::Path, Vec<usize>)>,
    all: &mut Vec<&'a Expr>,
) {
    for item in items {
        match item {
            Item::Handler(path) => out.push((path, guards.iter().rev().copied().collect())),
            Item::Authenticate { guard, items } => {
                all.push(guard);
                guards.push(all.len() - 1);
                flatten(items, guards, out, all);
                guards.pop();
            }
        }
    }
}

/// Expands one `routing!`.
pub fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let (paths, input) = crate::paths::leading_crate(input, &mut errors);
    let parsed = (|input: ParseStream<'_>| {
        let app: Expr = input.parse()?;
        if input.is_empty() {
            return Ok((app, Vec::new()));
        }
        input.parse::<Token![,]>()?;
        Ok((app, items(input)?))
    })
    .parse2(input);
    let (app, items) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            errors.push(syn::Error::new(e.span(), format!("{e}: {USAGE}")));
            let errors = errors.to_compile_errors();
            return quote!({ #errors });
        }
    };
    if let Some(e) = crate::paths::check_app(&app) {
        errors.push(e);
        let errors = errors.to_compile_errors();
        return quote!({ #errors });
    }
    let mut handlers = Vec::new();
    let mut guards = Vec::new();
    flatten(&items, &mut Vec::new(), &mut handlers, &mut guards);
    if handlers.is_empty() {
        errors.at(
            app.span(),
            format!("`routing!` needs the application and at least one handler: {USAGE}"),
        );
    }
    let hidden = Span::mixed_site();
    let guard_names: Vec<_> = (0..guards.len())
        .map(|i| format_ident!("__ws_guard{}", i, span = hidden))
        .collect();
    // Each block's guard is evaluated once; its routes get clones (a function's name
    // is `Copy`).
    let bindings = guards
        .iter()
        .zip(&guard_names)
        .map(|(guard, name)| quote_spanned!(guard.span()=> let #name = #guard;));
    let mut seen: Vec<(String, &syn::Path)> = Vec::new();
    let mut routes = Vec::new();
    for (handler, around) in &handlers {
        let written = handler.to_token_stream().to_string().replace(' ', "");
        if seen.iter().any(|(w, _)| *w == written) {
            errors.spanned(
                handler,
                format!("handler `{written}` is routed twice: each handler adds its route once"),
            );
            continue;
        }
        seen.push((written, handler));
        let route_def = paths.route_def(handler.span());
        let guarded = around.iter().map(|&i| {
            let name = &guard_names[i];
            quote_spanned!(guards[i].span()=> .guard_first(::core::clone::Clone::clone(&#name)))
        });
        routes.push(quote_spanned! {handler.span()=>
            .route(<#handler as #route_def>::route() #(#guarded)*)
        });
    }
    let errors = errors.to_compile_errors();
    let expansion = if routes.is_empty() {
        quote!({ #errors })
    } else {
        let at = Span::call_site();
        let app = crate::paths::receiver(&app);
        quote_spanned!(at=> { #errors #(#bindings)* #app #(#routes)*; })
    };
    crate::debug::print("routing", "", &expansion);
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
                "app, echo()",
                "app, 42",
                "app echo",
                "app, echo echo",
                "app, a, a",
                "app, authenticate(auth)",
                "app, authenticate(auth) {}",
                "app, authenticate() { a }",
                "app, authenticate(a, b) { a }",
                "app, guard(auth) { a }",
                "app, authenticate(auth) { a, a }",
            ],
        );
        let out = expand("app, echo, rooms::lobby,".parse().expect("lexes")).to_string();
        assert!(!out.contains("compile_error"), "{out}");
        let out = expand(
            "app, authenticate(auth) { chat, authenticate(admin) { panel } }, echo"
                .parse()
                .expect("lexes"),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        // The inner block's guard is put first, then the outer's: the outer runs first.
        let panel = out.find("panel").expect("panel is routed");
        let tail = &out[panel..];
        let inner = tail.find("__ws_guard1").expect("inner guard");
        let outer = tail.find("__ws_guard0").expect("outer guard");
        assert!(inner < outer, "{out}");
    }
}
