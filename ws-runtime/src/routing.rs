//! Routes: path patterns with `{name}` segments, WebSocket routes and plain HTTP routes.
//!
//! `#[web_socket("/chat/{room}")]` builds a [`Route`]; `routing!(app, ...)` adds routes
//! to the [`Application`](crate::Application). Matching prefers static segments over
//! parameters, and among WebSocket routes on one path picks by subprotocol.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::{HandlerError, IntoHandlerResult};
use crate::extract::{HandshakeRequest, Rejection, SessionParts, StartupCheck};
use crate::session::WebSocketSession;

/// Decoded `{name}` path parameters of a request, in route order.
pub type PathParams = Vec<(Box<str>, Box<str>)>;

/// A `{name}` or literal segment of a route path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
}

/// A parsed route path such as `/chat/{room}`.
#[derive(Clone, Debug)]
pub struct PathPattern {
    raw: String,
    segments: Vec<Segment>,
}

/// Why a route path is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("route path `{0}` must start with `/`")]
    NoLeadingSlash(String),
    /// Braces do not pair up, or a segment mixes text and a parameter.
    #[error(
        "route path `{0}` has unbalanced or misplaced braces: a parameter is a whole segment `{{name}}`"
    )]
    Braces(String),
    /// A parameter name is empty or not an identifier.
    #[error(
        "route path `{path}` has an invalid parameter name `{name}`: use letters, digits and `_`, not starting with a digit"
    )]
    BadName {
        /// The path.
        path: String,
        /// The offending name.
        name: String,
    },
    /// Two parameters share a name.
    #[error("route path `{path}` uses the parameter name `{name}` twice")]
    Duplicate {
        /// The path.
        path: String,
        /// The repeated name.
        name: String,
    },
}

impl PathPattern {
    /// Parses and checks a route path.
    pub fn parse(path: &str) -> Result<Self, PathError> {
        if !path.starts_with('/') {
            return Err(PathError::NoLeadingSlash(path.to_string()));
        }
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for segment in path[1..].split('/') {
            if let Some(inner) = segment.strip_prefix('{') {
                let Some(name) = inner.strip_suffix('}') else {
                    return Err(PathError::Braces(path.to_string()));
                };
                if name.contains(['{', '}']) {
                    return Err(PathError::Braces(path.to_string()));
                }
                let valid = !name.is_empty()
                    && !name.starts_with(|c: char| c.is_ascii_digit())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(PathError::BadName {
                        path: path.to_string(),
                        name: name.to_string(),
                    });
                }
                if names.contains(&name) {
                    return Err(PathError::Duplicate {
                        path: path.to_string(),
                        name: name.to_string(),
                    });
                }
                names.push(name);
                segments.push(Segment::Param(name.to_string()));
            } else if segment.contains(['{', '}']) {
                return Err(PathError::Braces(path.to_string()));
            } else {
                segments.push(Segment::Static(segment.to_string()));
            }
        }
        Ok(Self {
            raw: path.to_string(),
            segments,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parameter names, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Static(_) => None,
        })
    }

    /// Whether two patterns match exactly the same paths (`/a/{x}` and `/a/{y}` do).
    pub fn same_shape(&self, other: &PathPattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|(a, b)| match (a, b) {
                    (Segment::Static(a), Segment::Static(b)) => a == b,
                    (Segment::Param(_), Segment::Param(_)) => true,
                    _ => false,
                })
    }

    /// Matches a request path; on success the decoded parameters and the number of
    /// static segments (more is a better match).
    pub(crate) fn matches(&self, path: &str) -> Option<(PathParams, usize)> {
        let rest = path.strip_prefix('/')?;
        let mut params = Vec::new();
        let mut statics = 0;
        let mut parts = rest.split('/');
        for segment in &self.segments {
            let part = parts.next()?;
            match segment {
                Segment::Static(s) => {
                    if s != part {
                        return None;
                    }
                    statics += 1;
                }
                Segment::Param(name) => {
                    if part.is_empty() {
                        return None;
                    }
                    let value = percent_decode(part)?;
                    params.push((name.as_str().into(), value.into()));
                }
            }
        }
        if parts.next().is_some() {
            return None;
        }
        Some((params, statics))
    }
}

/// Decodes `%XX` escapes; `None` if an escape is malformed or the result is not UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    if !input.contains('%') {
        return Some(input.to_string());
    }
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A handler's future, type-erased.
pub type BoxHandlerFuture =
    Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send + 'static>>;

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
    /// `path (handler)`, for logs.
    pub(crate) label: Arc<str>,
    pub(crate) prepare: Arc<Prepare>,
    pub(crate) checks: Vec<StartupCheck>,
    pub(crate) path_error: Option<PathError>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.pattern.as_str())
            .field("protocol", &self.protocol)
            .field("raw", &self.raw)
            .field("handler", &self.name)
            .field("location", &self.location)
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
            Err(e) => (
                PathPattern {
                    raw: path.to_string(),
                    segments: Vec::new(),
                },
                Some(e),
            ),
        };
        let name = name.into();
        let label = Arc::from(format!("{path} ({name})"));
        Self {
            pattern,
            protocol: None,
            raw: false,
            name,
            location: location.into(),
            label,
            prepare: Arc::new(prepare),
            checks,
            path_error,
        }
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
    fn parses_and_matches_params() {
        let p = PathPattern::parse("/chat/{room}/users/{id}").unwrap();
        let (params, statics) = p.matches("/chat/lobby%20one/users/7").unwrap();
        assert_eq!(statics, 2);
        assert_eq!(&*params[0].1, "lobby one");
        assert_eq!(&*params[1].1, "7");
        assert!(p.matches("/chat/lobby/users").is_none());
        assert!(p.matches("/chat//users/7").is_none());
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(matches!(
            PathPattern::parse("chat"),
            Err(PathError::NoLeadingSlash(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/{b"),
            Err(PathError::Braces(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/x{b}"),
            Err(PathError::Braces(_))
        ));
        assert!(matches!(
            PathPattern::parse("/a/{1b}"),
            Err(PathError::BadName { .. })
        ));
        assert!(matches!(
            PathPattern::parse("/{a}/{a}"),
            Err(PathError::Duplicate { .. })
        ));
    }

    #[test]
    fn same_shape_ignores_param_names() {
        let a = PathPattern::parse("/a/{x}").unwrap();
        let b = PathPattern::parse("/a/{y}").unwrap();
        let c = PathPattern::parse("/a/b").unwrap();
        assert!(a.same_shape(&b));
        assert!(!a.same_shape(&c));
    }
}
