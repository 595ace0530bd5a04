//! `routing!(app, echo, chat, some::module::handler)`: adds each handler's route.
//!
//! Each name refers to the hidden struct `#[web_socket]` put beside the handler; its
//! `RouteDef::route()` builds the `Route`. The same handler twice is an error here;
//! two handlers with the same path are a start-up error naming both (the macro cannot
//! see their paths).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Token};

use crate::diag::Errors;

const USAGE: &str = "`routing!(app, echo, chat)`";

/// Expands one `routing!`.
pub fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let (paths, input) = crate::paths::leading_crate(input, &mut errors);
    let parsed = (|input: ParseStream<'_>| {
        let app: Expr = input.parse()?;
        let mut handlers = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let handler: syn::Path = input.call(syn::Path::parse_mod_style).map_err(|e| {
                syn::Error::new(e.span(), "expected the name of a `#[web_socket]` function")
            })?;
            if !input.is_empty() && !input.peek(Token![,]) {
                return Err(syn::Error::new(
                    input.span(),
                    "expected `,` or the end: `routing!` takes handler names, not calls or expressions",
                ));
            }
            handlers.push(handler);
        }
        Ok((app, handlers))
    })
    .parse2(input);
    let (app, handlers) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            errors.push(syn::Error::new(e.span(), format!("{e}: {USAGE}")));
            let errors = errors.to_compile_errors();
            return quote!({ #errors });
        }
    };
    if handlers.is_empty() {
        errors.at(
            app.span(),
            format!("`routing!` needs the application and at least one handler: {USAGE}"),
        );
    }
    let mut seen: Vec<(String, &syn::Path)> = Vec::new();
    let mut routes = Vec::new();
    for handler in &handlers {
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
        routes.push(quote_spanned! {handler.span()=>
            .route(<#handler as #route_def>::route())
        });
    }
    let errors = errors.to_compile_errors();
    let expansion = if routes.is_empty() {
        quote!({ #errors })
    } else {
        let at = Span::call_site();
        quote_spanned!(at=> { #errors #app #(#routes)*; })
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
            ],
        );
        let out = expand("app, echo, rooms::lobby,".parse().expect("lexes")).to_string();
        assert!(!out.contains("compile_error"), "{out}");
    }
}
