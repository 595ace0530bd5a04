//! The HTTP side of a connection: route matching and the WebSocket opening handshake
//! (RFC 6455 §4.2), as a hyper service.
//!
//! A valid upgrade request gets `101 Switching Protocols`; everything else gets a
//! defined HTTP answer: 404 for an unknown path, 405 for a method other than GET, 400
//! for a request that is not a valid upgrade (a plain GET, a bad key, a missing
//! subprotocol, an extractor that cannot parse the request), 426 with
//! `Sec-WebSocket-Version: 13` for another protocol version, 403 for a foreign origin.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::Either;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::admission::{Admission, IpCharge};
use crate::extension::{NegotiatedSet, negotiate, parse_extensions_header};
use crate::extract::AnyPrincipal;
use crate::extract::{HandshakeRequest, Rejection};
use crate::http_route::{HttpFuture, HttpResponse, rejection_response, serve_http};
use crate::path::PathParams;
use crate::proxy::Resolved;
use crate::router::{AppInner, HttpMatch};
use crate::routing::{Route, SessionStart};
use crate::session::RequestInfo;
use crate::telemetry::{self, Refused};

/// An accepted upgrade waiting for hyper to hand over the connection.
pub(crate) struct PendingUpgrade {
    pub(crate) on_upgrade: OnUpgrade,
    /// Boxed: it waits through the upgrade inside the connection's task, whose size
    /// every idle connection pays.
    pub(crate) setup: Box<SessionSetup>,
}

/// What the session needs once the connection is handed over.
pub(crate) struct SessionSetup {
    pub(crate) route: Arc<Route>,
    pub(crate) start: SessionStart,
    pub(crate) info: RequestInfo,
    pub(crate) negotiated: NegotiatedSet,
    /// The per-address count of a client behind a trusted proxy (resolved from the
    /// request), held as long as the session.
    pub(crate) charge: Option<IpCharge>,
}

/// Where the service leaves an accepted upgrade for the connection task.
pub(crate) type UpgradeSlot = Arc<Mutex<Option<PendingUpgrade>>>;

/// The hyper service of one connection.
pub(crate) struct Service {
    pub(crate) app: Arc<AppInner>,
    pub(crate) admission: Arc<Admission>,
    pub(crate) slot: UpgradeSlot,
    /// The socket's peer (or the address a PROXY protocol header gave).
    pub(crate) peer_addr: SocketAddr,
    /// Whether the connection came over TLS.
    pub(crate) secure: bool,
}

type Body = Full<Bytes>;
pub(crate) type ServiceFuture =
    Either<Ready<Result<Response<Body>, Infallible>>, HttpResponseFuture>;

/// A plain HTTP handler's future (or a guarded handshake's), mapped to hyper's
/// response type.
pub(crate) struct HttpResponseFuture(HttpFuture);

impl std::future::Future for HttpResponseFuture {
    type Output = Result<Response<Body>, Infallible>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(|r| Ok(r.into_inner()))
    }
}

fn respond(response: HttpResponse) -> ServiceFuture {
    Either::Left(ready(Ok(response.into_inner())))
}

fn reject(rejection: Rejection) -> ServiceFuture {
    respond(rejection_response(rejection))
}

/// A handshake refused by its checks: counted by its status, then answered.
fn refuse(rejection: Rejection) -> ServiceFuture {
    telemetry::refused(Refused::from_status(rejection.status));
    reject(rejection)
}

/// Any request body: hyper's own, or a framework's (axum's `Body`) when the application
/// is mounted as a tower service. The body of a handshake is refused unread.
impl<B> hyper::service::Service<Request<B>> for Service
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: Request<B>) -> Self::Future {
        let wants_upgrade = header_has_token(req.headers(), header::UPGRADE, "websocket");
        // A malformed target is the request's fault whatever it names: 400 before
        // routing, not a 404 for a path that only looks unknown.
        if wants_upgrade && let Err(rejection) = check_target(req.uri()) {
            return refuse(rejection);
        }
        let path = req.uri().path();
        let ws_routes = self.app.match_ws(path);

        if ws_routes.is_empty() || (!wants_upgrade && self.app.has_http_route(req.method(), path)) {
            return self.http(req);
        }
        self.handshake(req, ws_routes)
    }
}

impl Service {
    /// The handshake of a request for one given route, without route matching (an
    /// axum handler's upgrade, its path already routed by axum).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn call_route<B>(&self, req: Request<B>, route: &Arc<Route>) -> ServiceFuture {
        if let Err(rejection) = check_target(req.uri()) {
            return refuse(rejection);
        }
        self.handshake(req, vec![(route, PathParams::default())])
    }

    /// Validates an upgrade against its candidate routes, runs the guards and
    /// extractors, and answers.
    fn handshake<B>(
        &self,
        req: Request<B>,
        candidates: Vec<(&Arc<Route>, PathParams)>,
    ) -> ServiceFuture {
        let accepted = match self.validate(req, candidates) {
            Ok(accepted) => accepted,
            Err(rejection) => return refuse(rejection),
        };
        if accepted.route.guards.is_empty() {
            return match accepted.finish(&self.app, &self.slot, &[]) {
                Ok(response) => Either::Left(ready(Ok(response))),
                Err(rejection) => reject(rejection),
            };
        }
        let app = self.app.clone();
        let slot = self.slot.clone();
        Either::Right(HttpResponseFuture(Box::pin(async move {
            match accepted.guarded(app, slot).await {
                Ok(response) => HttpResponse(response),
                Err(rejection) => rejection_response(rejection),
            }
        })))
    }
}

/// A handshake found valid, its route chosen, waiting for its guards (if any) and
/// extractors.
pub(crate) struct Accepted {
    route: Arc<Route>,
    params: PathParams,
    protocol: Option<String>,
    negotiated: NegotiatedSet,
    accept: String,
    parts: http::request::Parts,
    on_upgrade: OnUpgrade,
    resolved: Resolved,
    peer_addr: SocketAddr,
    secure: bool,
    charge: Option<IpCharge>,
}

impl Service {
    fn http<B>(&self, req: Request<B>) -> ServiceFuture
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = req.into_parts();
        match self.app.match_http(&parts.method, parts.uri.path()) {
            HttpMatch::Found(route, params) => {
                let resolved = match &self.app.proxies {
                    Some(proxies) => proxies.resolve(self.peer_addr, &parts.headers),
                    None => Resolved {
                        addr: self.peer_addr,
                        secure: None,
                        host: None,
                    },
                };
                let secure = resolved.secure.unwrap_or(self.secure);
                let addrs = (resolved.addr, self.peer_addr, secure);
                let state = self.app.state.clone();
                Either::Right(HttpResponseFuture(Box::pin(serve_http(
                    route, state, parts, body, params, addrs,
                ))))
            }
            HttpMatch::MethodNotAllowed(allow) => {
                let allow =
                    HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static("GET"));
                respond(
                    HttpResponse::status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
                        .header(header::ALLOW, allow),
                )
            }
            HttpMatch::NotFound => {
                respond(HttpResponse::status(StatusCode::NOT_FOUND, "not found"))
            }
        }
    }

    /// Validates an upgrade request against the candidate routes of its path.
    fn validate<B>(
        &self,
        req: Request<B>,
        mut candidates: Vec<(&Arc<Route>, PathParams)>,
    ) -> Result<Accepted, Rejection> {
        let headers = req.headers();
        if req.method() != Method::GET {
            return Err(Rejection::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket handshake must use GET",
            ));
        }
        if req.version() < http::Version::HTTP_11 {
            return Err(Rejection::bad_request(
                "a WebSocket handshake needs HTTP/1.1",
            ));
        }
        // RFC 6455 §4.2.1 item 2 requires a Host header with the server's authority;
        // RFC 9112 §3.2: exactly one, a valid `uri-host [":" port]`.
        if single(headers, header::HOST).is_none_or(|h| !is_valid_host(h.as_bytes())) {
            return Err(Rejection::bad_request(
                "a WebSocket handshake needs exactly one valid `Host` header",
            ));
        }
        // An absolute-form target (`GET http://host/path`) names the host itself, and
        // that one counts (RFC 9112 §3.2.2): it must be valid too, without userinfo.
        let target_host = req.uri().authority().map(|a| a.as_str());
        if target_host.is_some_and(|a| !is_valid_host(a.as_bytes()))
            || req.uri().scheme_str().is_some_and(|s| !is_scheme(s))
        {
            return Err(Rejection::bad_request(
                "the request target's scheme or authority is not valid",
            ));
        }
        // Frames follow the handshake directly (RFC 6455 §4.1): a request body would be
        // left unread and its bytes taken as frames (a chunked one is), so refuse it.
        if headers.contains_key(header::TRANSFER_ENCODING)
            || headers
                .get_all(header::CONTENT_LENGTH)
                .iter()
                .any(|v| v.as_bytes().trim_ascii() != b"0")
        {
            return Err(Rejection::bad_request(
                "a WebSocket handshake must not have a body",
            ));
        }
        if !header_has_token(headers, header::UPGRADE, "websocket")
            || !header_has_token(headers, header::CONNECTION, "upgrade")
        {
            return Err(Rejection::bad_request(
                "this is a WebSocket endpoint: send `Connection: Upgrade` and `Upgrade: websocket`",
            ));
        }
        if single(headers, header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes().trim_ascii() != b"13")
        {
            return Err(Rejection::new(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported WebSocket version: this server speaks version 13",
            ));
        }
        let Some(key) =
            single(headers, header::SEC_WEBSOCKET_KEY).filter(|k| is_valid_key(k.as_bytes()))
        else {
            return Err(Rejection::bad_request(
                "`Sec-WebSocket-Key` must be one base64-encoded 16-byte value",
            ));
        };
        let key = key.as_bytes().trim_ascii();

        // Behind a trusted proxy, the client is who the proxy says, and so is the host
        // it asked for.
        let resolved = match &self.app.proxies {
            Some(proxies) => proxies.resolve(self.peer_addr, headers),
            None => Resolved {
                addr: self.peer_addr,
                secure: None,
                host: None,
            },
        };
        let host = resolved
            .host
            .as_deref()
            .or(target_host)
            .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()));
        self.app.origins.check(headers, host)?;

        // Subprotocol: the client's first offer that a route on this path requires,
        // else a route that requires none.
        let any_protocol = candidates.iter().any(|(r, _)| r.protocol.is_some());
        let offered: Vec<&str> = headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| any_protocol && !p.is_empty())
            .collect();
        let chosen = offered
            .iter()
            .find_map(|p| {
                candidates
                    .iter()
                    .position(|(route, _)| route.protocol.as_deref() == Some(*p))
                    .map(|i| (i, Some(*p)))
            })
            .or_else(|| {
                candidates
                    .iter()
                    .position(|(r, _)| r.protocol.is_none())
                    .map(|i| (i, None))
            });
        let Some((index, protocol)) = chosen.map(|(i, p)| (i, p.map(str::to_owned))) else {
            let required: Vec<&str> = candidates
                .iter()
                .filter_map(|(r, _)| r.protocol.as_deref())
                .collect();
            return Err(Rejection::bad_request(format!(
                "this endpoint requires the subprotocol {} in `Sec-WebSocket-Protocol`",
                required
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        };

        // A client behind a trusted proxy is counted against the per-address limit by
        // its own address (the connection itself was admitted as the proxy's).
        let charge = if resolved.addr != self.peer_addr
            && self.admission.limits.max_connections_per_ip != usize::MAX
        {
            match self.admission.charge(resolved.addr.ip()) {
                Some(charge) => Some(charge),
                None => {
                    let retry = self.admission.limits.retry_after.as_secs().max(1);
                    return Err(Rejection::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many connections from your address",
                    )
                    .header(header::RETRY_AFTER, HeaderValue::from(retry)));
                }
            }
        } else {
            None
        };

        let offers = headers
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_extensions_header)
            .collect::<Vec<_>>();
        let negotiated = if offers.is_empty() || self.app.options.extensions.is_empty() {
            NegotiatedSet::default()
        } else {
            negotiate(&self.app.options.extensions, &offers)
        };

        let (route, params) = candidates.swap_remove(index);
        let accept = derive_accept_key(key);
        let (mut parts, body) = req.into_parts();
        drop(body);
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or_else(|| Rejection::bad_request("connection cannot be upgraded"))?;
        Ok(Accepted {
            route: route.clone(),
            params,
            protocol,
            negotiated,
            accept,
            parts,
            on_upgrade,
            secure: resolved.secure.unwrap_or(self.secure),
            resolved,
            peer_addr: self.peer_addr,
            charge,
        })
    }
}

impl Accepted {
    /// Runs the route's guards in order, then finishes the handshake with the
    /// principals they yielded.
    async fn guarded(
        self,
        app: Arc<AppInner>,
        slot: UpgradeSlot,
    ) -> Result<Response<Body>, Rejection> {
        let route = self.route.clone();
        let mut principals = Vec::with_capacity(route.guards.len());
        for guard in &route.guards {
            let principal = {
                let req = self.request(&app, &principals);
                guard
                    .0
                    .run(&req)
                    .await
                    .inspect_err(|_| telemetry::refused(Refused::Guard))?
            };
            principals.push(principal);
        }
        self.finish(&app, &slot, &principals)
    }

    fn request<'a>(
        &'a self,
        app: &'a AppInner,
        principals: &'a [AnyPrincipal],
    ) -> HandshakeRequest<'a> {
        HandshakeRequest {
            parts: &self.parts,
            params: &self.params,
            remote_addr: self.resolved.addr,
            peer_addr: self.peer_addr,
            secure: self.secure,
            state: &app.state,
            principals,
        }
    }

    /// Runs the extractors, answers 101 and leaves the session's setup in the slot.
    fn finish(
        self,
        app: &AppInner,
        slot: &UpgradeSlot,
        principals: &[AnyPrincipal],
    ) -> Result<Response<Body>, Rejection> {
        let start = (self.route.prepare)(&self.request(app, principals))
            .inspect_err(|_| telemetry::refused(Refused::Extractor))?;
        let Accepted {
            route,
            params,
            protocol,
            mut negotiated,
            accept,
            parts,
            on_upgrade,
            resolved,
            charge,
            ..
        } = self;

        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
        );
        if let Some(protocol) = &protocol
            && let Ok(value) = HeaderValue::from_str(protocol)
        {
            h.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        if let Some(ext) = &negotiated.header
            && let Ok(value) = HeaderValue::from_str(ext)
        {
            h.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
        }

        let info = RequestInfo {
            request: crate::session::PackedRequest::new(
                parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
                &parts.headers,
            ),
            params,
            remote_addr: resolved.addr,
            protocol: protocol.map(String::into_boxed_str),
            extensions: std::mem::take(&mut negotiated.names).into_boxed_slice(),
            converter: app.options.content_converter.clone(),
        };
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(PendingUpgrade {
            on_upgrade,
            setup: Box::new(SessionSetup {
                route,
                start,
                info,
                negotiated,
                charge,
            }),
        });
        Ok(response)
    }
}

/// The header's value if it appears exactly once.
pub(crate) fn single(headers: &HeaderMap, name: header::HeaderName) -> Option<&HeaderValue> {
    let mut values = headers.get_all(name).into_iter();
    let first = values.next()?;
    values.next().is_none().then_some(first)
}

/// Whether a comma-separated header lists `token` (case-insensitive).
pub(crate) fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// An upgrade's target may hold only what RFC 3986 allows in a path and a query (§3.3,
/// §3.4): the `http` crate's parser also takes raw bytes above 0x7F, `{`, `}` and `"`,
/// and escapes it cannot decode. (A fragment never gets here: the parser drops it.)
fn check_target(uri: &http::Uri) -> Result<(), Rejection> {
    if is_uri_part(uri.path().as_bytes(), b"/")
        && uri.query().is_none_or(|q| is_uri_part(q.as_bytes(), b"/?"))
    {
        return Ok(());
    }
    Err(Rejection::bad_request(
        "the request target has characters RFC 3986 does not allow (percent-encode them)",
    ))
}

/// Whether `s` is RFC 3986 `pchar`s (unreserved, sub-delims, `:`, `@`, percent-encoded
/// octets) and the bytes in `also`.
fn is_uri_part(s: &[u8], also: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            if !s
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@".contains(&b)
            || also.contains(&b)
        {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// An RFC 3986 scheme (§3.1): a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(scheme: &str) -> bool {
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Whether a `Host` value is `uri-host [":" port]` with a non-empty host (RFC 9112 §3.2,
/// RFC 3986 §3.2.2: an IP literal in brackets, or a reg-name / IPv4 address of
/// unreserved, sub-delims and percent-encoded characters) and a port of at most 65535.
fn is_valid_host(value: &[u8]) -> bool {
    let value = value.trim_ascii();
    let (host, port) = if value.first() == Some(&b'[') {
        let Some(end) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let inside = &value[1..end];
        if inside.is_empty()
            || !inside
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (&value[..=end], &value[end + 1..])
    } else {
        let colon = value.iter().position(|&b| b == b':').unwrap_or(value.len());
        let host = &value[..colon];
        let mut i = 0;
        while i < host.len() {
            let b = host[i];
            if b == b'%' {
                if !host
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 3;
            } else if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
                i += 1;
            } else {
                return false;
            }
        }
        (host, &value[colon..])
    };
    if host.is_empty() {
        return false;
    }
    match port {
        [] | [b':'] => true,
        [b':', digits @ ..] => {
            digits.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<u16>().ok())
                    .is_some()
        }
        _ => false,
    }
}

/// A key is the base64 encoding of 16 bytes: 22 significant characters and `==`.
fn is_valid_key(key: &[u8]) -> bool {
    let key = key.trim_ascii();
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    key.len() == 24
        && key[22..] == *b"=="
        && key[..22].iter().all(|b| ALPHABET.contains(b))
        // The last character carries 2 bits of data and 4 zero bits.
        && b"AQgw".contains(&key[21])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_keys() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ="));
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZR=="));
        assert!(!is_valid_key(b"not base64 at all!!!!!=="));
        assert!(!is_valid_key(b""));
    }

    #[test]
    fn validates_targets() {
        assert!(is_uri_part(b"/rooms/a%20b:c@d", b"/"));
        assert!(!is_uri_part(b"/a b", b"/"));
        assert!(!is_uri_part(b"/a%+0", b"/"));
        assert!(!is_uri_part(b"/a{b}", b"/"));
        assert!(is_uri_part(b"x=1&y=/?", b"/?"));
    }

    #[test]
    fn validates_schemes() {
        assert!(is_scheme("http") && is_scheme("ws") && is_scheme("a+b-c.d1"));
        // Fuzz finding `handshake/target-bad-scheme`.
        assert!(!is_scheme("0http") && !is_scheme("") && !is_scheme("h_t"));
    }

    #[test]
    fn validates_hosts() {
        for good in [
            &b"example.com"[..],
            b"127.0.0.1:40000",
            b"[::1]:8080",
            b"[::1]",
            b"a%20b",
            b"x:",
            b" host.example ",
        ] {
            assert!(is_valid_host(good), "{:?}", String::from_utf8_lossy(good));
        }
        for bad in [
            &b""[..],
            b" ",
            b":8080",
            b"a b",
            b"a/b",
            b"a@b",
            b"x:99999",
            b"x:8o",
            b"[]",
            b"[::1",
            b"[::1]x",
            b"%zz",
            b"\xff",
        ] {
            assert!(!is_valid_host(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
