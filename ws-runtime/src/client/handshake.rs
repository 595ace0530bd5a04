//! The client's opening handshake (RFC 6455 §4.1) over any transport, with hyper's
//! HTTP/1.1 client: the request with a fresh key, our subprotocols and extension
//! offers; the answer checked (101, `Upgrade`, `Connection`, `Sec-WebSocket-Accept`,
//! only what we offered); the transport back from hyper with the bytes it read past
//! the response.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::Poll;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::{ClientError, ClientRequest, Established, HandshakeError, HandshakeFailure, Target};
use crate::extension::{client_negotiate, client_offers, parse_extensions_header};
use crate::handshake::{header_has_token, single};
use crate::options::WebSocketOptions;
use crate::protocol::Stage;
use crate::session::{PackedRequest, RequestInfo};
use crate::transport::Transport;

/// The most of a refusal's body kept for the error.
const BODY_KEPT: usize = 64 * 1024;

/// Runs the handshake over `io` (connected to `peer`).
pub(crate) async fn run<T: Transport>(
    io: T,
    peer: SocketAddr,
    target: &Target,
    request: &ClientRequest,
    options: &WebSocketOptions,
) -> Result<Established<T>, ClientError> {
    let key = nonce();
    let offers = client_offers(&options.extensions);
    let host = request
        .headers()
        .get(header::HOST)
        .cloned()
        .map_or_else(|| HeaderValue::from_str(&target.host_header), Ok)
        .map_err(|_| ClientError::InvalidRequest("the URL's host is not a valid header".into()))?;
    let mut builder = Request::get(target.path_and_query.as_str())
        .header(header::HOST, host)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_KEY, key.as_str())
        .header(header::SEC_WEBSOCKET_VERSION, "13");
    if !request.protocols().is_empty() {
        builder = builder.header(
            header::SEC_WEBSOCKET_PROTOCOL,
            request.protocols().join(", "),
        );
    }
    if let Some(offers) = &offers {
        builder = builder.header(header::SEC_WEBSOCKET_EXTENSIONS, offers.as_str());
    }
    for (name, value) in request.extra_headers() {
        builder = builder.header(name, value);
    }
    let http_request = builder
        .body(Empty::<Bytes>::new())
        .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;

    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(64 * 1024)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(http_error)?;
    let mut conn = Conn::new(conn.with_upgrades());
    let mut response = conn
        .drive(sender.send_request(http_request))
        .await?
        .map_err(http_error)?;
    let status = response.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let body = conn.body(response.body_mut(), BODY_KEPT).await;
        return Err(refused(
            HandshakeFailure::Status,
            status,
            response.headers(),
            body,
        ));
    }
    let headers = response.headers();
    let fail = |failure| refused(failure, status, headers, Bytes::new());
    if !header_has_token(headers, header::UPGRADE, "websocket")
        || !header_has_token(headers, header::CONNECTION, "upgrade")
    {
        return Err(fail(HandshakeFailure::NotUpgraded));
    }
    let accept = single(headers, header::SEC_WEBSOCKET_ACCEPT);
    if accept.is_none_or(|a| a.as_bytes() != derive_accept_key(key.as_bytes()).as_bytes()) {
        return Err(fail(HandshakeFailure::BadAccept));
    }
    let protocol = match headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => None,
        [value] => {
            let value = value.to_str().unwrap_or_default().trim();
            if !request.protocols().iter().any(|p| p == value) {
                return Err(fail(HandshakeFailure::Protocol(value.to_owned())));
            }
            Some(value.to_owned().into_boxed_str())
        }
        _ => {
            return Err(fail(HandshakeFailure::Protocol(
                "(several `Sec-WebSocket-Protocol` headers)".into(),
            )));
        }
    };
    let mut answers = Vec::new();
    for value in headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS) {
        let Ok(value) = value.to_str() else {
            return Err(fail(HandshakeFailure::Extension("not text".into())));
        };
        answers.extend(parse_extensions_header(value));
    }
    let negotiated = if answers.is_empty() {
        Default::default()
    } else if offers.is_none() {
        let names: Vec<_> = answers.iter().map(|a| a.name.as_str()).collect();
        return Err(fail(HandshakeFailure::Extension(format!(
            "the server accepted {}, but no extension was offered",
            names.join(", ")
        ))));
    } else {
        client_negotiate(&options.extensions, &answers)
            .map_err(|why| fail(HandshakeFailure::Extension(why)))?
    };
    let info = RequestInfo {
        request: PackedRequest::new(&target.uri.to_string(), headers),
        params: Vec::new(),
        remote_addr: peer,
        protocol,
        extensions: negotiated.names.into_boxed_slice(),
        converter: options.content_converter.clone(),
    };
    let upgraded = conn
        .drive(hyper::upgrade::on(&mut response))
        .await?
        .map_err(http_error)?;
    let parts = upgraded
        .downcast::<TokioIo<T>>()
        .map_err(|_| ClientError::Http("the upgraded connection is not ours".into()))?;
    Ok(Established {
        io: parts.io.into_inner(),
        // Frames the server sent right behind its 101.
        leftover: parts.read_buf.to_vec(),
        info,
        stage: Stage::new(negotiated.extensions),
        raw: request.is_raw(),
    })
}

fn refused(
    failure: HandshakeFailure,
    status: StatusCode,
    headers: &HeaderMap,
    body: Bytes,
) -> ClientError {
    HandshakeError {
        failure,
        status,
        headers: headers.clone(),
        body,
    }
    .into()
}

pub(crate) fn http_error(e: hyper::Error) -> ClientError {
    ClientError::Http(e.to_string())
}

/// A hyper client connection, driven beside what waits on it (the response, its body,
/// the upgrade): all in the caller's task.
pub(crate) struct Conn<C> {
    conn: Pin<Box<C>>,
    done: bool,
}

impl<C: Future<Output = hyper::Result<()>>> Conn<C> {
    pub(crate) fn new(conn: C) -> Self {
        Self {
            conn: Box::pin(conn),
            done: false,
        }
    }

    /// Polls `fut` and the connection until `fut` is ready; an error if the
    /// connection ends first and `fut` cannot complete any more.
    pub(crate) async fn drive<F: Future>(&mut self, fut: F) -> Result<F::Output, ClientError> {
        let mut fut = pin!(fut);
        let mut ended = None;
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            if !self.done {
                if let Poll::Ready(result) = self.conn.as_mut().poll(cx) {
                    self.done = true;
                    ended = Some(result);
                } else {
                    return Poll::Pending;
                }
            }
            // The connection is over: whatever it was to deliver is delivered.
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            Poll::Ready(Err(match ended.take() {
                Some(Err(e)) => http_error(e),
                _ => ClientError::Http("the server closed the connection before answering".into()),
            }))
        })
        .await
    }

    /// A response body, up to `limit` bytes (what follows is not read).
    pub(crate) async fn body(&mut self, body: &mut hyper::body::Incoming, limit: usize) -> Bytes {
        let mut out = Vec::new();
        while out.len() < limit {
            match self.drive(body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        let take = data.len().min(limit - out.len());
                        out.extend_from_slice(&data[..take]);
                    }
                }
                _ => break,
            }
        }
        Bytes::from(out)
    }
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1: a nonce, new
/// for each connection).
fn nonce() -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&super::reconnect::random_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&super::reconnect::random_u64().to_le_bytes());
    base64(&bytes)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
        // RFC 6455 §1.3's sample nonce.
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn nonces_are_valid_keys_and_differ() {
        let (a, b) = (nonce(), nonce());
        assert_ne!(a, b);
        for key in [a, b] {
            assert_eq!(key.len(), 24);
            assert!(key.ends_with("=="));
        }
    }
}
