//! Plain HTTP routes served beside the WebSocket routes (a page, a health check, a
//! JSON API): what `#[get("/rooms")]` (and `#[post]`, `#[put]`, `#[patch]`,
//! `#[delete]`) builds ([`HttpRoute`]), the extractors its handler takes
//! ([`HttpParam`]: the WebSocket handlers' request extractors, plus the body as
//! [`Json<T>`], `Bytes` or `String`), and what it returns ([`IntoHttpResponse`]).
//!
//! A request runs as a handshake does: the route's guards (in order), then the
//! extractors, whose refusal is the answer (`400` for a bad path parameter, query or
//! body, the guard's `401`/`403`); the body is read first, up to 1 MiB (`413` past it).

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::extract::{
    AnyPrincipal, HandshakeRequest, Headers, Path, Query, Rejection, RemoteAddr, StartupCheck,
    StartupContext, State, StateMap,
};
use crate::guard::{Guard, Principal, SharedGuard};
use crate::path::{PathError, PathParams, PathPattern};

/// The head of an HTTP request handed to a plain HTTP handler.
pub type HttpRequest = http::request::Parts;

/// The most of a request body an HTTP route reads (1 MiB); a longer one is answered
/// `413 Payload Too Large`.
pub const HTTP_BODY_LIMIT: usize = 1 << 20;

/// A complete HTTP response.
#[derive(Debug)]
pub struct HttpResponse(pub(crate) http::Response<Full<Bytes>>);

impl HttpResponse {
    /// A response with a status, a content type and a body.
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Self {
        let mut response = http::Response::new(Full::new(body.into()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        // Browsers must take the body for what `Content-Type` says, never sniff it.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        HttpResponse(response)
    }

    /// `200 OK` with an HTML body.
    pub fn html(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::OK, "text/html; charset=utf-8", body)
    }

    /// `200 OK` with a plain text body.
    pub fn text(body: impl Into<Bytes>) -> Self {
        Self::new(StatusCode::OK, "text/plain; charset=utf-8", body)
    }

    /// `200 OK` with `value` as JSON (`application/json`). A value that does not
    /// serialize (a map with non-string keys) is a `500` with serde's reason.
    ///
    /// ```
    /// use ws_runtime::HttpResponse;
    /// let response = HttpResponse::json(&serde_json::json!({"rooms": ["lobby"]}));
    /// assert_eq!(response.status_code(), 200);
    /// ```
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::new(StatusCode::OK, "application/json", body),
            Err(e) => Self::status(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the response does not serialize to JSON: {e}"),
            ),
        }
    }

    /// A status with a plain text reason as body.
    pub fn status(status: StatusCode, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        reason.push('\n');
        Self::new(status, "text/plain; charset=utf-8", reason)
    }

    /// Sets the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        *self.0.status_mut() = status;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.0.headers_mut().append(name, value);
        self
    }

    /// The status.
    pub fn status_code(&self) -> StatusCode {
        self.0.status()
    }

    /// The headers.
    pub fn headers(&self) -> &http::HeaderMap {
        self.0.headers()
    }

    pub(crate) fn into_inner(self) -> http::Response<Full<Bytes>> {
        self.0
    }
}

/// JSON: as an HTTP handler's parameter, the request body deserialized (`400` with
/// serde's reason if it does not); as its return value, a `200` with the value as JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// What an HTTP handler returns.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of an HTTP handler",
    label = "return an `HttpResponse`, a `Json<T>`, a `String`, a `StatusCode` or a `Result` of them",
    note = "an HTTP handler returns `HttpResponse`, `Json<T>`, `String`, `&'static str` (text), `StatusCode`, `Rejection`, `(StatusCode, T)`, or `Result<T, E>` where both are among these"
)]
pub trait IntoHttpResponse {
    /// The response.
    fn into_http_response(self) -> HttpResponse;
}

impl IntoHttpResponse for HttpResponse {
    fn into_http_response(self) -> HttpResponse {
        self
    }
}

impl IntoHttpResponse for String {
    fn into_http_response(self) -> HttpResponse {
        HttpResponse::text(self)
    }
}

impl IntoHttpResponse for &'static str {
    fn into_http_response(self) -> HttpResponse {
        HttpResponse::text(self)
    }
}

impl IntoHttpResponse for StatusCode {
    fn into_http_response(self) -> HttpResponse {
        HttpResponse::status(self, self.canonical_reason().unwrap_or(""))
    }
}

impl IntoHttpResponse for Rejection {
    fn into_http_response(self) -> HttpResponse {
        rejection_response(self)
    }
}

impl<T: Serialize> IntoHttpResponse for Json<T> {
    fn into_http_response(self) -> HttpResponse {
        HttpResponse::json(&self.0)
    }
}

/// Another status for a response: `(StatusCode::CREATED, Json(room))`.
impl<T: IntoHttpResponse> IntoHttpResponse for (StatusCode, T) {
    fn into_http_response(self) -> HttpResponse {
        self.1.into_http_response().with_status(self.0)
    }
}

impl<T: IntoHttpResponse, E: IntoHttpResponse> IntoHttpResponse for Result<T, E> {
    fn into_http_response(self) -> HttpResponse {
        match self {
            Ok(ok) => ok.into_http_response(),
            Err(e) => e.into_http_response(),
        }
    }
}

/// What an HTTP handler can take as a parameter: the request extractors of WebSocket
/// handlers ([`Path`], [`Query`], [`Headers`], [`State`], [`RemoteAddr`],
/// [`Principal`]), the request head ([`HttpRequest`]), the body ([`Json<T>`],
/// `Bytes`, `String`), and `Option<T>` of any of them (`None` where it would refuse).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of an HTTP handler",
    label = "not an HTTP extractor",
    note = "an HTTP handler (`#[get]`, `#[post]`, ...) takes `Path<T>`, `Query<T>`, `Headers`, `State<T>`, `RemoteAddr`, `Principal<T>`, `HttpRequest`, or the body as `Json<T>`, `Bytes` or `String`; a WebSocket session exists only in `#[web_socket]` handlers"
)]
pub trait HttpParam: Sized + Send + 'static {
    /// The value from the request (after its guards) and its body.
    fn from_request(req: &HandshakeRequest<'_>, body: &Bytes) -> Result<Self, Rejection>;

    /// Checked once at start-up against the application (installed state, the
    /// route's path parameters and guards).
    fn startup_check(_ctx: &StartupContext<'_>) -> Result<(), String> {
        Ok(())
    }
}

/// The request extractors shared with WebSocket handlers.
macro_rules! request_extractor {
    ($ty:ty $(, $bound:ident: $($bounds:tt)+)?) => {
        impl$(<$bound: $($bounds)+>)? HttpParam for $ty {
            fn from_request(req: &HandshakeRequest<'_>, _body: &Bytes) -> Result<Self, Rejection> {
                <$ty as crate::extract::HandlerParam>::from_handshake(req)
            }
            fn startup_check(ctx: &StartupContext<'_>) -> Result<(), String> {
                <$ty as crate::extract::HandlerParam>::startup_check(ctx)
            }
        }
    };
}

request_extractor!(Path<T>, T: DeserializeOwned + Send + 'static);
request_extractor!(Query<T>, T: DeserializeOwned + Send + 'static);
request_extractor!(State<T>, T: Send + Sync + 'static);
request_extractor!(Principal<T>, T: Send + Sync + 'static);
request_extractor!(Headers);
request_extractor!(RemoteAddr);

/// An extractor that may refuse, made optional: `None` where it would refuse (an
/// absent or malformed query, a body that is not the JSON expected).
impl<T: HttpParam> HttpParam for Option<T> {
    fn from_request(req: &HandshakeRequest<'_>, body: &Bytes) -> Result<Self, Rejection> {
        Ok(T::from_request(req, body).ok())
    }
}

impl HttpParam for HttpRequest {
    fn from_request(req: &HandshakeRequest<'_>, _body: &Bytes) -> Result<Self, Rejection> {
        Ok(req.parts().clone())
    }
}

impl HttpParam for Bytes {
    fn from_request(_req: &HandshakeRequest<'_>, body: &Bytes) -> Result<Self, Rejection> {
        Ok(body.clone())
    }
}

impl HttpParam for String {
    fn from_request(_req: &HandshakeRequest<'_>, body: &Bytes) -> Result<Self, Rejection> {
        String::from_utf8(body.to_vec())
            .map_err(|_| Rejection::bad_request("the request body is not UTF-8"))
    }
}

impl<T: DeserializeOwned + Send + 'static> HttpParam for Json<T> {
    fn from_request(_req: &HandshakeRequest<'_>, body: &Bytes) -> Result<Self, Rejection> {
        serde_json::from_slice(body).map(Json).map_err(|e| {
            Rejection::bad_request(format!("the request body is not the JSON expected: {e}"))
        })
    }
}

/// The answer to a refused handshake: the rejection's status, headers and reason, with
/// `nosniff` and the reason escaped (see [`Rejection`]).
pub(crate) fn rejection_response(rejection: Rejection) -> HttpResponse {
    let (status, message, headers) = rejection.into_parts();
    let custom_type = headers.contains_key(header::CONTENT_TYPE);
    let mut response = if custom_type {
        let mut response = HttpResponse::new(status, "text/plain; charset=utf-8", message);
        response.0.headers_mut().remove(header::CONTENT_TYPE);
        response
    } else {
        HttpResponse::status(status, escape_reflected(&message))
    };
    for (name, value) in &headers {
        response.0.headers_mut().append(name, value.clone());
    }
    if status == StatusCode::UPGRADE_REQUIRED {
        // RFC 6455 §4.4: name the versions we speak; RFC 9110 §15.5.22: and the protocol.
        response = response
            .header(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            )
            .header(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED && !headers.contains_key(header::ALLOW) {
        // RFC 9110 §15.5.6: a 405 must name the methods the target supports; a
        // WebSocket route is reached by GET only (RFC 6455 §4.2.1 item 1).
        response = response.header(header::ALLOW, HeaderValue::from_static("GET"));
    }
    response
}

/// A reason as it may be sent in a `text/plain` body: markup characters and controls
/// (but newlines) escaped, whatever the reason quotes from the request.
pub(crate) fn escape_reflected(message: &str) -> std::borrow::Cow<'_, str> {
    let escape = |c: char| matches!(c, '<' | '>' | '&') || (c.is_control() && c != '\n');
    if !message.chars().any(escape) {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut out = String::with_capacity(message.len() + 16);
    for c in message.chars() {
        if escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A boxed HTTP handler future.
pub type HttpFuture = Pin<Box<dyn Future<Output = HttpResponse> + Send + 'static>>;

/// A request as an HTTP route's handler gets it: its head, path parameters, client
/// address, body, and the principals its guards yielded. What `#[get]` and the other
/// HTTP attributes expand to takes it; [`request`](Self::request) gives the
/// extractors their view.
#[doc(hidden)]
pub struct HttpCall {
    parts: http::request::Parts,
    params: PathParams,
    remote_addr: SocketAddr,
    peer_addr: SocketAddr,
    secure: bool,
    state: Arc<StateMap>,
    principals: Vec<AnyPrincipal>,
    body: Bytes,
}

impl HttpCall {
    /// The request as extractors see it.
    pub fn request(&self) -> HandshakeRequest<'_> {
        HandshakeRequest {
            parts: &self.parts,
            params: &self.params,
            remote_addr: self.remote_addr,
            peer_addr: self.peer_addr,
            secure: self.secure,
            state: &self.state,
            principals: &self.principals,
        }
    }

    /// The request body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// The handler of an [`HttpRoute`], type-erased: the extractors and the call.
pub type HttpHandler = Arc<dyn Fn(HttpCall) -> HttpFuture + Send + Sync + 'static>;

/// A plain HTTP endpoint: a method, a path, guards, and a handler with its
/// extractors. `#[get("/rooms")]` generates one per handler (`routing!(app, rooms)`
/// adds it); [`Application::get`](crate::Application::get) and
/// [`Application::http`](crate::Application::http) take a closure of the request head.
#[derive(Clone)]
pub struct HttpRoute {
    pub(crate) method: Method,
    pub(crate) pattern: PathPattern,
    pub(crate) path_error: Option<PathError>,
    pub(crate) name: Cow<'static, str>,
    pub(crate) location: Cow<'static, str>,
    pub(crate) checks: Vec<StartupCheck>,
    pub(crate) guards: Vec<SharedGuard>,
    pub(crate) handler: HttpHandler,
}

impl std::fmt::Debug for HttpRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRoute")
            .field("method", &self.method)
            .field("path", &self.pattern.as_str())
            .field("handler", &self.name)
            .field("location", &self.location)
            .field("guards", &self.guards)
            .finish()
    }
}

impl HttpRoute {
    /// A route whose handler takes the request head.
    #[track_caller]
    pub fn new<F, Fut>(method: Method, path: &str, handler: F) -> Self
    where
        F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResponse> + Send + 'static,
    {
        let at = std::panic::Location::caller();
        Self::from_parts(
            method,
            path,
            "closure",
            format!("{}:{}:{}", at.file(), at.line(), at.column()),
            Vec::new(),
            Arc::new(move |call: HttpCall| Box::pin(handler(call.parts)) as HttpFuture),
        )
    }

    /// The building block the HTTP attributes expand to: a method, a path, the
    /// handler's name and location (for start-up errors), the extractors' start-up
    /// checks, and the handler.
    #[doc(hidden)]
    pub fn from_parts(
        method: Method,
        path: &str,
        name: impl Into<Cow<'static, str>>,
        location: impl Into<Cow<'static, str>>,
        checks: Vec<StartupCheck>,
        handler: HttpHandler,
    ) -> Self {
        let (pattern, path_error) = match PathPattern::parse(path) {
            Ok(p) => (p, None),
            Err(e) => (PathPattern::invalid(path), Some(e)),
        };
        Self {
            method,
            pattern,
            path_error,
            name: name.into(),
            location: location.into(),
            checks,
            guards: Vec::new(),
            handler,
        }
    }

    /// Adds a guard: it runs before the handler, after the guards already added, and
    /// either refuses the request (its status is the answer) or accepts it with a
    /// principal the handler can take as [`Principal<T>`](crate::Principal).
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

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path.
    pub fn path(&self) -> &str {
        self.pattern.as_str()
    }

    /// The handler's name.
    pub fn handler_name(&self) -> &str {
        &self.name
    }
}

/// The rejection of an extractor, as the handler's future (the expansion of the HTTP
/// attributes returns it when an extractor refuses the request).
#[doc(hidden)]
pub fn rejected(rejection: Rejection) -> HttpFuture {
    Box::pin(std::future::ready(rejection_response(rejection)))
}

/// The answer of a matched HTTP route: reads the body (up to [`HTTP_BODY_LIMIT`]),
/// runs the guards, then the handler.
pub(crate) async fn serve_http<B>(
    route: Arc<HttpRoute>,
    state: Arc<StateMap>,
    parts: http::request::Parts,
    body: B,
    params: PathParams,
    (remote_addr, peer_addr, secure): (SocketAddr, SocketAddr, bool),
) -> HttpResponse
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::BodyExt;
    let body = match http_body_util::Limited::new(body, HTTP_BODY_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return HttpResponse::status(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {HTTP_BODY_LIMIT} bytes"),
            );
        }
        Err(e) => {
            tracing::debug!(error = %e, "reading an HTTP request body failed");
            return HttpResponse::status(
                StatusCode::BAD_REQUEST,
                "the request body did not arrive",
            );
        }
    };
    let mut call = HttpCall {
        parts,
        params,
        remote_addr,
        peer_addr,
        secure,
        state,
        principals: Vec::with_capacity(route.guards.len()),
        body,
    };
    for guard in &route.guards {
        let principal = {
            let req = call.request();
            guard.0.run(&req).await
        };
        match principal {
            Ok(principal) => call.principals.push(principal),
            Err(rejection) => return rejection_response(rejection),
        }
    }
    (route.handler)(call).await
}
