//! Why a client connection did not open, or how its handler failed.

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::error::HandlerError;
use crate::options::OptionsError;

/// Why [`Client::web_socket`](super::Client::web_socket) and the other client calls
/// failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not a `ws://` or `wss://` URL with a host.
    #[error("invalid WebSocket URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header or subprotocol of the [`ClientRequest`](super::ClientRequest) is not
    /// valid.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The installed options cannot work (a zero timeout, say).
    #[error("invalid client options: {0}")]
    Options(OptionsError),
    /// The TCP connection could not be made, or broke during the handshake.
    #[error("connection failed: {0}")]
    Io(#[from] io::Error),
    /// The TLS settings could not be loaded, or the TLS handshake failed (an untrusted
    /// or mismatched certificate, say).
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection was not open within `handshake_timeout` (TCP, TLS and the 101
    /// together).
    #[error("no WebSocket connection within {0:?} (`handshake_timeout`)")]
    Timeout(Duration),
    /// The server's answer was not HTTP/1.1, or the connection closed before a whole
    /// answer came.
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered, but not with a valid `101 Switching Protocols`.
    #[error(transparent)]
    Handshake(Box<HandshakeError>),
    /// The handler returned an error (the session was closed with 1011).
    #[error("the WebSocket handler failed: {0}")]
    Handler(HandlerError),
}

impl ClientError {
    /// The handshake's refusal, if that is what this is.
    pub fn handshake(&self) -> Option<&HandshakeError> {
        match self {
            ClientError::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

/// What was wrong with the server's answer to the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// Not `101 Switching Protocols`: the server refused (a 4xx or 5xx with its
    /// reason in the body), redirected (redirects are not followed), or is not a
    /// WebSocket endpoint.
    Status,
    /// A 101 without `Upgrade: websocket` and `Connection: Upgrade`.
    NotUpgraded,
    /// `Sec-WebSocket-Accept` is missing or is not the one our key calls for
    /// (RFC 6455 §4.1): the server did not read our handshake, or something between
    /// us answered in its place.
    BadAccept,
    /// `Sec-WebSocket-Extensions` names an extension we did not offer, names one
    /// twice, or has parameters we cannot honour: what, in words.
    Extension(String),
    /// `Sec-WebSocket-Protocol` names a subprotocol we did not offer.
    Protocol(String),
}

/// The server's answer to a handshake that failed: why, and the response as it came
/// (status, headers, and the body's first 64 KiB).
#[derive(Clone, Debug)]
pub struct HandshakeError {
    pub(crate) failure: HandshakeFailure,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl HandshakeError {
    /// What was wrong.
    pub fn failure(&self) -> &HandshakeFailure {
        &self.failure
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The response's body (its first 64 KiB; empty for a 101).
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            HandshakeFailure::Status => {
                write!(
                    f,
                    "the server answered {} instead of 101 Switching Protocols",
                    self.status
                )?;
                let body = String::from_utf8_lossy(&self.body);
                let body = body.trim();
                if !body.is_empty() {
                    let cut: String = body.chars().take(200).collect();
                    let more = if cut.len() < body.len() { "..." } else { "" };
                    write!(f, ": {cut}{more}")?;
                }
                Ok(())
            }
            HandshakeFailure::NotUpgraded => f.write_str(
                "the server's 101 response has no `Upgrade: websocket` and `Connection: Upgrade`",
            ),
            HandshakeFailure::BadAccept => f.write_str(
                "the server's `Sec-WebSocket-Accept` is missing or does not match our key",
            ),
            HandshakeFailure::Extension(why) => {
                write!(f, "the server's `Sec-WebSocket-Extensions`: {why}")
            }
            HandshakeFailure::Protocol(protocol) => write!(
                f,
                "the server chose the subprotocol `{protocol}`, which was not offered"
            ),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<HandshakeError> for ClientError {
    fn from(e: HandshakeError) -> Self {
        ClientError::Handshake(Box::new(e))
    }
}
