//! Errors a handler meets when it uses a session.

use crate::frame::CloseReason;

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
    /// The content converter could not convert the value or frame.
    #[error("content conversion failed: {0}")]
    Convert(String),
}

/// The error a `#[web_socket]` handler reported, as text for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError(pub String);

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a handler may return: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type of a WebSocket handler",
    label = "return `()` or `Result<(), E>` where `E: Display`",
    note = "a handler returns `()` or `Result<(), E>` for any error type that implements `Display`"
)]
pub trait IntoHandlerResult {
    /// `Ok` for success, `Err` with the error's text for failure.
    fn into_handler_result(self) -> std::result::Result<(), HandlerError>;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> std::result::Result<(), HandlerError> {
        Ok(())
    }
}

impl<E: std::fmt::Display> IntoHandlerResult for std::result::Result<(), E> {
    fn into_handler_result(self) -> std::result::Result<(), HandlerError> {
        self.map_err(|e| HandlerError(e.to_string()))
    }
}

/// A panic's message, for the log.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}
