//! Guards before the upgrade and the principals they yield (documented on [`Guard`]).

use std::any::{TypeId, type_name};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use crate::extract::{
    AnyPrincipal, HandlerParam, HandshakeRequest, Rejection, SessionParts, StartupContext,
};

/// Authentication before the upgrade: checks a handshake and names who is connecting.
///
/// A [`Guard`] runs after the handshake is found valid and before the `101 Switching
/// Protocols`. It sees the whole request ([`HandshakeRequest`]: headers, query,
/// cookies, the offered subprotocols, the client's address) and either refuses it with
/// a [`Rejection`] (any status, headers such as `WWW-Authenticate`, a body) or accepts
/// it with a principal, which the handler takes as [`Principal<T>`]. A refused request
/// never starts the handler, and no session exists for it.
///
/// A guard is usually an `async fn`:
///
/// ```
/// use ws_runtime::{HandshakeRequest, Principal, Rejection, Route, WebSocketSession};
///
/// struct User { name: String }
///
/// // Browsers cannot set `Authorization` on a WebSocket: the token comes in the query
/// // (`?token=`), a cookie, or a `Sec-WebSocket-Protocol` entry.
/// async fn auth(req: &HandshakeRequest<'_>) -> Result<User, Rejection> {
///     match req.query("token").as_deref() {
///         Some("s3cret") => Ok(User { name: "ada".into() }),
///         _ => Err(Rejection::unauthorized("Bearer", "a valid `token` is required")),
///     }
/// }
///
/// let route = Route::new("/chat", |session: WebSocketSession| async move {
///     drop(session);
/// })
/// .guard(auth);
/// # let _ = route;
/// ```
///
/// With the macros: `#[web_socket("/chat", guard = auth)]` on the handler, or
/// `routing!(app, authenticate(auth) { chat, admin })` for several routes (Ktor's
/// `authenticate { webSocket(...) }`), or `app.guard(auth)` for every WebSocket route
/// of the application. Guards run in that order: the application's, then the
/// `authenticate` block's, then the route's own; a later guard sees the principals of
/// the earlier ones ([`HandshakeRequest::principal`]).
///
/// Implemented for every `async fn(&HandshakeRequest<'_>) -> Result<P, Rejection>`
/// (and every closure of that shape); implement it by hand for a guard with settings
/// of its own (a key, a client of an identity service).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a guard",
    label = "expected an `async fn(&HandshakeRequest<'_>) -> Result<P, Rejection>`",
    note = "a guard takes the handshake request and returns `Ok(principal)` to let it in or `Err(Rejection)` to refuse it"
)]
pub trait Guard: Send + Sync + 'static {
    /// Who the guard lets in (a user, claims); the handler takes it as
    /// [`Principal<Self::Principal>`].
    type Principal: Send + Sync + 'static;

    /// Accepts the request with a principal, or refuses it.
    fn check<'a>(
        &'a self,
        req: &'a HandshakeRequest<'a>,
    ) -> impl Future<Output = Result<Self::Principal, Rejection>> + Send + 'a;
}

/// A function usable as a [`Guard`]: `Fn(&HandshakeRequest) -> impl Future<Output =
/// Result<P, Rejection>>`, for one lifetime. Implemented for every such function; it
/// exists so that [`Guard`] can be implemented for `async fn`s, whose futures borrow
/// the request.
pub trait GuardFn<'a>: Fn(&'a HandshakeRequest<'a>) -> Self::Future {
    /// The function's future.
    type Future: Future<Output = Result<Self::Principal, Rejection>> + Send + 'a;
    /// What the function yields on success.
    type Principal;
}

impl<'a, F, Fut, P> GuardFn<'a> for F
where
    F: Fn(&'a HandshakeRequest<'a>) -> Fut,
    Fut: Future<Output = Result<P, Rejection>> + Send + 'a,
{
    type Future = Fut;
    type Principal = P;
}

impl<F, P> Guard for F
where
    F: for<'a> GuardFn<'a, Principal = P> + Send + Sync + 'static,
    P: Send + Sync + 'static,
{
    type Principal = P;

    fn check<'a>(
        &'a self,
        req: &'a HandshakeRequest<'a>,
    ) -> impl Future<Output = Result<P, Rejection>> + Send + 'a {
        self(req)
    }
}

type GuardFuture<'a> = Pin<Box<dyn Future<Output = Result<AnyPrincipal, Rejection>> + Send + 'a>>;

/// A guard with its principal type erased, as routes and the application keep it.
pub(crate) trait ErasedGuard: Send + Sync {
    fn run<'a>(&'a self, req: &'a HandshakeRequest<'a>) -> GuardFuture<'a>;
    fn principal(&self) -> (TypeId, &'static str);
}

impl<G: Guard> ErasedGuard for G {
    fn run<'a>(&'a self, req: &'a HandshakeRequest<'a>) -> GuardFuture<'a> {
        let check = self.check(req);
        Box::pin(async move { check.await.map(|p| Arc::new(p) as AnyPrincipal) })
    }

    fn principal(&self) -> (TypeId, &'static str) {
        (TypeId::of::<G::Principal>(), type_name::<G::Principal>())
    }
}

/// A guard as a route keeps it.
#[derive(Clone)]
pub(crate) struct SharedGuard(pub(crate) Arc<dyn ErasedGuard>);

impl SharedGuard {
    pub(crate) fn new(guard: impl Guard) -> Self {
        SharedGuard(Arc::new(guard))
    }
}

impl fmt::Debug for SharedGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guard<{}>", self.0.principal().1)
    }
}

/// The principal a guard of this route (or of the application) accepted the
/// handshake with; dereferences to `T`.
///
/// A handler that takes `Principal<T>` while no guard of its route yields a `T` stops
/// the server at start-up with an error naming the handler.
pub struct Principal<T>(pub Arc<T>);

impl<T> Clone for Principal<T> {
    fn clone(&self) -> Self {
        Principal(self.0.clone())
    }
}

impl<T: fmt::Debug> fmt::Debug for Principal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Principal").field(&self.0).finish()
    }
}

impl<T> Deref for Principal<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> HandlerParam for Principal<T> {
    type Early = Self;

    fn from_handshake(req: &HandshakeRequest<'_>) -> Result<Self, Rejection> {
        req.principal_arc::<T>().map(Principal).ok_or_else(|| {
            // The start-up check makes this unreachable for routes built by the macros.
            Rejection::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "no guard accepted this request with the principal its handler takes",
            )
        })
    }

    fn from_session(early: Self, _: &mut SessionParts) -> Self {
        early
    }

    fn startup_check(ctx: &StartupContext<'_>) -> Result<(), String> {
        let wanted = TypeId::of::<T>();
        if ctx.principals.iter().any(|(id, _)| *id == wanted) {
            return Ok(());
        }
        let yielded = if ctx.principals.is_empty() {
            "its route has no guard".to_string()
        } else {
            format!(
                "its guards yield {}",
                ctx.principals
                    .iter()
                    .map(|(_, name)| format!("`{}`", crate::error::readable_type_name(name)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(format!(
            "takes `Principal<{}>` but {yielded}: add a guard that returns `Result<{}, Rejection>` (`#[web_socket(\"{}\", guard = ...)]`, `routing!(app, authenticate(...) {{ .. }})` or `app.guard(...)`)",
            crate::error::readable_type_name(type_name::<T>()),
            crate::error::readable_type_name(type_name::<T>()),
            ctx.pattern().as_str()
        ))
    }
}
