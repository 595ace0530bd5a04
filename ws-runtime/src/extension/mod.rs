//! WebSocket extensions, with Ktor's model: a factory negotiates on the handshake and
//! creates a per-session [`Extension`] that transforms each outgoing and incoming frame
//! and owns the RSV bits it claims.
//!
//! Negotiated extensions are a stage of the protocol core: a frame with an RSV bit that
//! no negotiated extension claims fails the connection with 1002; permessage-deflate,
//! when it is the only extension, inflates each payload as it arrives, straight into
//! the message being assembled; other extensions see each whole data frame (incoming in
//! reverse negotiation order, RFC 7692 §5) and each whole outgoing message (in
//! negotiation order). When no extension is negotiated none of this code runs.
//!
//! # Writing an extension
//!
//! ```
//! use ws_runtime::Rsv;
//! use ws_runtime::extension::{
//!     Extension, ExtensionError, ExtensionFactory, ExtensionParams, ExtFrame, IncomingContext,
//!     Negotiated,
//! };
//!
//! /// Flips every payload byte (a toy: each side undoes what the other did).
//! #[derive(Default)]
//! struct Invert;
//!
//! struct InvertSession;
//!
//! impl ExtensionFactory for Invert {
//!     fn name(&self) -> &str {
//!         "x-invert"
//!     }
//!     fn rsv(&self) -> Rsv {
//!         Rsv::RSV2
//!     }
//!     fn negotiate(&self, offers: &[ExtensionParams]) -> Option<Negotiated> {
//!         offers.first()?;
//!         Some(Negotiated::new(ExtensionParams::new("x-invert"), InvertSession))
//!     }
//! }
//!
//! impl Extension for InvertSession {
//!     fn process_outgoing(&mut self, mut frame: ExtFrame) -> Result<ExtFrame, ExtensionError> {
//!         frame.payload = frame.payload.iter().map(|b| !b).collect::<Vec<u8>>().into();
//!         frame.rsv = frame.rsv | Rsv::RSV2;
//!         Ok(frame)
//!     }
//!     fn process_incoming(
//!         &mut self,
//!         mut frame: ExtFrame,
//!         _ctx: &IncomingContext,
//!     ) -> Result<ExtFrame, ExtensionError> {
//!         if frame.rsv.contains(Rsv::RSV2) {
//!             frame.payload = frame.payload.iter().map(|b| !b).collect::<Vec<u8>>().into();
//!             frame.rsv = frame.rsv.without(Rsv::RSV2);
//!         }
//!         Ok(frame)
//!     }
//! }
//! ```

pub(crate) mod deflate;

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::frame::CloseCode;

use crate::frame::Rsv;
pub use deflate::{Deflate, DeflateMemory};

pub(crate) use deflate::DeflateClass;
use deflate::DeflateSession;

/// The kind of a data frame an extension sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// First frame of a text message.
    Text,
    /// First frame of a binary message.
    Binary,
    /// A later fragment of the current message.
    Continuation,
}

/// A data frame as extensions see it: header bits and the unmasked payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtFrame {
    /// Text, binary or continuation.
    pub kind: DataKind,
    /// Whether this is the last frame of its message.
    pub fin: bool,
    /// The reserved bits.
    pub rsv: Rsv,
    /// The payload, unmasked.
    pub payload: Bytes,
}

/// What an extension knows about the incoming frame it processes.
#[derive(Clone, Debug)]
pub struct IncomingContext {
    /// The RSV bits of the first frame of the message this frame belongs to.
    pub message_rsv: Rsv,
    /// Bytes of this message already produced (after processing) before this frame.
    pub message_len: usize,
    /// Largest message size allowed after processing: an extension that expands data
    /// (a decompressor) must fail with [`ExtensionError::TooBig`] rather than produce more.
    pub max_message_size: usize,
}

impl IncomingContext {
    /// Bytes this frame may still produce before the message is too big.
    pub fn remaining(&self) -> usize {
        self.max_message_size.saturating_sub(self.message_len)
    }
}

/// Why an extension refused a frame; each maps to the close code sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// The frame breaks the extension's protocol: close 1002.
    #[error("extension protocol error: {0}")]
    Protocol(String),
    /// The payload is malformed (for example a corrupt deflate stream): close 1007.
    #[error("invalid extension data: {0}")]
    InvalidData(String),
    /// The processed message would exceed the size limit: close 1009.
    #[error("message too big: over {limit} bytes after processing")]
    TooBig {
        /// The limit in bytes.
        limit: usize,
    },
    /// The extension failed for its own reasons: close 1011.
    #[error("extension failure: {0}")]
    Internal(String),
}

impl ExtensionError {
    /// The close code this error sends.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ExtensionError::Protocol(_) => CloseCode::PROTOCOL_ERROR,
            ExtensionError::InvalidData(_) => CloseCode::NOT_CONSISTENT,
            ExtensionError::TooBig { .. } => CloseCode::TOO_BIG,
            ExtensionError::Internal(_) => CloseCode::INTERNAL_ERROR,
        }
    }
}

/// One element of a `Sec-WebSocket-Extensions` header: a name and its parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtensionParams {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order, each with its value if it had one (quotes removed).
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionParams {
    /// An element with no parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, name: impl Into<String>, value: Option<String>) -> Self {
        self.params.push((name.into(), value));
        self
    }

    /// The value of the first parameter so named: `None` if absent, `Some(None)` if
    /// present without a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref())
    }
}

impl fmt::Display for ExtensionParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            match value {
                Some(value) => write!(f, "; {name}={value}")?,
                None => write!(f, "; {name}")?,
            }
        }
        Ok(())
    }
}

/// Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1) into its offers, in order.
/// Elements that do not parse are skipped.
pub fn parse_extensions_header(value: &str) -> Vec<ExtensionParams> {
    split_outside_quotes(value, ',')
        .filter_map(|element| {
            let mut parts = split_outside_quotes(element, ';');
            let name = parts.next()?.trim();
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return None;
            }
            let mut offer = ExtensionParams::new(name);
            for param in parts {
                let param = param.trim();
                if param.is_empty() {
                    return None;
                }
                let (key, value) = match param.split_once('=') {
                    Some((k, v)) => {
                        let v = v.trim();
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .unwrap_or(v);
                        (k.trim(), Some(v.to_string()))
                    }
                    None => (param, None),
                };
                if key.is_empty() || !key.bytes().all(is_token_byte) {
                    return None;
                }
                offer.params.push((key.to_string(), value));
            }
            Some(offer)
        })
        .collect()
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut in_quotes = false;
    let mut done = false;
    let mut chars = s.char_indices();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        for (i, c) in chars.by_ref() {
            if c == '"' {
                in_quotes = !in_quotes;
            } else if c == sep && !in_quotes {
                let part = &s[start..i];
                start = i + c.len_utf8();
                return Some(part);
            }
        }
        done = true;
        Some(&s[start..])
    })
}

/// What a factory agreed to on a handshake: the response element and the session's
/// extension instance.
pub struct Negotiated {
    pub(crate) response: ExtensionParams,
    pub(crate) extension: SessionExtension,
}

impl Negotiated {
    /// The element to put in the response's `Sec-WebSocket-Extensions`, and the
    /// extension that will process this session's frames.
    pub fn new(response: ExtensionParams, extension: impl Extension) -> Self {
        Self {
            response,
            extension: SessionExtension::Custom(Rsv::NONE, Box::new(extension)),
        }
    }

    /// The built-in permessage-deflate: the protocol core runs it without the
    /// [`Extension`] trait's frame copies.
    pub(crate) fn deflate(response: ExtensionParams, session: DeflateSession) -> Self {
        Self {
            response,
            extension: SessionExtension::Deflate(Box::new(session)),
        }
    }
}

/// A negotiated extension of one session, as the protocol core holds it.
pub(crate) enum SessionExtension {
    /// permessage-deflate (RSV1).
    Deflate(Box<DeflateSession>),
    /// An extension written against the [`Extension`] trait, with the bits it owns.
    Custom(Rsv, Box<dyn Extension>),
}

/// Installed once in the options; negotiates an extension on each handshake
/// (Ktor's `WebSocketExtensionFactory`): as a server with
/// [`negotiate`](Self::negotiate), as a client with
/// [`client_offer`](Self::client_offer) and [`client_accept`](Self::client_accept).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket extension",
    label = "does not implement `ExtensionFactory`",
    note = "an extension is `Deflate` or a type implementing `ws::extension::ExtensionFactory`"
)]
pub trait ExtensionFactory: Send + Sync + 'static {
    /// The extension token in `Sec-WebSocket-Extensions`.
    fn name(&self) -> &str;

    /// The RSV bits this extension owns. Two installed extensions may not share a bit.
    fn rsv(&self) -> Rsv;

    /// Given the client's offers of this extension (every element with this name, in
    /// the client's order), accept one or decline all (`None`).
    fn negotiate(&self, offers: &[ExtensionParams]) -> Option<Negotiated>;

    /// Checks the extension's settings when the server starts; an error stops it.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// On a [client](crate::client::Client): the element to offer in the request's
    /// `Sec-WebSocket-Extensions`, or `None` (the default) if this extension has no
    /// client side and is not offered. [`Deflate`] offers permessage-deflate.
    fn client_offer(&self) -> Option<ExtensionParams> {
        None
    }

    /// On a client: takes the server's answer to [`client_offer`](Self::client_offer)
    /// (its element of the response's `Sec-WebSocket-Extensions`) and creates the
    /// session's extension, or says why the answer cannot be honoured (the handshake
    /// then fails with that message).
    fn client_accept(&self, response: &ExtensionParams) -> Result<Negotiated, String> {
        let _ = response;
        Err(format!("`{}` has no client side", self.name()))
    }
}

/// A negotiated extension of one session (Ktor's `WebSocketExtension`).
pub trait Extension: Send + 'static {
    /// Transforms a whole outgoing message (text or binary, `fin` set) before it is
    /// framed. May set the extension's RSV bits.
    fn process_outgoing(&mut self, frame: ExtFrame) -> Result<ExtFrame, ExtensionError>;

    /// Transforms an incoming data frame, and must clear the RSV bits it owns. Frames
    /// of a fragmented message arrive one by one; `ctx.message_rsv` tells the bits of
    /// the message's first frame.
    fn process_incoming(
        &mut self,
        frame: ExtFrame,
        ctx: &IncomingContext,
    ) -> Result<ExtFrame, ExtensionError>;
}

/// The outcome of negotiating every installed extension against a request.
#[derive(Default)]
pub(crate) struct NegotiatedSet {
    pub(crate) header: Option<String>,
    pub(crate) extensions: Vec<SessionExtension>,
    pub(crate) names: Vec<String>,
}

/// Negotiates each installed factory, in order, against the offers of a request.
pub(crate) fn negotiate(
    factories: &[Arc<dyn ExtensionFactory>],
    offers: &[ExtensionParams],
) -> NegotiatedSet {
    let mut set = NegotiatedSet {
        header: None,
        extensions: Vec::new(),
        names: Vec::new(),
    };
    let mut header = String::new();
    for factory in factories {
        let mine: Vec<ExtensionParams> = offers
            .iter()
            .filter(|o| o.name.eq_ignore_ascii_case(factory.name()))
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        if let Some(negotiated) = factory.negotiate(&mine) {
            if !header.is_empty() {
                header.push_str(", ");
            }
            header.push_str(&negotiated.response.to_string());
            set.names.push(factory.name().to_string());
            let extension = match negotiated.extension {
                SessionExtension::Custom(_, extension) => {
                    SessionExtension::Custom(factory.rsv(), extension)
                }
                deflate => deflate,
            };
            set.extensions.push(extension);
        }
    }
    if !header.is_empty() {
        set.header = Some(header);
    }
    set
}

/// A client's offers: the request's `Sec-WebSocket-Extensions` value (`None`: nothing
/// to offer), from every installed extension that has a client side.
pub(crate) fn client_offers(factories: &[Arc<dyn ExtensionFactory>]) -> Option<String> {
    let mut header = String::new();
    for offer in factories.iter().filter_map(|f| f.client_offer()) {
        if !header.is_empty() {
            header.push_str(", ");
        }
        header.push_str(&offer.to_string());
    }
    (!header.is_empty()).then_some(header)
}

/// A client takes the server's `Sec-WebSocket-Extensions` answer: each element must
/// name an extension we offered, once, with parameters its factory accepts. The
/// session's extensions are in the response's order (RFC 7692 §5).
pub(crate) fn client_negotiate(
    factories: &[Arc<dyn ExtensionFactory>],
    answers: &[ExtensionParams],
) -> Result<NegotiatedSet, String> {
    let mut set = NegotiatedSet::default();
    for answer in answers {
        let Some(factory) = factories
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(&answer.name) && f.client_offer().is_some())
        else {
            return Err(format!(
                "the server accepted the extension `{}`, which was not offered",
                answer.name
            ));
        };
        if set
            .names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(&answer.name))
        {
            return Err(format!(
                "the server accepted the extension `{}` twice",
                answer.name
            ));
        }
        let negotiated = factory
            .client_accept(answer)
            .map_err(|e| format!("the server's `{answer}`: {e}"))?;
        set.names.push(factory.name().to_string());
        set.extensions.push(match negotiated.extension {
            SessionExtension::Custom(_, extension) => {
                SessionExtension::Custom(factory.rsv(), extension)
            }
            deflate => deflate,
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offers_with_params_and_quotes() {
        let offers = parse_extensions_header(
            "permessage-deflate; client_max_window_bits, permessage-deflate; server_max_window_bits=\"10\", x-foo",
        );
        assert_eq!(offers.len(), 3);
        assert_eq!(offers[0].get("client_max_window_bits"), Some(None));
        assert_eq!(offers[1].get("server_max_window_bits"), Some(Some("10")));
        assert_eq!(offers[2].name, "x-foo");
    }

    #[test]
    fn skips_malformed_elements() {
        let offers = parse_extensions_header("permessage-deflate; ; x, , ok");
        assert_eq!(offers, vec![ExtensionParams::new("ok")]);
    }
}
