//! `WebSocketOptions`: the plugin's settings, with Ktor's names and defaults.
//!
//! `install!(app, WebSockets { ping_period = 15s, ... })` expands to calls of these
//! setters; everything the macro can say, this builder can say too.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::convert::ContentConverter;
use crate::extension::ExtensionFactory;

/// What happens when a session's outgoing queue is full (Ktor 3.4's `ChannelOverflow`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelOverflow {
    /// `send` waits until the writer has made room (Ktor's `SUSPEND`). The default.
    ///
    /// Broadcasts never wait: a peer whose queue is full when a broadcast reaches it is
    /// closed with 1008 `VIOLATED_POLICY`, so one slow reader cannot stall the others.
    #[default]
    Suspend,
    /// A `send` that finds the queue full fails, and the session is closed with 1008
    /// `VIOLATED_POLICY` "Outgoing queue overflow" (Ktor's `CLOSE`).
    Close,
}

/// Which browser origins may open sessions (`allowed_origins`).
///
/// A browser sends `Origin` with every WebSocket handshake, and sends the site's
/// cookies with it whichever page opened the socket: without a check, any page a
/// logged-in user visits can open a session in their name (cross-site WebSocket
/// hijacking). So by default a request whose `Origin` names another host than the one
/// it was sent to (its `Host`, or the host a trusted proxy forwarded) is refused with
/// `403 Forbidden` before the upgrade, as gorilla/websocket does. Requests without
/// `Origin` come from programs, not browsers, and pass.
///
///
/// ```
/// use ws_runtime::{AllowedOrigins, WebSocketOptions};
///
/// // The default: pages served by this host only.
/// assert_eq!(WebSocketOptions::new().allowed_origins, AllowedOrigins::SameHost);
/// // These pages too (`*.` for every subdomain).
/// let options = WebSocketOptions::new()
///     .allowed_origins(["https://app.example", "https://*.app.example"]);
/// // No check: only for endpoints that use no cookies or other ambient credentials.
/// let open = WebSocketOptions::new().allowed_origins(AllowedOrigins::Any);
/// # let _ = (options, open);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedOrigins {
    /// Pages of the host the request was sent to (`Origin`'s host and port are the
    /// request's `Host`). The default.
    #[default]
    SameHost,
    /// The same host and these origins (`scheme://host[:port]`, or
    /// `scheme://*.domain[:port]` for the subdomains of `domain`).
    List(Vec<String>),
    /// Every origin: the check is off. Safe only where a session carries no ambient
    /// credentials (cookies, HTTP authentication, client certificates, an address
    /// allow-list): then a foreign page can do nothing a plain client could not.
    Any,
}

impl<S: Into<String>, const N: usize> From<[S; N]> for AllowedOrigins {
    fn from(list: [S; N]) -> Self {
        AllowedOrigins::List(list.into_iter().map(Into::into).collect())
    }
}

impl<S: Into<String>> From<Vec<S>> for AllowedOrigins {
    fn from(list: Vec<S>) -> Self {
        AllowedOrigins::List(list.into_iter().map(Into::into).collect())
    }
}

impl<S: Into<String> + Clone> From<&[S]> for AllowedOrigins {
    fn from(list: &[S]) -> Self {
        AllowedOrigins::List(list.iter().cloned().map(Into::into).collect())
    }
}

/// Settings of the WebSockets plugin (Ktor's `WebSocketOptions`).
///
#[doc = include_str!(concat!(env!("OUT_DIR"), "/options_table.md"))]
///
/// (The table is `install!`'s, generated from `ws-dsl/src/keys.rs`: a key is written
/// there once, with its setter here.)
///
/// Each setting is a field, read as `options.ping_period`; the builder method of the
/// same name sets it (as `install!` does). Settings are checked together when the
/// server starts ([`validate`](Self::validate)).
///
/// ```
/// use std::time::Duration;
/// use ws_runtime::WebSocketOptions;
///
/// let options = WebSocketOptions::new()
///     .ping_period(Duration::from_secs(15))
///     .timeout(Duration::from_secs(15))
///     .max_frame_size(u64::MAX)
///     .masking(false);
/// assert_eq!(options.ping_period, Some(Duration::from_secs(15)));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct WebSocketOptions {
    /// Send a Ping this often (`None`: no pings).
    pub ping_period: Option<Duration>,
    /// No Pong within it closes the session with 1011; also how long a close handshake may take.
    pub timeout: Duration,
    /// The largest incoming message, Ktor-style (`maxFrameSize`).
    pub max_frame_size: u64,
    /// Whether masking was asked for (a server must not mask: refused at start-up).
    pub masking: bool,
    /// The largest incoming message after reassembly and inflation.
    pub max_message_size: u64,
    /// The outgoing queue bound in frames.
    pub outgoing_capacity: usize,
    /// The outgoing queue bound in payload bytes.
    pub outgoing_capacity_bytes: usize,
    /// What a full outgoing queue does.
    pub outgoing_overflow: ChannelOverflow,
    /// Frames read ahead of the handler.
    pub incoming_capacity: usize,
    /// How long a client may take to send its request's headers.
    pub handshake_timeout: Duration,
    /// No frame either way for this long closes the session with 1001 (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// The incoming message rate limit, if set.
    pub max_messages_per_second: Option<u32>,
    /// Which browser origins may open sessions.
    pub allowed_origins: AllowedOrigins,
    /// The most bytes one socket read takes.
    pub read_buffer_size: usize,
    /// Encoded bytes gathered before the writer writes.
    pub write_buffer_size: usize,
    pub(crate) extensions: Vec<Arc<dyn ExtensionFactory>>,
    pub(crate) content_converter: Option<Arc<dyn ContentConverter>>,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        Self {
            ping_period: None,
            timeout: Duration::from_secs(15),
            max_frame_size: u64::MAX,
            masking: false,
            max_message_size: 64 << 20,
            outgoing_capacity: 64,
            outgoing_capacity_bytes: 4 << 20,
            outgoing_overflow: ChannelOverflow::Suspend,
            incoming_capacity: 32,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(300)),
            max_messages_per_second: None,
            allowed_origins: AllowedOrigins::SameHost,
            read_buffer_size: 64 << 10,
            write_buffer_size: 64 << 10,
            extensions: Vec::new(),
            content_converter: None,
        }
    }
}

impl fmt::Debug for WebSocketOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketOptions")
            .field("ping_period", &self.ping_period)
            .field("timeout", &self.timeout)
            .field("max_frame_size", &self.max_frame_size)
            .field("masking", &self.masking)
            .field("max_message_size", &self.max_message_size)
            .field("outgoing_capacity", &self.outgoing_capacity)
            .field("outgoing_capacity_bytes", &self.outgoing_capacity_bytes)
            .field("outgoing_overflow", &self.outgoing_overflow)
            .field("incoming_capacity", &self.incoming_capacity)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_messages_per_second", &self.max_messages_per_second)
            .field("allowed_origins", &self.allowed_origins)
            .field("read_buffer_size", &self.read_buffer_size)
            .field("write_buffer_size", &self.write_buffer_size)
            .field(
                "extensions",
                &self.extensions.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .field("content_converter", &self.content_converter.is_some())
            .finish()
    }
}

/// A setting that cannot work, reported when the server starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// `masking = true`: RFC 6455 §5.1 forbids a server to mask its frames.
    #[error("`masking = true`: a server must not mask the frames it sends (RFC 6455 §5.1)")]
    MaskingOnServer,
    /// A duration that must be positive is zero.
    #[error("`{0}` must be greater than zero")]
    Zero(&'static str),
    /// Two extensions claim the same RSV bit.
    #[error(
        "extensions `{first}` and `{second}` both claim {bit}; each RSV bit may belong to one extension"
    )]
    RsvConflict {
        /// The extension installed first.
        first: String,
        /// The extension installed second.
        second: String,
        /// The bit both claim (`RSV1`, `RSV2` or `RSV3`).
        bit: &'static str,
    },
    /// An `allowed_origins` entry is not an origin.
    #[error("`allowed_origins`: {0}")]
    Origin(String),
    /// Two extensions share one name.
    #[error("extension `{0}` is installed twice")]
    DuplicateExtension(String),
    /// An extension's own settings are invalid.
    #[error("extension `{name}`: {message}")]
    Extension {
        /// The extension.
        name: String,
        /// What is wrong.
        message: String,
    },
}

impl WebSocketOptions {
    /// The defaults of the table above.
    pub fn new() -> Self {
        Self::default()
    }

    /// Send a Ping this often (Ktor's `pingPeriod`); off by default.
    pub fn ping_period(mut self, period: impl Into<Option<Duration>>) -> Self {
        self.ping_period = period.into();
        self
    }

    /// With pings on, how long to wait for the Pong before closing with 1011 "Ping
    /// timeout" (Ktor's `timeout`, 15 s). Also bounds how long a close handshake may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest incoming message in bytes (Ktor's `maxFrameSize`, checked on the
    /// reassembled message as Ktor does); larger ones close the session with 1009.
    pub fn max_frame_size(mut self, bytes: u64) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Mask outgoing frames (Ktor's `masking`). A server must not (RFC 6455 §5.1):
    /// `true` makes the server refuse to start.
    pub fn masking(mut self, masking: bool) -> Self {
        self.masking = masking;
        self
    }

    /// Largest incoming message in bytes, after reassembly and inflation (64 MiB).
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Bound of each session's outgoing queue, in frames (64).
    pub fn outgoing_capacity(mut self, frames: usize) -> Self {
        self.outgoing_capacity = frames;
        self
    }

    /// Bound of each session's outgoing queue in bytes of payload (4 MiB), counting the
    /// frames taken for writing and not written yet. A frame larger than the bound is
    /// queued alone.
    pub fn outgoing_capacity_bytes(mut self, bytes: usize) -> Self {
        self.outgoing_capacity_bytes = bytes;
        self
    }

    /// A session with no frame either way for this long is closed with 1001 "Idle
    /// timeout" (5 minutes; pings count as frames). `None` turns it off.
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// At most this many messages per second from a peer (a token bucket holding one
    /// second's worth); beyond it the session is closed with 1008 "Message rate
    /// exceeded". Off by default.
    pub fn max_messages_per_second(mut self, rate: impl Into<Option<u32>>) -> Self {
        self.max_messages_per_second = rate.into();
        self
    }

    /// What a full outgoing queue does: wait or close the session (wait).
    pub fn outgoing_overflow(mut self, overflow: ChannelOverflow) -> Self {
        self.outgoing_overflow = overflow;
        self
    }

    /// How many frames are read ahead of the handler before reading pauses (32).
    pub fn incoming_capacity(mut self, frames: usize) -> Self {
        self.incoming_capacity = frames;
        self
    }

    /// How long a client may take to send its upgrade request's headers (10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Which browser origins may open sessions. By default only pages of the host the
    /// request was sent to ([`AllowedOrigins::SameHost`]); a list (`["https://app.example",
    /// "https://*.app.example"]`) adds origins; [`AllowedOrigins::Any`] turns the check
    /// off. A request whose `Origin` is not allowed gets 403; requests without `Origin`
    /// (non-browser clients) pass. Entries are checked when the server starts.
    pub fn allowed_origins(mut self, origins: impl Into<AllowedOrigins>) -> Self {
        self.allowed_origins = origins.into();
        self
    }

    /// The most bytes one socket read takes (64 KiB, also the largest: reads go into a
    /// buffer each worker thread shares between its connections, so no connection holds
    /// a read buffer of its own). A large payload in progress is read straight into its
    /// message buffer whatever this says.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Bytes of encoded frames gathered before the writer writes to the socket without
    /// waiting for the end of the batch (64 KiB).
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Offer an extension; extensions are negotiated in the order they are added.
    pub fn extension(mut self, extension: impl ExtensionFactory) -> Self {
        self.extensions.push(Arc::new(extension));
        self
    }

    /// The converter `send_serialized` and `receive_deserialized` use.
    pub fn content_converter(mut self, converter: impl ContentConverter) -> Self {
        self.content_converter = Some(Arc::new(converter));
        self
    }

    /// The effective incoming message limit: the smaller of `max_frame_size` and
    /// `max_message_size`.
    pub fn message_limit(&self) -> usize {
        usize::try_from(self.max_frame_size.min(self.max_message_size)).unwrap_or(usize::MAX)
    }

    /// Names of the installed extensions, in negotiation order.
    pub fn extension_names(&self) -> Vec<&str> {
        self.extensions.iter().map(|e| e.name()).collect()
    }

    /// Checks the settings; the server runs this before it binds.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.masking {
            return Err(OptionsError::MaskingOnServer);
        }
        if self.timeout.is_zero() {
            return Err(OptionsError::Zero("timeout"));
        }
        if self.ping_period.is_some_and(|p| p.is_zero()) {
            return Err(OptionsError::Zero("ping_period"));
        }
        if self.handshake_timeout.is_zero() {
            return Err(OptionsError::Zero("handshake_timeout"));
        }
        if self.max_frame_size == 0 {
            return Err(OptionsError::Zero("max_frame_size"));
        }
        if self.max_message_size == 0 {
            return Err(OptionsError::Zero("max_message_size"));
        }
        if self.outgoing_capacity_bytes == 0 {
            return Err(OptionsError::Zero("outgoing_capacity_bytes"));
        }
        if self.idle_timeout.is_some_and(|t| t.is_zero()) {
            return Err(OptionsError::Zero("idle_timeout"));
        }
        if self.max_messages_per_second == Some(0) {
            return Err(OptionsError::Zero("max_messages_per_second"));
        }
        if self.read_buffer_size == 0 {
            return Err(OptionsError::Zero("read_buffer_size"));
        }
        if self.outgoing_capacity == 0 {
            return Err(OptionsError::Zero("outgoing_capacity"));
        }
        if self.incoming_capacity == 0 {
            return Err(OptionsError::Zero("incoming_capacity"));
        }
        if let AllowedOrigins::List(list) = &self.allowed_origins {
            for origin in list {
                ws_dsl::origin::OriginPattern::parse(origin).map_err(OptionsError::Origin)?;
            }
        }
        check_extensions(&self.extensions)
    }
}

/// Checks the installed extensions: unique names, no shared RSV bit.
fn check_extensions(extensions: &[Arc<dyn ExtensionFactory>]) -> Result<(), OptionsError> {
    for extension in extensions {
        extension
            .validate()
            .map_err(|message| OptionsError::Extension {
                name: extension.name().to_string(),
                message,
            })?;
    }
    for (i, second) in extensions.iter().enumerate() {
        for first in &extensions[..i] {
            if first.name().eq_ignore_ascii_case(second.name()) {
                return Err(OptionsError::DuplicateExtension(second.name().to_string()));
            }
            let shared = first.rsv().and(second.rsv());
            if !shared.is_empty() {
                let bit = if shared.rsv1() {
                    "RSV1"
                } else if shared.rsv2() {
                    "RSV2"
                } else {
                    "RSV3"
                };
                return Err(OptionsError::RsvConflict {
                    first: first.name().to_string(),
                    second: second.name().to_string(),
                    bit,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ktor_defaults() {
        let o = WebSocketOptions::new();
        assert_eq!(o.ping_period, None);
        assert_eq!(o.timeout, Duration::from_secs(15));
        assert_eq!(o.max_frame_size, u64::MAX);
        assert!(!o.masking);
        assert_eq!(o.message_limit(), 64 << 20);
        assert!(o.validate().is_ok());
    }

    #[test]
    fn masking_is_refused() {
        let err = WebSocketOptions::new()
            .masking(true)
            .validate()
            .unwrap_err();
        assert_eq!(err, OptionsError::MaskingOnServer);
        assert!(err.to_string().contains("RFC 6455 §5.1"));
    }

    #[test]
    fn zero_timeout_is_refused() {
        let err = WebSocketOptions::new()
            .timeout(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert_eq!(err, OptionsError::Zero("timeout"));
    }
}
