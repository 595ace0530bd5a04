//! `#[web_socket("/path")]`, `#[web_socket("/path", protocol = "...")]` and
//! `#[web_socket_raw("/path")]`.
//!
//! `parse` reads the arguments and the function into a checked model (collecting every
//! error), `rewrite` turns `for ... in incoming` into a receive loop, `expand`
//! generates the hidden route item.

mod expand;
mod parse;
mod rewrite;

use proc_macro2::{Span, TokenStream};
use quote::quote;

pub(crate) use parse::Kind;

use crate::diag::Errors;

/// Expands one handler attribute.
pub(crate) fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
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
    let handler = parse::handler(func, kind, args.path.as_ref(), &mut errors);
    let output = expand::generate(&handler, &args, kind, &errors);
    crate::debug::print(kind.name(), &handler.func.sig.ident.to_string(), &output);
    output
}
