//! `#[web_socket]` code generation: the handler as written (body rewritten), a hidden
//! same-named struct and its `RouteDef` impl, which builds the `Route`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{Args, Handler, Kind};
use crate::diag::Errors;
use crate::paths::Paths;

/// The whole output. With errors: the function, the errors, and a stub route item (so
/// `routing!(app, handler)` elsewhere adds no errors of its own).
pub(crate) fn generate(handler: &Handler, args: &Args, kind: Kind, errors: &Errors) -> TokenStream {
    let func = &handler.func;
    if handler.has_receiver {
        // In an `impl` block no struct can be added.
        let errors = errors.to_compile_errors();
        return quote!(#errors #func);
    }
    let paths = &args.paths;
    let route = match (&args.path, errors.is_empty()) {
        (Some(path), true) => Some(route_body(handler, &path.lit, args, kind, paths)),
        _ => None,
    };
    let route_ty = paths.route(Span::call_site());
    route_item(func, kind.attr(), errors, route, route_ty, paths)
}

/// The handler as written and, beside it, the hidden unit struct named after it whose
/// `RouteDef` impl returns `route` (of type `route_ty`; `unreachable!()` where there
/// were errors, which come first). Every route attribute ends with it.
pub(crate) fn route_item(
    func: &syn::ItemFn,
    attr: &str,
    errors: &Errors,
    route: Option<TokenStream>,
    route_ty: TokenStream,
    paths: &Paths,
) -> TokenStream {
    let name = &func.sig.ident;
    let vis = &func.vis;
    let cfgs: Vec<_> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg"))
        .collect();
    let route = route.unwrap_or_else(|| quote!(::core::unreachable!()));
    let errors = errors.to_compile_errors();
    let route_def = paths.route_def(Span::call_site());
    let doc = format!("The route of the `{attr}` handler `{name}` (see `routing!`).");
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
        impl #route_def for #name {
            type Route = #route_ty;
            fn route() -> #route_ty {
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
    args: &Args,
    kind: Kind,
    paths: &Paths,
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
        let handler_param = paths.handler_param(at_ty);
        let startup_check = paths.startup_check(at_ty);
        checks.push(quote_spanned! {at_ty=>
            <#ty as #handler_param>::startup_check as #startup_check
        });
        early.push(quote_spanned! {at_ty=>
            let #e = <#ty as #handler_param>::from_handshake(#req)?;
        });
        complete.push(quote_spanned! {at_ty=>
            let #a = <#ty as #handler_param>::from_session(#e, &mut #parts);
        });
        call_args.push(a);
    }
    // The returned value is named at the return type, so an unsupported return type
    // (`IntoHandlerResult`'s on_unimplemented) is reported there.
    // (A user span, like the call's: rustc moves an argument whose span comes from
    // another context than its call to the macro's call site.)
    let returned = format_ident!("__ws_returned", span = handler.return_span);
    let call = quote_spanned!(name.span()=> #name(#(#call_args),*));
    let returned_value = match &handler.func.sig.output {
        syn::ReturnType::Type(_, ty) => crate::spans::covering(&returned, ty),
        syn::ReturnType::Default => quote!(#returned),
    };
    let into_handler_result = paths.handler_result(handler.return_span);
    let result = quote_spanned!(handler.return_span=> #into_handler_result(#returned_value));
    // The call's future and a closure for its output, boxed together: an `async`
    // block around the call would hold the arguments twice (see `box_handler`).
    let box_handler = paths.box_handler(name.span());
    let future = quote_spanned! {name.span()=>
        #box_handler(#call, |#returned| #result)
    };
    let location = quote_spanned! {name.span()=>
        ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!())
    };
    let protocol = args.protocol.as_ref().map(|p| quote!(.protocol(#p)));
    // Spanned on the guard as written: a value that is not a guard is reported there
    // (`Guard`'s on_unimplemented).
    let guard = args
        .guard
        .as_ref()
        .map(|g| quote_spanned!(g.span()=> .guard(#g)));
    let raw = (kind == Kind::Raw).then(|| quote!(.raw(true)));
    let parts_binding = if handler.params.is_empty() {
        quote!(#parts)
    } else {
        quote!(mut #parts)
    };
    let at = Span::call_site();
    let (route, vec, handshake_request) =
        (paths.route(at), paths.vec(at), paths.handshake_request(at));
    let (result, session_start, rejection) = (
        paths.result(at),
        paths.session_start(at),
        paths.rejection(at),
    );
    let (ok, boxed, session_parts) = (paths.ok(at), paths.boxed(at), paths.session_parts(at));
    quote! {
        #route::from_parts(
            #path,
            #name_str,
            #location,
            #vec::from([#(#checks),*]),
            move |#req: &#handshake_request<'_>| -> #result<#session_start, #rejection> {
                #(#early)*
                #ok(#boxed::new(move |#parts_binding: #session_parts| {
                    #(#complete)*
                    #future
                }) as #session_start)
            },
        )
        #protocol
        #raw
        #guard
    }
}
