//! `install!` code generation: exactly the public `WebSocketOptions` builder calls.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};

use super::parse::{DeflateOptions, Extension, Install, Origins, Overflow, Setting};

/// `{ app.install(::ws::WebSocketOptions::new().key(value)...); }`
pub(crate) fn generate(install: &Install) -> TokenStream {
    let app = &install.app;
    let o = &install.options;
    let mut calls = Vec::new();
    setter(&mut calls, &o.ping_period);
    setter(&mut calls, &o.timeout);
    setter(&mut calls, &o.max_frame_size);
    setter(&mut calls, &o.masking);
    setter(&mut calls, &o.max_message_size);
    setter(&mut calls, &o.outgoing_capacity);
    if let Some(Setting { key, value, .. }) = &o.outgoing_overflow {
        let value = match value {
            Overflow::Variant(variant) => {
                quote_spanned!(variant.span()=> ::ws::ChannelOverflow::#variant)
            }
            Overflow::Expr(expr) => expr.to_token_stream(),
        };
        calls.push(quote_spanned!(key.span()=> .#key(#value)));
    }
    setter(&mut calls, &o.incoming_capacity);
    setter(&mut calls, &o.handshake_timeout);
    if let Some(Setting { key, value, .. }) = &o.allowed_origins {
        let value = match value {
            // `[""; 0]` keeps an empty list typed.
            Origins::List(list) if list.is_empty() => quote!([""; 0]),
            Origins::List(list) => quote!([#(#list),*]),
            Origins::Expr(expr) => expr.to_token_stream(),
        };
        calls.push(quote_spanned!(key.span()=> .#key(#value)));
    }
    setter(&mut calls, &o.read_buffer_size);
    setter(&mut calls, &o.write_buffer_size);
    setter(&mut calls, &o.content_converter);
    if let Some(Setting { key, value, .. }) = &o.extensions {
        for extension in value {
            let factory = match extension {
                Extension::Deflate { name, options } => deflate(name, options),
                Extension::User { ty, calls } => {
                    let calls = calls
                        .iter()
                        .map(|(k, v)| quote_spanned!(k.span()=> .#k(#v)));
                    let ty_span = syn::spanned::Spanned::span(ty);
                    quote_spanned! {ty_span=>
                        ::ws::__private::user_extension(<#ty as ::core::default::Default>::default() #(#calls)*)
                    }
                }
            };
            calls.push(quote_spanned!(key.span()=> .extension(#factory)));
        }
    }
    quote! {
        {
            #app.install(::ws::WebSocketOptions::new() #(#calls)*);
        }
    }
}

fn setter<T: ToTokens>(calls: &mut Vec<TokenStream>, setting: &Option<Setting<T>>) {
    if let Some(Setting { key, value, .. }) = setting {
        calls.push(quote_spanned!(key.span()=> .#key(#value)));
    }
}

fn deflate(name: &syn::Ident, o: &DeflateOptions) -> TokenStream {
    let mut calls = Vec::new();
    setter(&mut calls, &o.compression_level);
    setter(&mut calls, &o.compress_if_bigger_than);
    setter(&mut calls, &o.compress_if);
    setter(&mut calls, &o.server_no_context_takeover);
    setter(&mut calls, &o.client_no_context_takeover);
    setter(&mut calls, &o.server_max_window_bits);
    setter(&mut calls, &o.client_max_window_bits);
    setter(&mut calls, &o.max_compressors);
    quote_spanned!(name.span()=> ::ws::extension::Deflate::new() #(#calls)*)
}
