//! Errors: what a handler meets when it uses a session ([`Error`]), what a handler
//! reports ([`HandlerError`]), and why a server did not start ([`ServerError`]).

use std::fmt;
use std::io;

use crate::frame::CloseReason;
use crate::options::OptionsError;
use crate::routing::PathError;

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

/// Why a server did not start: its configuration cannot work, or binding failed.
///
/// `Debug` prints the same readable text as `Display`, so `main` can return it:
///
/// ```no_run
/// # async fn run() -> Result<(), ws_runtime::ServerError> {
/// ws_runtime::EmbeddedServer::new().port(8080).start().await
/// # }
/// ```
///
/// prints, for a handler that takes state nobody installed,
///
/// ```text
/// Error: the server cannot start:
///   - handler `chat` (src/main.rs:12:1) takes `State<Connections<String>>` but no `Connections<String>` was installed: add `app.state(...)`
/// ```
#[non_exhaustive]
pub enum ServerError {
    /// Every problem of the configuration, one per entry.
    Config(Vec<ConfigError>),
    /// A listener could not be bound, a certificate not read, ...
    Io(io::Error),
}

/// One problem of a server's configuration, found when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A plugin option that cannot work.
    Options(OptionsError),
    /// `install!` (or `Application::install`) ran twice.
    InstalledTwice,
    /// A route's path does not parse.
    InvalidPath {
        /// The handler, `name (file:line:column)`.
        handler: String,
        /// What is wrong with the path.
        error: PathError,
    },
    /// A plain HTTP route's path does not parse.
    InvalidHttpPath {
        /// Where the route was added (`file:line`).
        at: String,
        /// What is wrong with the path.
        error: PathError,
    },
    /// Two WebSocket routes match the same paths with the same subprotocol.
    DuplicateRoute {
        /// The path.
        path: String,
        /// The subprotocol both require, if any.
        protocol: Option<String>,
        /// The handler added first, `name (file:line:column)`.
        first: String,
        /// The handler added second.
        second: String,
    },
    /// A handler's parameter cannot be satisfied (state not installed, a `Path` on a
    /// route without parameters, a `Principal` no guard yields).
    Handler {
        /// The handler, `name (file:line:column)`.
        handler: String,
        /// What its parameter needs.
        message: String,
    },
    /// A server-wide setting that cannot work (a limit of zero, a bad proxy entry).
    Server(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Options(e) => write!(f, "{e}"),
            ConfigError::InstalledTwice => {
                f.write_str("the WebSockets plugin is installed twice: keep one `install!`")
            }
            ConfigError::InvalidPath { handler, error } => write!(f, "handler {handler}: {error}"),
            ConfigError::InvalidHttpPath { at, error } => {
                write!(f, "{error} (HTTP route at {at})")
            }
            ConfigError::DuplicateRoute {
                path,
                protocol,
                first,
                second,
            } => {
                write!(f, "two WebSocket routes for `{path}`")?;
                if let Some(p) = protocol {
                    write!(f, " with protocol `{p}`")?;
                }
                write!(f, ": handler {first} and handler {second}")
            }
            ConfigError::Handler { handler, message } => write!(f, "handler {handler} {message}"),
            ConfigError::Server(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Config(errors) => {
                f.write_str("the server cannot start:")?;
                for e in errors {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
            ServerError::Io(e) => write!(f, "the server cannot start: {e}"),
        }
    }
}

impl fmt::Debug for ServerError {
    /// The readable text: `main` prints a returned error with `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Io(e) => Some(e),
            ServerError::Config(_) => None,
        }
    }
}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> Self {
        ServerError::Io(e)
    }
}

impl From<ServerError> for io::Error {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Io(e) => e,
            config @ ServerError::Config(_) => {
                io::Error::new(io::ErrorKind::InvalidInput, config.to_string())
            }
        }
    }
}

impl ServerError {
    /// The configuration problems, if that is why the server did not start.
    pub fn config_errors(&self) -> &[ConfigError] {
        match self {
            ServerError::Config(errors) => errors,
            ServerError::Io(_) => &[],
        }
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

    #[test]
    fn a_start_up_error_reads_as_a_list_in_debug_too() {
        let e = ServerError::Config(vec![
            ConfigError::InstalledTwice,
            ConfigError::Server("`max_connections` must be at least 1".into()),
        ]);
        let text = format!("{e:?}");
        assert_eq!(text, format!("{e}"));
        assert_eq!(
            text,
            "the server cannot start:\n  - the WebSockets plugin is installed twice: keep one `install!`\n  - `max_connections` must be at least 1"
        );
    }
}
