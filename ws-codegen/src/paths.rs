//! Every path the generated code names, written once (as Rocket's codegen `exports.rs`),
//! under a root that is `::ws` unless the invocation says `crate = path`.
//!
//! A user who renames the dependency (`my_ws = { package = "ws", ... }`, or a crate
//! that re-exports `ws`) writes `crate = my_ws` (as tokio's macros take
//! `crate = "..."`):
//!
//! - `#[web_socket("/echo", crate = my_ws)]`, `#[web_socket_raw("/raw", crate = my_ws)]`:
//!   among the options after the path;
//! - `install!(crate = my_ws, app, WebSockets { ... })`,
//!   `routing!(crate = my_ws, app, echo)`,
//!   `embedded_server!(crate = my_ws, port = 8080, |app| { ... })`: first.
//!
//! Each invocation says it for itself: the macros nested in `embedded_server!`'s
//! closure do not inherit it. The path is used as written, so it must resolve where
//! the macro is invoked (`my_ws` for a dependency or a crate-root `use`, `crate::my_ws`
//! or `::my_ws` from anywhere).

use proc_macro2::{Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::Expr;

/// The root of the generated paths.
#[derive(Clone)]
pub(crate) struct Paths {
    root: TokenStream,
}

impl Default for Paths {
    fn default() -> Self {
        Self { root: quote!(::ws) }
    }
}

/// `$name => a::b` defines `fn name(&self, span) -> TokenStream` giving `ROOT::a::b`,
/// every token at `span` (as `quote_spanned!` would place a path written in it).
macro_rules! exported_paths {
    ($( $(#[$doc:meta])* $name:ident => $($segment:ident)::+; )*) => {
        impl Paths {
            $(
                $(#[$doc])*
                pub(crate) fn $name(&self, span: Span) -> TokenStream {
                    self.join(span, &[$(stringify!($segment)),+])
                }
            )*
        }
    };
}

exported_paths! {
    /// `Route`.
    route => Route;
    /// `WebSocketOptions`.
    web_socket_options => WebSocketOptions;
    /// `EmbeddedServer`.
    embedded_server => EmbeddedServer;
    /// `Application`.
    application => Application;
    /// `extension::Deflate`.
    deflate => extension::Deflate;
    /// `__private::RouteDef`: the trait `#[web_socket]` implements and `routing!` calls.
    route_def => __private::RouteDef;
    /// `__private::HandlerParam`: the extractor trait.
    handler_param => __private::HandlerParam;
    /// `__private::StartupCheck`.
    startup_check => __private::StartupCheck;
    /// `__private::HandshakeRequest`.
    handshake_request => __private::HandshakeRequest;
    /// `__private::SessionParts`.
    session_parts => __private::SessionParts;
    /// `__private::SessionStart`.
    session_start => __private::SessionStart;
    /// `__private::Rejection`.
    rejection => __private::Rejection;
    /// `__private::box_handler`: a handler's call, boxed with its result's conversion.
    box_handler => __private::box_handler;
    /// `__private::into_handler_result`.
    handler_result => __private::into_handler_result;
    /// `__private::user_extension`.
    user_extension => __private::user_extension;
    /// `__private::FrameSource`: what a `for ... in incoming` loop receives from.
    frame_source => __private::FrameSource;
    /// `__private::next_frame`.
    next_frame => __private::next_frame;
    /// `__private::no_frame`.
    no_frame => __private::no_frame;
    /// `HttpRoute`.
    http_route => HttpRoute;
    /// `http::Method`.
    http_method => http::Method;
    /// `__private::HttpCall`: the request an HTTP handler's extractors read.
    http_call => __private::HttpCall;
    /// `__private::HttpHandler`.
    http_handler => __private::HttpHandler;
    /// `__private::HttpFuture`.
    http_future => __private::HttpFuture;
    /// `__private::HttpParam`: the HTTP extractor trait.
    http_param => __private::HttpParam;
    /// `__private::rejected`: an extractor's refusal as the handler's future.
    rejected => __private::rejected;
    /// `__private::into_http_response`.
    http_response_fn => __private::into_http_response;
    /// `__private::Arc`.
    arc => __private::Arc;
    /// `__private::Duration`.
    duration => __private::Duration;
    /// `__private::Box`.
    boxed => __private::Box;
    /// `__private::Vec`.
    vec => __private::Vec;
    /// `__private::Result`.
    result => __private::Result;
    /// `__private::Ok`.
    ok => __private::Ok;
    /// `__private::Some`.
    some => __private::Some;
    /// `__private::None`.
    none => __private::None;
}

impl Paths {
    /// The paths under `root` (`crate = root`), or under `::ws`.
    pub(crate) fn new(root: Option<syn::Path>) -> Self {
        match root {
            Some(root) => Self {
                root: root.into_token_stream(),
            },
            None => Self::default(),
        }
    }

    /// `ROOT::ty` for a path from a key table row (`ChannelOverflow`); a row that is
    /// not a path becomes a compile error rather than a panic.
    pub(crate) fn item(&self, span: Span, ty: &str) -> TokenStream {
        let segments: Vec<&str> = ty.split("::").collect();
        self.join(span, &segments)
    }

    fn join(&self, span: Span, segments: &[&str]) -> TokenStream {
        let mut out = respan(self.root.clone(), span);
        for segment in segments {
            let ident = match syn::parse_str::<syn::Ident>(segment) {
                Ok(mut ident) => {
                    ident.set_span(span);
                    ident
                }
                Err(_) => {
                    return syn::Error::new(span, format!("`{segment}` is not a path segment"))
                        .to_compile_error();
                }
            };
            let mut first = Punct::new(':', Spacing::Joint);
            first.set_span(span);
            let mut second = Punct::new(':', Spacing::Alone);
            second.set_span(span);
            out.extend([
                TokenTree::Punct(first),
                TokenTree::Punct(second),
                TokenTree::Ident(ident),
            ]);
        }
        out
    }
}

/// An application expression that cannot be one: a path ending in `crate` or `super`
/// (`routing!(crate, app, ..)` expanded to `crate.route(..)`, fuzz finding
/// `macros/crate-as-app`).
pub(crate) fn check_app(app: &Expr) -> Option<syn::Error> {
    // The innermost receiver: `crate.app.x` is no expression either (fuzz finding
    // `macros/crate-field-app`).
    let mut base = app;
    loop {
        base = match base {
            Expr::Field(e) => &e.base,
            Expr::MethodCall(e) => &e.receiver,
            Expr::Index(e) => &e.expr,
            Expr::Call(e) => &e.func,
            Expr::Try(e) => &e.expr,
            Expr::Await(e) => &e.base,
            _ => break,
        };
    }
    let Expr::Path(path) = base else {
        return None;
    };
    let last = path.path.segments.last()?;
    (last.ident == "crate" || last.ident == "super").then(|| {
        syn::Error::new_spanned(
            app,
            format!(
                "`{}` is not the application: the first argument is the `|app|` of \
                 `embedded_server!` (to name the `ws` crate, write `crate = path` before it)",
                quote!(#app)
            ),
        )
    })
}

/// `app` as a method call's receiver: as it is when it binds tighter than a method call
/// (a path, a call, a field ...), else in parentheses (`a = b` would otherwise become
/// `a = b.install(..)`).
pub(crate) fn receiver(app: &Expr) -> TokenStream {
    match app {
        Expr::Path(_)
        | Expr::Field(_)
        | Expr::MethodCall(_)
        | Expr::Call(_)
        | Expr::Paren(_)
        | Expr::Index(_)
        | Expr::Macro(_) => app.to_token_stream(),
        _ => quote!((#app)),
    }
}

/// Every token of `tokens` at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                tree = TokenTree::Group(respanned);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

const EXPECTS: &str =
    "`crate` expects the path the `ws` crate is known by here, e.g. `crate = my_ws`";

/// The value of `crate = ...`: a path (`my_ws`, `::my_ws`, `crate::reexports::ws`) or
/// the same path in a string (`"my_ws"`, as tokio's macros write it).
///
/// A crate is named by a module path: a segment with generic arguments (`my_ws<T>`,
/// `my_ws::<T>::inner`) is refused, since `my_ws<T>::inner::WebSocketOptions` would be
/// no path in the generated code (fuzz finding `macros/crate-generic-arguments`).
pub(crate) fn crate_path(value: &Expr) -> syn::Result<syn::Path> {
    let generic = |path: &syn::Path| path.segments.iter().any(|s| !s.arguments.is_none());
    match crate::lit::peel(value) {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            if generic(&path.path) {
                Err(syn::Error::new_spanned(
                    path,
                    format!("{EXPECTS}: a module path, without generic arguments"),
                ))
            } else {
                Ok(path.path.clone())
            }
        }
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => match s.parse::<syn::Path>() {
            Ok(path) if !generic(&path) => Ok(path),
            _ => Err(syn::Error::new(
                s.span(),
                format!("{EXPECTS}, found `{}`", s.value()),
            )),
        },
        other => Err(syn::Error::new_spanned(other, EXPECTS)),
    }
}

/// Splits a leading `crate = path,` off a function-like macro's input. Without one, the
/// input is returned as it is and the paths are under `::ws`.
pub(crate) fn leading_crate(
    input: TokenStream,
    errors: &mut crate::diag::Errors,
) -> (Paths, TokenStream) {
    let trees: Vec<TokenTree> = input.clone().into_iter().collect();
    // `crate = x` and `crate =&x` (where `=` is joined to the next punctuation), but not
    // `crate == x` or `crate => x` (fuzz finding `macros/crate-joint-eq`).
    let starts_with_crate = match trees.as_slice() {
        [TokenTree::Ident(krate), TokenTree::Punct(eq), next @ ..]
            if krate == "crate" && eq.as_char() == '=' =>
        {
            eq.spacing() == Spacing::Alone
                || !matches!(next.first(), Some(TokenTree::Punct(p)) if matches!(p.as_char(), '=' | '>'))
        }
        _ => false,
    };
    if !starts_with_crate {
        return (Paths::default(), input);
    }
    let comma = trees
        .iter()
        .position(|tree| matches!(tree, TokenTree::Punct(p) if p.as_char() == ','));
    let (value, rest) = match comma {
        Some(i) => (&trees[2..i], &trees[i + 1..]),
        None => (&trees[2..], &[][..]),
    };
    let value: TokenStream = value.iter().cloned().collect();
    let root = if value.is_empty() {
        errors.at(trees[1].span(), EXPECTS);
        None
    } else {
        match syn::parse2::<Expr>(value.clone()) {
            Ok(expr) => match crate_path(&expr) {
                Ok(path) => Some(path),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            Err(_) => {
                errors.spanned(&value, EXPECTS);
                None
            }
        }
    };
    (Paths::new(root), rest.iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crate_option_joined_to_its_value_is_one() {
        // `crate =&"x"` lexes `=` as joint: still the option (and a bad value), not the
        // application (fuzz finding `macros/crate-joint-eq`).
        let mut errors = crate::diag::Errors::new();
        let (_, rest) = leading_crate("crate =&\"x\", app".parse().unwrap(), &mut errors);
        assert!(!errors.is_empty());
        assert_eq!(rest.to_string(), "app");
        let mut errors = crate::diag::Errors::new();
        let (_, rest) = leading_crate("crate == x, app".parse().unwrap(), &mut errors);
        assert!(errors.is_empty());
        assert_eq!(rest.to_string(), "crate == x , app");
    }

    #[test]
    fn a_crate_path_has_no_generic_arguments() {
        let path = |s: &str| crate_path(&syn::parse_str(s).unwrap());
        assert!(path("my_ws").is_ok() && path("::a::b").is_ok() && path("\"a::b\"").is_ok());
        for bad in [
            "\"my_ws<T>::inner\"",
            "my_ws::<T>::inner",
            "\"a::b<'x>\"",
            "\"f()\"",
        ] {
            let error = path(bad).expect_err(bad).to_string();
            assert!(
                error.starts_with("`crate` expects the path"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn keywords_are_no_application() {
        let check = |s: &str| check_app(&syn::parse_str(s).unwrap()).is_some();
        assert!(check("crate") && check("super") && check("a::super"));
        assert!(!check("app") && !check("self") && !check("self.app") && !check("crate::APP"));
        assert!(check("crate.app.ex") && check("super.f()") && check("crate[0]"));
        assert!(!check("crate::make().app") && !check("self.apps[0]"));
    }

    #[test]
    fn receivers_bind_before_the_method_call() {
        let receiver = |s: &str| receiver(&syn::parse_str(s).unwrap()).to_string();
        assert_eq!(receiver("app"), "app");
        assert_eq!(receiver("self.app"), "self . app");
        assert_eq!(receiver("a = b"), "(a = b)");
        assert_eq!(receiver("&mut app"), "(& mut app)");
    }

    #[test]
    fn paths_under_the_default_and_a_renamed_root() {
        let span = Span::call_site();
        assert_eq!(
            Paths::default().route_def(span).to_string(),
            ":: ws :: __private :: RouteDef"
        );
        let renamed = Paths::new(Some(syn::parse_str("my_ws").unwrap()));
        assert_eq!(renamed.route(span).to_string(), "my_ws :: Route");
        assert_eq!(
            renamed.item(span, "ChannelOverflow").to_string(),
            "my_ws :: ChannelOverflow"
        );
        assert!(
            renamed
                .item(span, "not a path")
                .to_string()
                .contains("compile_error")
        );
    }

    #[test]
    fn a_leading_crate_argument() {
        let mut errors = crate::diag::Errors::new();
        let (paths, rest) = leading_crate("crate = my_ws, app, echo".parse().unwrap(), &mut errors);
        assert!(errors.is_empty());
        assert_eq!(paths.root.to_string(), "my_ws");
        assert_eq!(rest.to_string(), "app , echo");
        let (paths, rest) = leading_crate("crate = \"a::b\", app".parse().unwrap(), &mut errors);
        assert!(errors.is_empty());
        assert_eq!(paths.root.to_string(), "a :: b");
        assert_eq!(rest.to_string(), "app");
        let (paths, rest) = leading_crate("app, echo".parse().unwrap(), &mut errors);
        assert_eq!(paths.root.to_string(), ":: ws");
        assert_eq!(rest.to_string(), "app , echo");
        for bad in [
            "crate = , app",
            "crate = 1, app",
            "crate = a + b, app",
            "crate =",
        ] {
            let mut errors = crate::diag::Errors::new();
            let _ = leading_crate(bad.parse().unwrap(), &mut errors);
            assert!(!errors.is_empty(), "`{bad}` gave no error");
        }
    }

    /// With `crate = my_ws`, no macro's expansion names `::ws` (the UI case
    /// `samples/pass/renamed_crate.rs` shows that it compiles).
    #[test]
    fn a_renamed_crate_leaves_no_ws_path() {
        let handler = "async fn h(session: WebSocketSession, Path(id): Path<u32>) -> Result<()> { for frame in session.incoming { session.send(frame).await?; } Ok(()) }";
        let outputs = [
            crate::web_socket::expand(
                "\"/a/{id}\", protocol = \"p\", crate = my_ws".parse().unwrap(),
                handler.parse().unwrap(),
                crate::web_socket::Kind::Normal,
            ),
            crate::web_socket::expand(
                "\"/a\", crate = my_ws".parse().unwrap(),
                "async fn h(session: WebSocketSession) { for f in session.incoming {} }".parse().unwrap(),
                crate::web_socket::Kind::Raw,
            ),
            crate::install::expand(
                "crate = my_ws, app, WebSockets { ping_period = 1.5s, timeout = 2s, outgoing_overflow = Close, allowed_origins = [\"https://a.example\"], extensions { Deflate { compression_level = 1 }, Mine { period = 1m } } }"
                    .parse()
                    .unwrap(),
            ),
            crate::routing::expand("crate = my_ws, app, a, b::c".parse().unwrap()),
            crate::embedded_server::expand(
                "crate = my_ws, port = 1, grace_period = 2s, |app| {}".parse().unwrap(),
            ),
        ];
        for out in outputs {
            let out = out.to_string();
            assert!(!out.contains("compile_error"), "{out}");
            assert!(!out.contains(":: ws ::"), "{out}");
            assert!(out.contains("my_ws ::"), "{out}");
        }
    }
}
