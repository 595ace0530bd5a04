//! Errors: what a handler meets when it uses a session ([`Error`]) and what a handler
//! reports ([`HandlerError`]). Why a server did not start is `startup.rs`'s.

use std::fmt;

use crate::frame::{CloseReason, Frame};

/// The result type of session operations; `Result<()>` in a handler signature.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The session is closed (or closing): nothing more can be sent. The reason, if one
    /// is known yet, is the one `close_reason()` resolves to.
    #[error("the WebSocket session is closed{}", .0.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    Closed(Option<CloseReason>),
    /// The outgoing queue was full under `ChannelOverflow::Close`: the session is being
    /// closed with 1008.
    #[error("the outgoing queue is full ({capacity} frames): the session was closed with 1008")]
    Overflow {
        /// The queue bound that was reached.
        capacity: usize,
    },
    /// `send_serialized` / `receive_deserialized` without a `content_converter` installed.
    #[error("no content converter installed: add `content_converter = ...` to install!")]
    NoConverter,
    /// The content converter could not convert the value or the received frame (which
    /// the error carries, so that a handler can answer it and go on receiving).
    #[error("content conversion failed: {0}")]
    Convert(ConvertError),
}

/// The error a `#[web_socket]` handler returned (or its panic), kept with its source
/// for the log.
#[derive(Debug)]
pub struct HandlerError(Box<dyn std::error::Error + Send + Sync>);

impl HandlerError {
    /// Wraps an error (anything `Box<dyn Error>` can be made from: an error type, a
    /// `String`, a `&str`).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }

    /// The error the handler returned.
    pub fn inner(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// What a handler may return: `()` or `Result<(), E>` for any error `E` that a
/// `Box<dyn Error>` can be made from (every error type, `String`, `&str`, `anyhow::Error`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of a WebSocket handler",
    label = "return `()` or `Result<(), E>` where `E` is an error type",
    note = "a handler returns `()` or `Result<(), E>` for any `E` that converts into `Box<dyn std::error::Error + Send + Sync>` (error types, `String`, `&str`)"
)]
pub trait IntoHandlerResult {
    /// `Ok` for success, `Err` with the error for failure.
    fn into_handler_result(self) -> std::result::Result<(), HandlerError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> std::result::Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> IntoHandlerResult
    for std::result::Result<(), E>
{
    fn into_handler_result(self) -> std::result::Result<(), HandlerError> {
        self.map_err(HandlerError::new)
    }
}

/// A type's name as a user writes it: `Connections<String>`, not
/// `ws_runtime::connections::Connections<alloc::string::String>`.
pub(crate) fn readable_type_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut segment = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

/// A panic's message, for the log.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// A value or frame the content converter could not convert: what
/// `Error::Convert` carries.
///
/// From `receive_deserialized`, [`frame`](Self::frame) is the frame that did not
/// convert, so a handler can answer it and go on:
///
/// ```no_run
/// # use ws_runtime::{Error, WebSocketSession};
/// # #[derive(serde::Deserialize)] struct Move { x: i32 }
/// # async fn handler(session: WebSocketSession) -> ws_runtime::Result<()> {
/// loop {
///     match session.receive_deserialized::<Move>().await {
///         Ok(Some(Move { x })) => session.send(format!("moved to {x}")).await?,
///         Ok(None) => return Ok(()),
///         Err(Error::Convert(e)) => session.send(format!("not a move: {e}")).await?,
///         Err(e) => return Err(e),
///     }
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    message: String,
    frame: Option<Frame>,
}

impl ConvertError {
    /// An error with a message and no frame (a value that did not serialize).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            frame: None,
        }
    }

    /// An error about a received frame.
    pub fn with_frame(message: impl Into<String>, frame: Frame) -> Self {
        Self {
            message: message.into(),
            frame: Some(frame),
        }
    }

    /// What went wrong, as the converter or serde said it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The received frame that did not convert (`None` for a value that did not
    /// serialize).
    pub fn frame(&self) -> Option<&Frame> {
        self.frame.as_ref()
    }

    /// The frame, by value.
    pub fn into_frame(self) -> Option<Frame> {
        self.frame
    }
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConvertError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_as_written() {
        assert_eq!(
            readable_type_name("ws_runtime::connections::Connections<alloc::string::String>"),
            "Connections<String>"
        );
        assert_eq!(
            readable_type_name("(u32, alloc::vec::Vec<my_app::User>, &str)"),
            "(u32, Vec<User>, &str)"
        );
    }
}
