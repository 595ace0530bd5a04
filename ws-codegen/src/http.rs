//! `#[get("/rooms")]`, `#[post("/rooms")]`, `#[put]`, `#[patch]`, `#[delete]`: plain
//! HTTP handlers with extractors, routed by `routing!` beside the WebSocket handlers.
//!
//! The arguments are a `#[web_socket]`'s without `protocol`: the path (checked with
//! the same grammar), `guard = ...`, `crate = ...`. The handler is an `async fn` whose
//! parameters are HTTP extractors (`HttpParam`: `Path<T>`, `Query<T>`, `State<T>`,
//! `Json<T>`, ...) and whose return value is a response (`IntoHttpResponse`). The
//! expansion is the function as written, a hidden same-named struct and its
//! `RouteDef` impl building the `HttpRoute`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, ItemFn, LitStr, Type};

use crate::diag::{Errors, unknown_key};
use crate::paths::{self, Paths};
use crate::web_socket::expand::route_item;
use crate::web_socket::parse::{
    RoutePath, check_path_extractor, check_signature, last_segment, path_and_options,
};
use crate::web_socket::{RouteSummary, guard_text};

/// The HTTP attributes, by method.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HttpMethod {
    /// `#[get]`.
    Get,
    /// `#[post]`.
    Post,
    /// `#[put]`.
    Put,
    /// `#[patch]`.
    Patch,
    /// `#[delete]`.
    Delete,
}

impl HttpMethod {
    /// The macro's name (`get`).
    pub fn name(self) -> &'static str {
        match self {
            HttpMethod::Get => "get",
            HttpMethod::Post => "post",
            HttpMethod::Put => "put",
            HttpMethod::Patch => "patch",
            HttpMethod::Delete => "delete",
        }
    }

    /// The method's constant of `http::Method` (`GET`).
    pub fn constant(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }

    fn attr(self) -> String {
        format!("#[{}]", self.name())
    }
}

struct Args {
    path: Option<RoutePath>,
    guard: Option<Expr>,
    paths: Paths,
}

fn args(tokens: TokenStream, method: HttpMethod, errors: &mut Errors) -> Args {
    let attr = method.attr();
    let example = format!("#[{}(\"/rooms\")]", method.name());
    let mut out = Args {
        path: None,
        guard: None,
        paths: Paths::default(),
    };
    let Some((path, named)) = path_and_options(tokens, &attr, &example, errors) else {
        return out;
    };
    out.path = path;
    let mut root: Option<syn::Path> = None;
    for (key, value) in named {
        let name = key.to_string();
        match name.as_str() {
            "crate" if root.is_some() => errors.at(key.span(), "duplicate option `crate`: keep one"),
            "crate" => match paths::crate_path(&value) {
                Ok(path) => root = Some(path),
                Err(e) => errors.push(e),
            },
            "guard" if out.guard.is_some() => errors.at(
                key.span(),
                "duplicate option `guard`: a route takes one here; run several checks in one guard, or put routes in `routing!(app, authenticate(guard) { .. })`",
            ),
            "guard" => {
                if let Expr::Lit(lit) = &value {
                    errors.spanned(
                        lit,
                        "`guard` expects a guard, such as the name of an `async fn(&HandshakeRequest<'_>) -> Result<P, Rejection>`, not a literal",
                    );
                } else {
                    out.guard = Some(value);
                }
            }
            "protocol" => errors.at(
                key.span(),
                format!("`{attr}` is a plain HTTP route: a subprotocol (`protocol = ...`) is for `#[web_socket]` routes"),
            ),
            "path" => errors.at(
                key.span(),
                format!("the path comes first, without a key: `{example}`"),
            ),
            other => errors.at(key.span(), unknown_key("option", other, &["guard"], &[])),
        }
    }
    out.paths = Paths::new(root);
    out
}

/// What a parameter is, as far as its type's name says.
fn session_type(ty: &Type) -> Option<&'static str> {
    match last_segment(ty)?.ident.to_string().as_str() {
        "WebSocketSession" => Some("WebSocketSession"),
        "Incoming" => Some("Incoming"),
        "Outgoing" => Some("Outgoing"),
        _ => None,
    }
}

fn is_body(ty: &Type) -> bool {
    last_segment(ty)
        .is_some_and(|s| matches!(s.ident.to_string().as_str(), "Json" | "Bytes" | "String"))
}

fn is_path(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| {
        s.ident == "Path" && matches!(s.arguments, syn::PathArguments::AngleBracketed(_))
    })
}

/// Reads an attribute's arguments (`"/rooms", guard = auth`) as the attribute does; the
/// errors it would report, if any. An HTTP route has no subprotocol and is not raw.
pub fn describe(tokens: TokenStream, method: HttpMethod) -> Result<RouteSummary, Vec<String>> {
    let mut errors = Errors::new();
    let parsed = args(tokens, method, &mut errors);
    if !errors.is_empty() {
        return Err(errors.messages());
    }
    let Some(path) = parsed.path else {
        return Err(vec![format!("`{}` needs the route path", method.attr())]);
    };
    Ok(RouteSummary {
        path: path.lit.value(),
        protocol: None,
        guard: parsed.guard.as_ref().map(guard_text),
        raw: false,
    })
}

/// Expands one HTTP attribute.
pub fn expand(args_tokens: TokenStream, item: TokenStream, method: HttpMethod) -> TokenStream {
    let mut errors = Errors::new();
    let attr = method.attr();
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            errors.at(
                Span::call_site(),
                format!("`{attr}` applies to an `async fn` handler"),
            );
            let errors = errors.to_compile_errors();
            return quote!(#errors #item);
        }
    };
    let args = args(args_tokens, method, &mut errors);
    let sig = &func.sig;
    check_signature(sig, &attr, &mut errors);
    let mut has_receiver = false;
    let mut params: Vec<Type> = Vec::new();
    let mut body: Option<Span> = None;
    for input in &sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                has_receiver = true;
                errors.spanned(
                    receiver,
                    format!("a `{attr}` handler cannot take `self`: it is a free function; move it out of the `impl` block"),
                );
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        let ty = &*typed.ty;
        if let Type::Reference(reference) = ty {
            errors.spanned(
                reference,
                format!(
                    "a handler parameter cannot be a reference: take the extractor by value, e.g. `{}`",
                    crate::diag::written_type(&reference.elem)
                ),
            );
            continue;
        }
        if let Type::ImplTrait(_) | Type::TraitObject(_) = ty {
            errors.spanned(ty, format!("{} is not a handler parameter: the parameters are extractors, `Path<T>`, `Query<T>`, `Headers`, `State<T>`, `RemoteAddr`, `Json<T>`, ...", crate::web_socket::parse::trait_type(ty)));
            continue;
        }
        if let Some(name) = session_type(ty) {
            errors.spanned(
                ty,
                format!("`{name}` is not available in an HTTP handler: a `{attr}` route answers one request; take a WebSocket session in a `#[web_socket]` handler"),
            );
            continue;
        }
        if is_body(ty) {
            if body.is_some() {
                errors.spanned(
                    ty,
                    "the request body is taken twice: an HTTP handler takes one of `Json<T>`, `Bytes` or `String`",
                );
                continue;
            }
            body = Some(ty.span());
        }
        if is_path(ty)
            && let Some(path) = &args.path
        {
            check_path_extractor(ty, path, &mut errors);
        }
        params.push(ty.clone());
    }
    let return_span = match &sig.output {
        syn::ReturnType::Default => {
            errors.at(
                sig.ident.span(),
                format!("a `{attr}` handler returns its response: add `-> HttpResponse` (or `Json<T>`, `String`, `StatusCode`, a `Result` of them)"),
            );
            sig.ident.span()
        }
        syn::ReturnType::Type(_, ty) => ty.span(),
    };

    if has_receiver {
        let errors = errors.to_compile_errors();
        return quote!(#errors #func);
    }
    let name = &func.sig.ident;
    let paths = &args.paths;
    let route = match (&args.path, errors.is_empty()) {
        (Some(path), true) => Some(route_body(
            name,
            &params,
            return_span,
            &path.lit,
            &args,
            method,
            paths,
        )),
        _ => None,
    };
    let route_ty = paths.http_route(Span::call_site());
    let output = route_item(&func, &attr, &errors, route, route_ty, paths);
    crate::debug::print(method.name(), &name.to_string(), &output);
    output
}

/// `HttpRoute::from_parts(...)`: each extractor on the request (a refusal is the
/// answer), then the handler, its value converted to a response.
fn route_body(
    name: &syn::Ident,
    params: &[Type],
    return_span: Span,
    path: &LitStr,
    args: &Args,
    method: HttpMethod,
    paths: &Paths,
) -> TokenStream {
    let name_str = syn::ext::IdentExt::unraw(name).to_string();
    let hidden = Span::mixed_site();
    let call = format_ident!("__ws_call", span = hidden);
    let req = format_ident!("__ws_req", span = hidden);
    let mut checks = Vec::new();
    let mut extract = Vec::new();
    let mut call_args = Vec::new();
    for (i, ty) in params.iter().enumerate() {
        let at_ty = ty.span();
        let a = format_ident!("__ws_a{}", i, span = hidden);
        let http_param = paths.http_param(at_ty);
        let startup_check = paths.startup_check(at_ty);
        let (ok, err, rejected) = (
            paths.ok(at_ty),
            quote_spanned!(at_ty=> ::core::result::Result::Err),
            paths.rejected(at_ty),
        );
        checks.push(quote_spanned! {at_ty=>
            <#ty as #http_param>::startup_check as #startup_check
        });
        extract.push(quote_spanned! {at_ty=>
            let #a = match <#ty as #http_param>::from_request(&#req, #call.body()) {
                #ok(value) => value,
                #err(rejection) => return #rejected(rejection),
            };
        });
        call_args.push(a);
    }
    let returned = format_ident!("__ws_returned", span = return_span);
    let into_http_response = paths.http_response_fn(return_span);
    let result = quote_spanned!(return_span=> #into_http_response(#returned));
    let invoke = quote_spanned!(name.span()=> #name(#(#call_args),*).await);
    let location = quote_spanned! {name.span()=>
        ::core::concat!(::core::file!(), ":", ::core::line!(), ":", ::core::column!())
    };
    let guard = args
        .guard
        .as_ref()
        .map(|g| quote_spanned!(g.span()=> .guard(#g)));
    let at = Span::call_site();
    let (route, vec, arc, boxed) = (
        paths.http_route(at),
        paths.vec(at),
        paths.arc(at),
        paths.boxed(at),
    );
    let (http_call, http_handler, http_future) = (
        paths.http_call(at),
        paths.http_handler(at),
        paths.http_future(at),
    );
    let method_path = paths.http_method(at);
    let constant = syn::Ident::new(method.constant(), at);
    quote! {
        #route::from_parts(
            #method_path::#constant,
            #path,
            #name_str,
            #location,
            #vec::from([#(#checks),*]),
            #arc::new(move |#call: #http_call| -> #http_future {
                let #req = #call.request();
                #(#extract)*
                #boxed::pin(async move {
                    let #returned = #invoke;
                    #result
                })
            }) as #http_handler,
        )
        #guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: &str, item: &str) -> String {
        expand(
            args.parse().expect("lexes"),
            item.parse().expect("lexes"),
            HttpMethod::Get,
        )
        .to_string()
    }

    #[test]
    fn describes_a_route_as_the_attribute_reads_it() {
        let route = describe(
            "\"/rooms/{name}\", guard = auth::check".parse().unwrap(),
            HttpMethod::Post,
        )
        .expect("a valid route");
        assert_eq!(
            route,
            RouteSummary {
                path: "/rooms/{name}".into(),
                protocol: None,
                guard: Some("auth::check".into()),
                raw: false,
            }
        );
        let errors = describe("\"/a\", protocol = \"x\"".parse().unwrap(), HttpMethod::Get)
            .expect_err("a subprotocol on an HTTP route");
        assert!(
            errors.iter().any(|e| e.contains("plain HTTP route")),
            "{errors:?}"
        );
        let errors = describe(TokenStream::new(), HttpMethod::Delete).expect_err("no path");
        assert!(errors.iter().any(|e| e.contains("#[delete]")), "{errors:?}");
    }

    #[test]
    fn malformed_input_is_reported_never_panics() {
        let handler = "async fn h() -> HttpResponse { todo!() }";
        for args in [
            "",
            "42",
            "\"/a\", protocol = \"x\"",
            "\"/a\", path = \"/b\"",
            "\"/a\", \"/b\"",
            "\"/{\"",
            "\"/a\", guard = 1",
            "\"/a\", nope = 1",
        ] {
            let out = expand_str(args, handler);
            assert!(
                out.contains("compile_error"),
                "`{args}` gave no error: {out}"
            );
            assert!(
                out.contains("async fn h"),
                "`{args}` dropped the function: {out}"
            );
        }
        for item in [
            "struct S;",
            "fn h() -> HttpResponse { todo!() }",
            "async fn h() {}",
            "async fn h(session: WebSocketSession) -> HttpResponse { todo!() }",
            "async fn h(a: Json<A>, b: String) -> HttpResponse { todo!() }",
            "async fn h(a: &State<A>) -> HttpResponse { todo!() }",
            "async fn h<T>() -> HttpResponse { todo!() }",
            "async fn h(Path(x): Path<u32>) -> HttpResponse { todo!() }",
            "async fn h(self) -> HttpResponse { todo!() }",
        ] {
            let out = expand_str("\"/a\"", item);
            assert!(
                out.contains("compile_error"),
                "`{item}` gave no error: {out}"
            );
        }
        // A trait object parameter, with or without `dyn` (`State<A> +` parses as one),
        // is refused on its type, as `impl Trait` is.
        for item in [
            "async fn h(a: State<A> +) -> HttpResponse { todo!() }",
            "async fn h(a: dyn Send) -> HttpResponse { todo!() }",
        ] {
            let out = expand_str("\"/a\"", item);
            assert!(
                out.contains("a trait object is not a handler parameter"),
                "`{item}`: {out}"
            );
        }
    }

    #[test]
    fn a_valid_handler_expands_without_errors() {
        let out = expand_str(
            "\"/rooms/{room}\", guard = auth",
            "pub async fn r#room(Path(room): Path<String>, rooms: State<Rooms>, Json(body): Json<Msg>) -> Json<Reply> { todo!() }",
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("Method :: GET"), "{out}");
        assert!(out.contains("\"room\""), "{out}");
        assert!(out.contains(". guard (auth)"), "{out}");
    }
}
