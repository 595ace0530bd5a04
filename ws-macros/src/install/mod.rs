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
