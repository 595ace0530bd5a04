//! Span helpers for generated code whose type errors should land on the user's tokens.

use proc_macro2::{Delimiter, Group, Ident, Literal, TokenStream, TokenTree};
use quote::{ToTokens, quote};

/// `(ident,).0`: the value of `ident`, as an expression whose span runs from the first
/// to the last token of `covered`. On stable Rust a proc macro cannot join spans, but
/// rustc computes an expression's span from its first and last tokens, so a type error
/// about this value underlines all of `covered` (a whole return type, say).
pub(crate) fn covering(ident: &Ident, covered: impl ToTokens) -> TokenStream {
    let tokens: Vec<TokenTree> = covered.into_token_stream().into_iter().collect();
    let first = tokens.first().map_or_else(|| ident.span(), TokenTree::span);
    let last = tokens.last().map_or(first, TokenTree::span);
    let mut tuple = Group::new(Delimiter::Parenthesis, quote!(#ident,));
    tuple.set_span(first);
    let mut field = Literal::usize_unsuffixed(0);
    field.set_span(last);
    quote!(#tuple.#field)
}
