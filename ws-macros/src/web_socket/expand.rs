//! `#[web_socket]` code generation: the handler as written (body rewritten), a hidden
//! same-named struct and its `RouteDef` impl, which builds the `Route`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{Args, Handler, Kind};
use crate::diag::Errors;

/// The whole output. With errors: the function, the errors, and a stub route item (so
/// `routing!(app, handler)` elsewhere adds no errors of its own).
pub(crate) fn generate(handler: &Handler, args: &Args, kind: Kind, errors: &Errors) -> TokenStream {
    let func = &handler.func;
    if handler.has_receiver {
        // In an `impl` block no struct can be added.
        let errors = errors.to_compile_errors();
        return quote!(#errors #func);
    }
    let name = &func.sig.ident;
    let vis = &func.vis;
    let cfgs: Vec<_> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let route = match (&args.path, errors.is_empty()) {
        (Some(path), true) => route_body(handler, &path.lit, args.protocol.as_ref(), kind),
        _ => quote!(::core::unreachable!()),
    };
    let errors = errors.to_compile_errors();
    let doc = format!(
        "The route of the `{}` handler `{name}` (see `routing!`).",
        kind.attr()
    );
    quote! {
        #errors
        #func

        #(#cfgs)*
        #[doc = #doc]
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, unreachable_pub)]
        #vis struct #name {}

        #(#cfgs)*
        #[allow(deprecated, clippy::all)]
        impl ::ws::__private::RouteDef for #name {
            fn route() -> ::ws::Route {
                #route
            }
        }
    }
}

/// `Route::from_parts(...)`: extractors run on the handshake, then on the session, then
/// the handler is called and its result converted.
fn route_body(
    handler: &Handler,
    path: &syn::LitStr,
    protocol: Option<&syn::LitStr>,
    kind: Kind,
) -> TokenStream {
    let name = &handler.func.sig.ident;
    let name_str = syn::ext::IdentExt::unraw(name).to_string();
    let hidden = Span::mixed_site();
    let req = format_ident!("__ws_req", span = hidden);
    let parts = format_ident!("__ws_parts", span = hidden);

    let mut checks = Vec::new();
    let mut early = Vec::new();
    let mut complete = Vec::new();
    let mut call_args = Vec::new();
    for (i, param) in handler.params.iter().enumerate() {
        let ty = &param.ty;
        // Every use of the extractor trait sits on the parameter's type, so an
        // unsupported type is reported there (`HandlerParam`'s on_unimplemented).
        let at_ty = ty.span();
        let e = format_ident!("__ws_e{}", i, span = hidden);
        let a = format_ident!("__ws_a{}", i, span = hidden);
        checks.push(quote_spanned! {at_ty=>
            <#ty as ::ws::__private::HandlerParam>::startup_check as ::ws::__private::StartupCheck
        });
        early.push(quote_spanned! {at_ty=>
            let #e = <#ty as ::ws::__private::HandlerParam>::from_handshake(#req)?;
        });
        complete.push(quote_spanned! {at_ty=>
            let #a = <#ty as ::ws::__private::HandlerParam>::from_session(#e, &mut #parts);
        });
        call_args.push(a);
    }
    // The returned value is named at the return type, so an unsupported return type
    // (`IntoHandlerResult`'s on_unimplemented) is reported there.
    // (A user span, like the call's: rustc moves an argument whose span comes from
    // another context than its call to the macro's call site.)
    let returned = format_ident!("__ws_returned", span = handler.return_span);
    let call = quote_spanned!(name.span()=> #name(#(#call_args),*).await);
    let returned_value = match &handler.func.sig.output {
        syn::ReturnType::Type(_, ty) => crate::spans::covering(&returned, ty),
        syn::ReturnType::Default => quote!(#returned),
    };
    let result =
        quote_spanned!(handler.return_span=> ::ws::__private::into_handler_result(#returned_value));
    let future = quote_spanned! {name.span()=>
        ::ws::__private::Box::pin(async move {
            let #returned = #call;
            #result
        }) as ::ws::__private::BoxHandlerFuture
    };
    let location = quote_spanned! {name.span()=>
        ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!())
    };
    let protocol = protocol.map(|p| quote!(.protocol(#p)));
    let raw = (kind == Kind::Raw).then(|| quote!(.raw(true)));
    let parts_binding = if handler.params.is_empty() {
        quote!(#parts)
    } else {
        quote!(mut #parts)
    };
    quote! {
        ::ws::Route::from_parts(
            #path,
            #name_str,
            #location,
            ::ws::__private::Vec::from([#(#checks),*]),
            move |#req: &::ws::__private::HandshakeRequest<'_>| -> ::ws::__private::Result<::ws::__private::SessionStart, ::ws::__private::Rejection> {
                #(#early)*
                ::ws::__private::Ok(::ws::__private::Box::new(move |#parts_binding: ::ws::__private::SessionParts| {
                    #(#complete)*
                    #future
                }) as ::ws::__private::SessionStart)
            },
        )
        #protocol
        #raw
    }
}
