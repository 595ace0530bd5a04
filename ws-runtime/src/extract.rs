//! Extractors: what a `#[web_socket]` handler can take as parameters.
//!
//! Request extractors ([`Path`], [`Query`], [`Headers`], [`State`], [`RemoteAddr`]) run
//! on the handshake, before the `101 Switching Protocols`: a request they cannot
//! satisfy gets `400 Bad Request` with the reason and never becomes a session. Session
//! extractors ([`WebSocketSession`], [`Incoming`], [`Outgoing`]) are filled in once
//! the connection is upgraded.

use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use crate::path::PathPattern;
use crate::session::{Incoming, Outgoing, RequestInfo, WebSocketSession};

/// A principal as guards leave it for the handler (see [`Principal`](crate::Principal)).
pub(crate) type AnyPrincipal = Arc<dyn Any + Send + Sync>;

/// Shared application state, keyed by type (`app.state(value)`).
#[derive(Clone, Default)]
pub struct StateMap {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("len", &self.values.len())
            .finish()
    }
}

impl StateMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.values.insert(TypeId::of::<T>(), value);
    }

    /// The value of type `T`, if one was installed.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.values
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// Whether a value of type `T` was installed.
    pub fn contains<T: Send + Sync + 'static>(&self) -> bool {
        self.values.contains_key(&TypeId::of::<T>())
    }
}

/// The upgrade request as guards and extractors see it.
pub struct HandshakeRequest<'a> {
    pub(crate) parts: &'a http::request::Parts,
    pub(crate) params: &'a [(Box<str>, Box<str>)],
    pub(crate) remote_addr: SocketAddr,
    pub(crate) peer_addr: SocketAddr,
    pub(crate) secure: bool,
    pub(crate) state: &'a StateMap,
    pub(crate) principals: &'a [AnyPrincipal],
}

impl HandshakeRequest<'_> {
    /// The request head.
    pub fn parts(&self) -> &http::request::Parts {
        self.parts
    }

    /// The `{name}` path parameters, decoded, in route order.
    pub fn params(&self) -> &[(Box<str>, Box<str>)] {
        self.params
    }

    /// The client's address: the peer's, or the one a trusted proxy forwarded
    /// (`Forwarded`, `X-Forwarded-For`, the PROXY protocol). Port 0 when the proxy
    /// forwarded none.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The address of the socket's peer (a proxy's, behind one).
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// `"https"` when the client reached the server over TLS (directly, or through a
    /// trusted proxy that says so in `X-Forwarded-Proto` or `Forwarded: proto=`),
    /// `"http"` otherwise.
    pub fn scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }

    /// The application state.
    pub fn state(&self) -> &StateMap {
        self.state
    }

    /// A header's value, if it is present once or more (the first) and is text.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.parts.headers.get(name)?.to_str().ok()
    }

    /// A query parameter, percent-decoded (the first, if it repeats).
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.parts.uri.query()?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
        pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// A cookie's value from the `Cookie` headers (RFC 6265 §5.4), without quotes.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| {
                let v = v.trim();
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
            })
    }

    /// The subprotocols the client offered in `Sec-WebSocket-Protocol`, in order. A
    /// browser can put a token here (`new WebSocket(url, ["chat", "token.abc"])`):
    /// the server selects only a protocol a route requires, never echoes the others.
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.parts
            .headers
            .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// The principal an earlier guard accepted this request with.
    pub fn principal<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.principals.iter().find_map(|p| p.downcast_ref::<T>())
    }

    pub(crate) fn principal_arc<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.principals
            .iter()
            .find_map(|p| p.clone().downcast::<T>().ok())
    }
}

/// An HTTP refusal of a handshake: a status, headers, and a reason sent as the body.
///
/// The body is `text/plain` unless a `Content-Type` header is added; in a plain-text
/// body, `<`, `>`, `&` and control characters are sent escaped (`\u{3c}`), so that a
/// reason quoting the request can never become markup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status sent.
    pub status: StatusCode,
    /// The reason, sent as the body.
    pub message: String,
    /// Headers sent with the status (boxed: most refusals have none).
    headers: Option<Box<HeaderMap>>,
}

impl Rejection {
    /// A refusal with a status and a reason.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            headers: None,
        }
    }

    /// `400 Bad Request` with a reason.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// `401 Unauthorized` with a `WWW-Authenticate` challenge (`"Bearer"`,
    /// `"Bearer realm=\"chat\""`) and a reason.
    pub fn unauthorized(challenge: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message).header(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(challenge),
        )
    }

    /// `403 Forbidden` with a reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// Adds a header to the answer.
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.headers.get_or_insert_default().append(name, value);
        self
    }

    /// The headers sent with the status.
    pub fn headers(&self) -> Option<&HeaderMap> {
        self.headers.as_deref()
    }

    pub(crate) fn into_parts(self) -> (StatusCode, String, HeaderMap) {
        (
            self.status,
            self.message,
            self.headers.map(|h| *h).unwrap_or_default(),
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

/// What the server knows when it checks routes at start-up.
pub struct StartupContext<'a> {
    pub(crate) state: &'a StateMap,
    pub(crate) pattern: &'a PathPattern,
    /// The principal types the route's guards yield (the application's included).
    pub(crate) principals: &'a [(TypeId, &'static str)],
}

impl StartupContext<'_> {
    /// The application state installed so far.
    pub fn state(&self) -> &StateMap {
        self.state
    }

    /// The route's path pattern.
    pub fn pattern(&self) -> &PathPattern {
        self.pattern
    }
}

/// A start-up check contributed by an extractor (e.g. "the state exists").
pub type StartupCheck = fn(&StartupContext<'_>) -> Result<(), String>;

/// The session's pieces, handed to session extractors after the upgrade.
pub struct SessionParts {
    pub(crate) incoming: Option<Incoming>,
    pub(crate) outgoing: Outgoing,
    pub(crate) info: Arc<RequestInfo>,
}

impl SessionParts {
    pub(crate) fn new(chan: Arc<crate::session::Chan>, info: Arc<RequestInfo>) -> Self {
        Self {
            incoming: Some(Incoming::new(chan.clone())),
            outgoing: Outgoing::new(chan),
            info,
        }
    }

    /// The whole session (takes `incoming`).
    pub fn into_session(mut self) -> WebSocketSession {
        self.take_session()
    }

    fn take_session(&mut self) -> WebSocketSession {
        let incoming = self.take_incoming();
        WebSocketSession::from_parts(incoming, self.outgoing.clone(), self.info.clone())
    }

    fn take_incoming(&mut self) -> Incoming {
        self.incoming.take().expect(
            "a handler may take `incoming` once: use either `WebSocketSession` or `Incoming`",
        )
    }
}

/// A parameter of a `#[web_socket]` handler.
///
/// `Early` is what is extracted on the handshake (and can refuse it); `from_session`
/// completes the value once the session exists.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a `#[web_socket]` handler",
    label = "not an extractor",
    note = "a handler's parameters are extractors: `WebSocketSession`, `Incoming`, `Outgoing`, `Path<T>`, `Query<T>`, `Headers`, `State<T>`, `RemoteAddr`, `Principal<T>`"
)]
pub trait HandlerParam: Sized + Send + 'static {
    /// What the handshake yields.
    type Early: Send + 'static;

    /// Runs on the handshake; an error refuses the upgrade.
    fn from_handshake(req: &HandshakeRequest<'_>) -> Result<Self::Early, Rejection>;

    /// Completes the parameter once the session exists.
    fn from_session(early: Self::Early, parts: &mut SessionParts) -> Self;

    /// Checked when the server starts, once per route.
    fn startup_check(_ctx: &StartupContext<'_>) -> Result<(), String> {
        Ok(())
    }
}

impl HandlerParam for WebSocketSession {
    type Early = ();
    fn from_handshake(_: &HandshakeRequest<'_>) -> Result<(), Rejection> {
        Ok(())
    }
    fn from_session((): (), parts: &mut SessionParts) -> Self {
        parts.take_session()
    }
}

impl HandlerParam for Incoming {
    type Early = ();
    fn from_handshake(_: &HandshakeRequest<'_>) -> Result<(), Rejection> {
        Ok(())
    }
    fn from_session((): (), parts: &mut SessionParts) -> Self {
        parts.take_incoming()
    }
}

impl HandlerParam for Outgoing {
    type Early = ();
    fn from_handshake(_: &HandshakeRequest<'_>) -> Result<(), Rejection> {
        Ok(())
    }
    fn from_session((): (), parts: &mut SessionParts) -> Self {
        parts.outgoing.clone()
    }
}

/// Extractors that are complete at handshake time.
macro_rules! early_only {
    ($ty:ty) => {
        fn from_session(early: Self::Early, _: &mut SessionParts) -> Self {
            early
        }
    };
}

/// The route's `{name}` path parameters, deserialized: a single value (`Path<String>`,
/// `Path<u32>`), a tuple in route order, or a struct/map by name.
///
/// A value that does not parse refuses the handshake with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<T> Deref for Path<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Send + 'static> HandlerParam for Path<T> {
    type Early = Self;
    fn from_handshake(req: &HandshakeRequest<'_>) -> Result<Self, Rejection> {
        T::deserialize(ParamsDeserializer { params: req.params })
            .map(Path)
            .map_err(|e| Rejection::bad_request(format!("invalid path parameters: {e}")))
    }
    early_only!(Self);
    fn startup_check(ctx: &StartupContext<'_>) -> Result<(), String> {
        if ctx.pattern().param_names().next().is_none() {
            return Err(format!(
                "takes `Path<{}>` but its path `{}` has no `{{name}}` segment",
                crate::error::readable_type_name(type_name::<T>()),
                ctx.pattern().as_str()
            ));
        }
        Ok(())
    }
}

/// The query string, deserialized (`Query<HashMap<String, String>>`, a struct, ...).
/// A query that does not deserialize refuses the handshake with 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + Send + 'static> HandlerParam for Query<T> {
    type Early = Self;
    fn from_handshake(req: &HandshakeRequest<'_>) -> Result<Self, Rejection> {
        let query = req.parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Query)
            .map_err(|e| Rejection::bad_request(format!("invalid query: {e}")))
    }
    early_only!(Self);
}

/// The handshake request's headers.
#[derive(Debug, Clone)]
pub struct Headers(pub HeaderMap);

impl Deref for Headers {
    type Target = HeaderMap;
    fn deref(&self) -> &HeaderMap {
        &self.0
    }
}

impl HandlerParam for Headers {
    type Early = Self;
    fn from_handshake(req: &HandshakeRequest<'_>) -> Result<Self, Rejection> {
        Ok(Headers(req.parts.headers.clone()))
    }
    early_only!(Self);
}

/// The peer's socket address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

impl HandlerParam for RemoteAddr {
    type Early = Self;
    fn from_handshake(req: &HandshakeRequest<'_>) -> Result<Self, Rejection> {
        Ok(RemoteAddr(req.remote_addr))
    }
    early_only!(Self);
}

/// Shared state installed with `app.state(value)`; dereferences to `T`.
///
/// A handler that takes `State<T>` while no `T` was installed stops the server at
/// start-up with an error naming the handler.
pub struct State<T>(pub Arc<T>);

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(self.0.clone())
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> HandlerParam for State<T> {
    type Early = Self;
    fn from_handshake(req: &HandshakeRequest<'_>) -> Result<Self, Rejection> {
        req.state.get::<T>().map(State).ok_or_else(|| {
            Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "state `{}` is not installed",
                    crate::error::readable_type_name(type_name::<T>())
                ),
            )
        })
    }
    early_only!(Self);
    fn startup_check(ctx: &StartupContext<'_>) -> Result<(), String> {
        if ctx.state().contains::<T>() {
            Ok(())
        } else {
            Err(format!(
                "takes `State<{0}>` but no `{0}` was installed: call `app.state(...)` with one",
                crate::error::readable_type_name(type_name::<T>())
            ))
        }
    }
}

// ----- path parameter deserializer -----

#[derive(Debug)]
struct ParamError(String);

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

impl de::Error for ParamError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        ParamError(msg.to_string())
    }
}

struct ParamsDeserializer<'a> {
    params: &'a [(Box<str>, Box<str>)],
}

impl<'a> ParamsDeserializer<'a> {
    fn single(&self) -> Result<ValueDeserializer<'a>, ParamError> {
        match self.params {
            [(name, value)] => Ok(ValueDeserializer { name, value }),
            _ => Err(ParamError(format!(
                "expected one path parameter, the route has {}",
                self.params.len()
            ))),
        }
    }
}

macro_rules! forward_single {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
            self.single()?.$method(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ParamsDeserializer<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        if self.params.len() == 1 {
            self.single()?.deserialize_any(visitor)
        } else {
            self.deserialize_map(visitor)
        }
    }

    forward_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_option
        deserialize_identifier
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        let values = self
            .params
            .iter()
            .map(|(name, value)| ValueDeserializer { name, value });
        visitor.visit_seq(de::value::SeqDeserializer::new(values))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        if len != self.params.len() {
            return Err(ParamError(format!(
                "expected a tuple of {len} path parameters, the route has {}",
                self.params.len()
            )));
        }
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        let entries = self
            .params
            .iter()
            .map(|(name, value)| (&**name, ValueDeserializer { name, value }));
        visitor.visit_map(de::value::MapDeserializer::new(entries))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_unit()
    }
}

struct ValueDeserializer<'a> {
    name: &'a str,
    value: &'a str,
}

impl<'a> IntoDeserializer<'a, ParamError> for ValueDeserializer<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
            match self.value.parse::<$ty>() {
                Ok(v) => visitor.$visit(v),
                Err(_) => Err(ParamError(format!(
                    "`{}` = `{}` is not a valid {}",
                    self.name, self.value, stringify!($ty)
                ))),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ParamError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_borrowed_str(self.value)
    }

    parse_value! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
        deserialize_char => visit_char: char,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ParamError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ParamError> {
        visitor.visit_enum(self.value.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn params(pairs: &[(&str, &str)]) -> Vec<(Box<str>, Box<str>)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn single_tuple_and_struct() {
        let one = params(&[("id", "42")]);
        let id: u32 = Deserialize::deserialize(ParamsDeserializer { params: &one }).unwrap();
        assert_eq!(id, 42);

        let two = params(&[("room", "lobby"), ("id", "7")]);
        let (room, id): (String, u8) =
            Deserialize::deserialize(ParamsDeserializer { params: &two }).unwrap();
        assert_eq!((room.as_str(), id), ("lobby", 7));

        #[derive(Deserialize)]
        struct P {
            id: u8,
            room: String,
        }
        let p: P = Deserialize::deserialize(ParamsDeserializer { params: &two }).unwrap();
        assert_eq!((p.id, p.room.as_str()), (7, "lobby"));
    }

    #[test]
    fn bad_value_names_the_parameter() {
        let one = params(&[("id", "x")]);
        let err =
            <u32 as Deserialize>::deserialize(ParamsDeserializer { params: &one }).unwrap_err();
        assert!(err.to_string().contains("`id` = `x`"), "{err}");
    }
}
