//! WebSocket routes: what `#[web_socket("/chat/{room}")]` builds ([`Route`]): a path
//! pattern (`path.rs`), a subprotocol, guards, and the handler with its extractors.
//! `routing!(app, ...)` adds routes to the [`Application`](crate::Application); the
//! router (`router.rs`) matches them.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::{HandlerError, IntoHandlerResult};
use crate::extract::{HandshakeRequest, Rejection, SessionParts, StartupCheck};
use crate::guard::{Guard, SharedGuard};
use crate::path::{PathError, PathPattern};
use crate::session::WebSocketSession;

/// A handler's future, type-erased.
pub type BoxHandlerFuture =
    Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

/// A handler's future, boxed, its output turned into the session's result by
/// `into_result` (what `#[web_socket]` generates). Not an `async` block around the
/// handler's call: the block would hold the handler's arguments a second time, its
/// captures beside the handler's own future (48 bytes more for every session of an
/// echo loop).
pub fn box_handler<F, R>(future: F, into_result: R) -> BoxHandlerFuture
where
    F: Future + Send + 'static,
    R: FnOnce(F::Output) -> Result<(), HandlerError> + Send + 'static,
{
    Box::pin(futures_util::FutureExt::map(future, into_result))
}

/// Starts a session's handler once the upgrade completed (built at handshake time).
pub type SessionStart = Box<dyn FnOnce(SessionParts) -> BoxHandlerFuture + Send + 'static>;

type Prepare =
    dyn Fn(&HandshakeRequest<'_>) -> Result<SessionStart, Rejection> + Send + Sync + 'static;

/// A WebSocket endpoint: a path, an optional subprotocol, and a handler.
///
/// `#[web_socket]` generates one per handler (`routing!(app, echo)` adds it); without
/// macros, [`Route::new`] takes a closure:
///
/// ```
/// use ws_runtime::{Route, WebSocketSession};
/// let route = Route::new("/echo", |session: WebSocketSession| async move {
///     while let Some(frame) = session.incoming.recv().await {
///         session.send(frame).await?;
///     }
///     Ok::<(), ws_runtime::Error>(())
/// });
/// assert_eq!(route.path(), "/echo");
/// ```
#[derive(Clone)]
pub struct Route {
    pub(crate) pattern: PathPattern,
    pub(crate) protocol: Option<Cow<'static, str>>,
    pub(crate) raw: bool,
    pub(crate) name: Cow<'static, str>,
    pub(crate) location: Cow<'static, str>,
    pub(crate) prepare: Arc<Prepare>,
    pub(crate) checks: Vec<StartupCheck>,
    pub(crate) path_error: Option<PathError>,
    /// Run in order before the upgrade (the application's are put first at start-up).
    pub(crate) guards: Vec<SharedGuard>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.pattern.as_str())
            .field("protocol", &self.protocol)
            .field("raw", &self.raw)
            .field("handler", &self.name)
            .field("location", &self.location)
            .field("guards", &self.guards)
            .finish()
    }
}

impl Route {
    /// A route whose handler takes the whole session.
    #[track_caller]
    pub fn new<F, Fut>(path: &str, handler: F) -> Self
    where
        F: Fn(WebSocketSession) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoHandlerResult,
    {
        let handler = Arc::new(handler);
        let location = std::panic::Location::caller();
        Self::from_parts(
            path,
            "closure",
            format!(
                "{}:{}:{}",
                location.file(),
                location.line(),
                location.column()
            ),
            Vec::new(),
            move |_req| {
                let handler = handler.clone();
                Ok(Box::new(move |parts: SessionParts| {
                    let session = parts.into_session();
                    Box::pin(async move { handler(session).await.into_handler_result() })
                        as BoxHandlerFuture
                }) as SessionStart)
            },
        )
    }

    /// The building block `#[web_socket]` expands to: a path, the handler's name and
    /// source location (for start-up errors), the extractors' start-up checks, and a
    /// function that runs the extractors on a handshake and returns the session start.
    #[doc(hidden)]
    pub fn from_parts(
        path: &str,
        name: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
        checks: Vec<StartupCheck>,
        prepare: impl Fn(&HandshakeRequest<'_>) -> Result<SessionStart, Rejection>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        let (pattern, path_error) = match PathPattern::parse(path) {
            Ok(p) => (p, None),
            Err(e) => (PathPattern::invalid(path), Some(e)),
        };
        let name = name.into();
        Self {
            pattern,
            protocol: None,
            raw: false,
            name,
            location: location.into(),
            prepare: Arc::new(prepare),
            checks,
            path_error,
            guards: Vec::new(),
        }
    }

    /// Adds a guard: it runs before the upgrade, after the guards already added, and
    /// either refuses the request or accepts it with a principal the handler can take
    /// as [`Principal<T>`](crate::Principal). See [`Guard`](crate::Guard).
    pub fn guard(mut self, guard: impl Guard) -> Self {
        self.guards.push(SharedGuard::new(guard));
        self
    }

    /// Adds a guard that runs before the guards already added (what
    /// `routing!(app, authenticate(guard) { .. })` does to each route in the block).
    pub fn guard_first(mut self, guard: impl Guard) -> Self {
        self.guards.insert(0, SharedGuard::new(guard));
        self
    }

    /// Requires this subprotocol (`Sec-WebSocket-Protocol`); clients that do not offer
    /// it are refused with 400.
    pub fn protocol(mut self, protocol: impl Into<Cow<'static, str>>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Makes this a raw route (Ktor's `webSocketRaw`): control frames reach the
    /// handler and nothing is answered automatically.
    pub fn raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// The route's path.
    pub fn path(&self) -> &str {
        self.pattern.as_str()
    }

    /// The handler's name.
    pub fn handler_name(&self) -> &str {
        &self.name
    }

    /// Where the handler is defined (`file:line:column`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The required subprotocol, if any.
    pub fn required_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether this is a raw route.
    pub fn is_raw(&self) -> bool {
        self.raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_path_matches_nothing() {
        let route = Route::new("chat/{", |_session: WebSocketSession| async {});
        assert!(route.path_error.is_some());
        assert_eq!(route.path(), "chat/{");
        assert!(route.pattern.matches("/chat/{").is_none());
        assert!(route.pattern.matches("/").is_none());
    }
}
