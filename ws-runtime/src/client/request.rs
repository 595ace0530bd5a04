//! What a client asks for: the URL, extra headers, the subprotocols it offers.

use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Uri};

use super::ClientError;

/// One handshake request: the URL (`ws://` or `wss://`; `http://` and `https://` are
/// taken as their WebSocket equivalents), the headers to send with it and the
/// subprotocols to offer, in order of preference (Ktor's `request = { header(..) }`).
///
/// A `&str` or `String` is a request with no more than its URL. Mistakes (a URL that
/// does not parse, a header name with a space) are reported when connecting, as
/// [`ClientError::InvalidUrl`] or [`ClientError::InvalidRequest`].
///
/// ```
/// use ws::client::ClientRequest;
///
/// let request = ClientRequest::new("wss://chat.example/rooms/lobby?since=10")
///     .header("Authorization", "Bearer t0ken")
///     .protocol("chat.v2")
///     .protocol("chat.v1");
/// assert_eq!(request.url(), "wss://chat.example/rooms/lobby?since=10");
/// assert_eq!(request.protocols(), ["chat.v2", "chat.v1"]);
/// ```
///
/// The handshake's own headers (`Upgrade`, `Connection`, `Sec-WebSocket-Key`,
/// `-Version`, `-Protocol` and `-Extensions`) are the client's: set here, they are
/// replaced. A `Host` set here replaces the URL's.
#[derive(Clone, Debug)]
pub struct ClientRequest {
    url: String,
    headers: HeaderMap,
    protocols: Vec<String>,
    raw: bool,
    error: Option<String>,
}

impl ClientRequest {
    /// A request for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            headers: HeaderMap::new(),
            protocols: Vec::new(),
            raw: false,
            error: None,
        }
    }

    /// Adds a header (another value if it is already there).
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let (name, value) = (name.as_ref(), value.as_ref());
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            (Err(_), _) => {
                self.error
                    .get_or_insert_with(|| format!("`{name}` is not a valid header name"));
            }
            (_, Err(_)) => {
                self.error.get_or_insert_with(|| {
                    format!("the value of `{name}` is not a valid header value")
                });
            }
        }
        self
    }

    /// Offers a subprotocol (`Sec-WebSocket-Protocol`); call again for more, in order
    /// of preference. The server's choice is [`WebSocketSession::protocol`]; a server
    /// that picks one not offered fails the handshake.
    ///
    /// [`WebSocketSession::protocol`]: crate::WebSocketSession::protocol
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        let protocol = protocol.into();
        let token = !protocol.is_empty()
            && protocol
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !token {
            self.error
                .get_or_insert_with(|| format!("`{protocol}` is not a valid subprotocol token"));
        }
        self.protocols.push(protocol);
        self
    }

    /// A raw session (Ktor's `webSocketRaw`): every frame the server sends reaches the
    /// handler, pings and close frames included, and nothing is answered by itself (no
    /// pongs, no close reply, no pings of ours).
    pub fn raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers added.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The subprotocols offered, in order.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Whether the session is raw.
    pub fn is_raw(&self) -> bool {
        self.raw
    }

    /// The same request for another URL.
    pub(crate) fn with_url(mut self, url: String) -> Self {
        self.url = url;
        self
    }

    /// The first mistake made building the request.
    pub(crate) fn check(&self) -> Result<(), ClientError> {
        match &self.error {
            Some(e) => Err(ClientError::InvalidRequest(e.clone())),
            None => Ok(()),
        }
    }

    /// The headers to send besides the handshake's own.
    pub(crate) fn extra_headers(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().filter(|(name, _)| {
            ![
                header::UPGRADE,
                header::CONNECTION,
                header::SEC_WEBSOCKET_KEY,
                header::SEC_WEBSOCKET_VERSION,
                header::SEC_WEBSOCKET_PROTOCOL,
                header::SEC_WEBSOCKET_EXTENSIONS,
                header::HOST,
            ]
            .contains(name)
        })
    }
}

impl From<&str> for ClientRequest {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl From<String> for ClientRequest {
    fn from(url: String) -> Self {
        Self::new(url)
    }
}

impl From<&String> for ClientRequest {
    fn from(url: &String) -> Self {
        Self::new(url.as_str())
    }
}

/// Where a request goes, from its URL.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) secure: bool,
    /// The host as the URL has it (an IPv6 address in brackets).
    host: String,
    pub(crate) port: u16,
    /// The `Host` header: the URL's authority.
    pub(crate) host_header: String,
    pub(crate) path_and_query: String,
    /// The whole URL, as the session's `uri()`.
    pub(crate) uri: Uri,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Target, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let secure = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("ws" | "http") => false,
            Some("wss" | "https") => true,
            Some(_) => return Err(invalid("the scheme must be `ws://` or `wss://`")),
            None => return Err(invalid("no scheme: write `ws://host/path`")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("no host: write `ws://host/path`"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the URL are not sent: use an `Authorization` header",
            ));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(invalid("no host: write `ws://host/path`"));
        }
        let port = authority
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let path_and_query = uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let path_and_query = if path_and_query.starts_with('/') {
            path_and_query
        } else {
            format!("/{path_and_query}")
        };
        Ok(Target {
            secure,
            host: host.to_owned(),
            port,
            host_header: authority.as_str().to_owned(),
            path_and_query,
            uri,
        })
    }

    /// The host to resolve and connect to (and to name in TLS): brackets removed.
    pub(crate) fn connect_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("ws://127.0.0.1:9000/chat?x=1").unwrap();
        assert!(!t.secure);
        assert_eq!((t.connect_host(), t.port), ("127.0.0.1", 9000));
        assert_eq!(t.host_header, "127.0.0.1:9000");
        assert_eq!(t.path_and_query, "/chat?x=1");
        let t = Target::parse("wss://[::1]/").unwrap();
        assert!(t.secure);
        assert_eq!((t.connect_host(), t.port), ("::1", 443));
        let t = Target::parse("ws://example.com").unwrap();
        assert_eq!((t.port, t.path_and_query.as_str()), (80, "/"));
        for bad in [
            "example.com/chat",
            "ftp://example.com/",
            "ws://user:pw@example.com/",
            "ws:///path",
            "not a url",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(ClientError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn request_mistakes_wait_for_the_connection() {
        let request = ClientRequest::new("ws://x/").header("bad name", "v");
        assert!(matches!(
            request.check(),
            Err(ClientError::InvalidRequest(_))
        ));
        let request = ClientRequest::new("ws://x/").protocol("a b");
        assert!(request.check().is_err());
        let request = ClientRequest::new("ws://x/")
            .header("X-Token", "1")
            .header("Sec-WebSocket-Key", "mine")
            .protocol("chat");
        assert!(request.check().is_ok());
        let extra: Vec<_> = request.extra_headers().map(|(n, _)| n.as_str()).collect();
        assert_eq!(extra, ["x-token"]);
    }
}
