//! `install!` code generation: exactly the public `WebSocketOptions` builder calls, one
//! per key, with the setter each key's row names (`ws_dsl::keys`), in table order.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use ws_dsl::keys::KeyTable;

use super::parse::{Extension, Install, Origins, Settings, Value};
use crate::paths::Paths;

/// `{ app.install(::ws::WebSocketOptions::new().key(value)...); }`
pub(crate) fn generate(install: &Install) -> TokenStream {
    let app = crate::paths::receiver(&install.app);
    let paths = &install.paths;
    let calls = setter_calls(&install.options, paths);
    let options = paths.web_socket_options(Span::call_site());
    quote! {
        {
            #app.install(#options::new() #(#calls)*);
        }
    }
}

/// `.setter(value)` for each setting, spanned at its key.
fn setter_calls<K: KeyTable>(settings: &Settings<K>, paths: &Paths) -> Vec<TokenStream> {
    let mut calls = Vec::new();
    for (spec, setting) in settings.in_table_order() {
        let key = &setting.key;
        let setter = match ident(spec.setter, key.span()) {
            Ok(setter) => setter,
            Err(e) => {
                calls.push(e.to_compile_error());
                continue;
            }
        };
        let value = match &setting.value {
            Value::Duration(duration) => duration.tokens(paths),
            Value::Int(int) => int.to_token_stream(),
            Value::Bool(b) => b.to_token_stream(),
            Value::Expr(expr) => expr.to_token_stream(),
            Value::Variant { ty, variant } => {
                let ty = paths.item(variant.span(), ty);
                quote_spanned!(variant.span()=> #ty::#variant)
            }
            Value::Origins(Origins::Any(any)) => {
                let ty = paths.item(any.span(), "AllowedOrigins");
                quote_spanned!(any.span()=> #ty::Any)
            }
            Value::Origins(Origins::List(list)) if list.is_empty() => {
                // `[""; 0]` keeps an empty list typed.
                quote!([""; 0])
            }
            Value::Origins(Origins::List(list)) => quote!([#(#list),*]),
            Value::Origins(Origins::Expr(expr)) => expr.to_token_stream(),
            Value::Extensions(extensions) => {
                for extension in extensions {
                    let factory = factory(extension, paths);
                    calls.push(quote_spanned!(key.span()=> .#setter(#factory)));
                }
                continue;
            }
        };
        calls.push(quote_spanned!(key.span()=> .#setter(#value)));
    }
    calls
}

/// A setter's name as an identifier at `span` (a table row names it; never panics).
fn ident(name: &str, span: Span) -> syn::Result<syn::Ident> {
    let mut ident: syn::Ident =
        syn::parse_str(name).map_err(|e| syn::Error::new(span, format!("setter `{name}`: {e}")))?;
    ident.set_span(span);
    Ok(ident)
}

/// The factory of one entry of `extensions { ... }`.
fn factory(extension: &Extension, paths: &Paths) -> TokenStream {
    match extension {
        Extension::Deflate { name, options } => {
            let calls = setter_calls(options, paths);
            let deflate = paths.deflate(name.span());
            quote_spanned!(name.span()=> #deflate::new() #(#calls)*)
        }
        Extension::User { ty, calls } => {
            let calls = calls
                .iter()
                .map(|(k, v)| quote_spanned!(k.span()=> .#k(#v)));
            let ty_span = syn::spanned::Spanned::span(ty);
            let user_extension = paths.user_extension(ty_span);
            quote_spanned! {ty_span=>
                #user_extension(<#ty as ::core::default::Default>::default() #(#calls)*)
            }
        }
    }
}
