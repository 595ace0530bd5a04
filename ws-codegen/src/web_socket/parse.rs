//! `#[web_socket]` / `#[web_socket_raw]`: the attribute's arguments and the handler's
//! signature, read into a checked model that keeps every span.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{
    Expr, FnArg, GenericArgument, Ident, ItemFn, Lit, LitStr, PathArguments, ReturnType, Token,
    Type,
};

use super::rewrite;
use crate::diag::{Errors, unknown_key};
use crate::paths::{self, Paths};

/// Which attribute is expanding.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `#[web_socket]`: control frames are answered by the session.
    Normal,
    /// `#[web_socket_raw]`: every frame reaches the handler (Ktor's `webSocketRaw`).
    Raw,
}

impl Kind {
    /// The attribute as users write it.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Normal => "#[web_socket]",
            Kind::Raw => "#[web_socket_raw]",
        }
    }

    /// The macro's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Normal => "web_socket",
            Kind::Raw => "web_socket_raw",
        }
    }
}

/// The checked route path literal.
pub(crate) struct RoutePath {
    /// The literal as written (its span carries errors and the generated path).
    pub(crate) lit: LitStr,
    /// The `{name}` parameters, in order.
    pub(crate) params: Vec<String>,
}

/// The attribute's arguments.
pub(crate) struct Args {
    /// The route path; `None` when it is missing or not a string.
    pub(crate) path: Option<RoutePath>,
    /// The required subprotocol.
    pub(crate) protocol: Option<LitStr>,
    /// The route's guard (`guard = auth`), as written.
    pub(crate) guard: Option<Expr>,
    /// Where the generated code finds `ws` (`crate = my_ws`; `::ws` without it).
    pub(crate) paths: Paths,
}

/// What a parameter's type says about it, as far as the syntax tells.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Session,
    Incoming,
    Path,
    Other,
}

/// One handler parameter: only its type matters to the route.
pub(crate) struct Param {
    /// The declared type, used as the extractor.
    pub(crate) ty: Type,
}

/// A handler, read and checked.
pub(crate) struct Handler {
    /// The user's function, its body rewritten (`for ... in incoming`).
    pub(crate) func: ItemFn,
    /// The parameters, in order.
    pub(crate) params: Vec<Param>,
    /// Where the return type is written (the `IntoHandlerResult` check goes there).
    pub(crate) return_span: Span,
    /// Whether the function has a `self` receiver (then no route item can be added:
    /// the function sits in an `impl` block).
    pub(crate) has_receiver: bool,
}

/// The attribute input, before checking.
pub(crate) struct RawArgs {
    pub(crate) positional: Vec<Expr>,
    pub(crate) named: NamedArgs,
}

/// An attribute's `key = value` options, in order.
pub(crate) type NamedArgs = Vec<(Ident, Expr)>;

impl Parse for RawArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut positional = Vec::new();
        let mut named = Vec::new();
        while !input.is_empty() {
            if (input.peek(Ident) || input.peek(Token![crate]))
                && input.peek2(Token![=])
                && !input.peek2(Token![==])
            {
                let key = Ident::parse_any(input)?;
                input.parse::<Token![=]>()?;
                named.push((key, input.parse()?));
            } else {
                positional.push(input.parse()?);
            }
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(Self { positional, named })
    }
}

/// Reads the attribute's arguments; every problem goes to `errors`.
pub(crate) fn args(tokens: TokenStream, kind: Kind, errors: &mut Errors) -> Args {
    let attr = kind.attr();
    let example = format!("#[{}(\"/chat\")]", kind.name());
    let Some((path, named)) = path_and_options(tokens, attr, &example, errors) else {
        return Args {
            path: None,
            protocol: None,
            guard: None,
            paths: Paths::default(),
        };
    };
    let accepted: &[&str] = match kind {
        Kind::Normal => &["protocol", "guard"],
        Kind::Raw => &["guard"],
    };
    let mut protocol: Option<LitStr> = None;
    let mut guard: Option<Expr> = None;
    let mut root: Option<syn::Path> = None;
    for (key, value) in named {
        let name = key.to_string();
        if name == "crate" {
            if root.is_some() {
                errors.at(key.span(), "duplicate option `crate`: keep one");
                continue;
            }
            match paths::crate_path(&value) {
                Ok(path) => root = Some(path),
                Err(e) => errors.push(e),
            }
            continue;
        }
        if name == "protocol" && kind == Kind::Raw {
            errors.at(
                key.span(),
                "`#[web_socket_raw]` takes only a path: subprotocol negotiation (`protocol = ...`) is for `#[web_socket]` routes",
            );
            continue;
        }
        if !accepted.contains(&name.as_str()) {
            let message = if name == "path" {
                format!("the path comes first, without a key: `{example}`")
            } else {
                unknown_key(
                    "option",
                    &name,
                    accepted,
                    &[("subprotocol", "protocol"), ("protocols", "protocol")],
                )
            };
            errors.at(key.span(), message);
            continue;
        }
        if name == "guard" {
            if guard.is_some() {
                errors.at(
                    key.span(),
                    "duplicate option `guard`: a route takes one here; run several checks in one guard, or put routes in `routing!(app, authenticate(guard) { .. })`",
                );
                continue;
            }
            if let Expr::Lit(lit) = &value {
                errors.spanned(
                    lit,
                    "`guard` expects a guard, such as the name of an `async fn(&HandshakeRequest<'_>) -> Result<P, Rejection>`, not a literal",
                );
                continue;
            }
            guard = Some(value);
            continue;
        }
        // The other key: `protocol`.
        if let Some(first) = &protocol {
            errors.at(
                key.span(),
                format!(
                    "duplicate option `protocol`: it is already `{}`; a route has one subprotocol",
                    first.value()
                ),
            );
            continue;
        }
        match value {
            Expr::Lit(syn::ExprLit { lit: Lit::Str(lit), .. }) => {
                if check_protocol(&lit, errors) {
                    protocol = Some(lit);
                }
            }
            other => errors.spanned(&other, "`protocol` expects the subprotocol as a string literal, e.g. `protocol = \"chat.v1\"`"),
        }
    }
    Args {
        path,
        protocol,
        guard,
        paths: Paths::new(root),
    }
}

/// A subprotocol is an HTTP token (RFC 6455 §4.1, RFC 7230 §3.2.6).
fn check_protocol(lit: &LitStr, errors: &mut Errors) -> bool {
    let value = lit.value();
    let bad = value
        .chars()
        .find(|c| !c.is_ascii_graphic() || "()<>@,;:\\\"/[]?={}".contains(*c));
    if value.is_empty() {
        errors.at(
            lit.span(),
            "the subprotocol is empty: expected a name such as `\"chat.v1\"`",
        );
        false
    } else if let Some(c) = bad {
        errors.at(
            lit.span(),
            format!("invalid subprotocol `{value}`: {c:?} is not allowed; a subprotocol is an HTTP token of letters, digits and ! # $ % & ' * + - . ^ _ ` | ~"),
        );
        false
    } else {
        true
    }
}

/// Checks a route path literal with the grammar shared with the runtime
/// (`ws_dsl::path`): every problem is an error on the literal.
/// The start every route attribute shares (`#[web_socket]`, `#[get]`, ..): the
/// arguments parsed, the route path (a string literal, first) checked, any other
/// positional argument refused. Returns the path (`None` if missing or not a literal:
/// reported) and the `key = value` options; `None` if there are no arguments or they do
/// not parse (reported). `example` is the attribute written out, for the messages.
pub(crate) fn path_and_options(
    tokens: TokenStream,
    attr: &str,
    example: &str,
    errors: &mut Errors,
) -> Option<(Option<RoutePath>, NamedArgs)> {
    if tokens.is_empty() {
        errors.at(
            Span::call_site(),
            format!("`{attr}` needs the route path: `{example}`"),
        );
        return None;
    }
    let raw: RawArgs = match syn::parse2(tokens) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!("{e}: `{attr}` takes the route path as a string, e.g. `{example}`"),
            ));
            return None;
        }
    };
    let mut path = None;
    let mut positional = raw.positional.into_iter();
    match positional.next() {
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(lit), ..
        })) => path = Some(route_path(lit, errors)),
        Some(other) => errors.spanned(
            &other,
            format!(
                "the route path must be a string literal, checked at compile time: `{example}`"
            ),
        ),
        None => errors.at(
            Span::call_site(),
            format!("`{attr}` needs the route path first: `{example}`"),
        ),
    }
    for extra in positional {
        errors.spanned(
            &extra,
            format!("unexpected argument: `{attr}` takes one path, then `key = value` options"),
        );
    }
    Some((path, raw.named))
}

pub(crate) fn route_path(lit: LitStr, errors: &mut Errors) -> RoutePath {
    let path = lit.value();
    let scanned = ws_dsl::path::scan(&path);
    for problem in &scanned.problems {
        errors.at(lit.span(), problem.message(&path));
    }
    let params = scanned.param_names().map(str::to_string).collect();
    RoutePath { lit, params }
}

/// How a parameter type that names a trait is called in an error: `impl Trait`, or a
/// trait object (`dyn Trait`, or one written without `dyn`, as `Session +` parses: the
/// expansion's `<Session + as ..>` would be no Rust; fuzz finding
/// `macros/trait-object-parameter`).
pub(crate) fn trait_type(ty: &Type) -> &'static str {
    match ty {
        Type::ImplTrait(_) => "`impl Trait`",
        _ => "a trait object",
    }
}

/// The last segment of a type path: `ws::WebSocketSession` → `WebSocketSession`.
pub(crate) fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        Type::Group(g) => last_segment(&g.elem),
        Type::Paren(p) => last_segment(&p.elem),
        _ => None,
    }
}

fn role(ty: &Type) -> Role {
    match last_segment(ty) {
        Some(seg) if seg.ident == "WebSocketSession" => Role::Session,
        Some(seg) if seg.ident == "Incoming" => Role::Incoming,
        Some(seg)
            if seg.ident == "Path" && matches!(seg.arguments, PathArguments::AngleBracketed(_)) =>
        {
            Role::Path
        }
        _ => Role::Other,
    }
}

/// The first type argument of `Name<T, ...>`.
fn first_type_arg(segment: &syn::PathSegment) -> Option<&Type> {
    match &segment.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

/// What every handler attribute (`#[web_socket]`, `#[web_socket_raw]`, `#[get]`, ...)
/// refuses in a signature: `const`, `unsafe`, an ABI, a missing `async`, generics, a
/// `where` clause, varargs.
pub(crate) fn check_signature(sig: &syn::Signature, attr: &str, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.at(
            constness.span,
            format!("a `{attr}` handler cannot be a `const fn`"),
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.at(
            unsafety.span,
            format!("a `{attr}` handler cannot be `unsafe`: the route calls it"),
        );
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(
            abi,
            format!("a `{attr}` handler cannot have an `extern` ABI"),
        );
    }
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!(
                "a `{attr}` handler must be an `async fn`: write `async fn {}(...)`",
                sig.ident
            ),
        );
    }
    if !sig.generics.params.is_empty() {
        errors.spanned(
            &sig.generics,
            format!("a `{attr}` handler cannot be generic: the route needs concrete parameter types (extractors) and one function to call"),
        );
    } else if let Some(where_clause) = &sig.generics.where_clause {
        errors.spanned(
            where_clause,
            format!("a `{attr}` handler cannot have a `where` clause"),
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.spanned(variadic, format!("a `{attr}` handler cannot be variadic"));
    }
}

/// Reads and checks the handler; the body's `for ... in incoming` loops are rewritten.
pub(crate) fn handler(mut func: ItemFn, kind: Kind, args: &Args, errors: &mut Errors) -> Handler {
    let path = args.path.as_ref();
    let attr = kind.attr();
    let sig = &func.sig;
    check_signature(sig, attr, errors);
    let is_async = sig.asyncness.is_some();

    let mut params = Vec::new();
    let mut has_receiver = false;
    let mut incoming_taker: Option<(Role, Span)> = None;
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
        match ty {
            Type::Reference(reference) => {
                errors.spanned(
                    reference,
                    format!(
                        "a handler parameter cannot be a reference: take the extractor by value, e.g. `{}`",
                        crate::diag::written_type(&reference.elem)
                    ),
                );
                continue;
            }
            Type::ImplTrait(_) | Type::TraitObject(_) => {
                errors.spanned(
                    ty,
                    format!(
                        "{} is not a handler parameter: the parameters are extractors, `WebSocketSession`, `Incoming`, `Outgoing`, `Path<T>`, `Query<T>`, `Headers`, `State<T>` or `RemoteAddr`",
                        trait_type(ty)
                    ),
                );
                continue;
            }
            _ => {}
        }
        let role = role(ty);
        match (role, incoming_taker) {
            (Role::Session | Role::Incoming, None) => incoming_taker = Some((role, ty.span())),
            (Role::Session, Some((Role::Session, _))) => errors.spanned(
                ty,
                "`WebSocketSession` is taken twice: a handler takes the session once (clone `session.outgoing` to send from elsewhere)",
            ),
            (Role::Incoming, Some((Role::Incoming, _))) => errors.spanned(
                ty,
                "`Incoming` is taken twice: the frames of a session can be received once",
            ),
            (Role::Session | Role::Incoming, Some(_)) => errors.spanned(
                ty,
                "this handler takes both `WebSocketSession` and `Incoming`, but the frames can be received once: use `session.incoming`, or take `Incoming` and `Outgoing` instead of the session",
            ),
            _ => {}
        }
        if role == Role::Path
            && let Some(path) = path
        {
            check_path_extractor(ty, path, errors);
        }
        params.push(Param { ty: ty.clone() });
    }

    let return_span = match &sig.output {
        ReturnType::Default => sig.ident.span(),
        ReturnType::Type(_, ty) => {
            check_return_type(ty, attr, errors);
            ty.span()
        }
    };

    // The one rewrite. In a function that is not `async`, the error above says so; the
    // function is then emitted as `async` to keep the body's `.await`s from adding
    // errors of their own.
    rewrite::rewrite_body(&mut func.block, &args.paths, errors);
    if !is_async {
        func.sig.asyncness = Some(Token![async](func.sig.fn_token.span));
    }

    Handler {
        func,
        params,
        return_span,
        has_receiver,
    }
}

/// `Path<T>` needs `{name}` segments; a tuple needs one element per segment.
pub(crate) fn check_path_extractor(ty: &Type, path: &RoutePath, errors: &mut Errors) {
    let route = path.lit.value();
    if path.params.is_empty() {
        errors.spanned(
            ty,
            format!(
                "`Path<...>` extracts `{{name}}` segments, but the route path `{route}` has none"
            ),
        );
        return;
    }
    if let Some(Type::Tuple(tuple)) = last_segment(ty).and_then(first_type_arg)
        && !tuple.elems.is_empty()
        && tuple.elems.len() != path.params.len()
    {
        let n = path.params.len();
        errors.spanned(
            tuple,
            format!(
                "this tuple has {} element{} but the route path `{route}` has {n} parameter{}: {}",
                tuple.elems.len(),
                if tuple.elems.len() == 1 { "" } else { "s" },
                if n == 1 { "" } else { "s" },
                path.params
                    .iter()
                    .map(|p| format!("`{{{p}}}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

/// `()` and `Result<(), E>` are accepted; `Result<T, E>` with another `T` is refused
/// here, other types by the `IntoHandlerResult` bound.
fn check_return_type(ty: &Type, attr: &str, errors: &mut Errors) {
    if let Type::ImplTrait(_) = ty {
        errors.spanned(ty, format!("a `{attr}` handler returns `()` or `Result<(), E>` where `E: Display`, not `impl Trait`"));
        return;
    }
    let Some(segment) = last_segment(ty) else {
        return;
    };
    if segment.ident != "Result" {
        return;
    }
    if let Some(ok) = first_type_arg(segment)
        && !matches!(ok, Type::Tuple(t) if t.elems.is_empty())
    {
        errors.spanned(
            ok,
            format!(
                "a `{attr}` handler returns `()` or `Result<(), E>`: the success type must be `()`, found `{}`",
                crate::diag::written_type(ok)
            ),
        );
    }
}
