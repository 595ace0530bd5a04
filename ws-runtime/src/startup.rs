//! Why a server did not start: its configuration cannot work ([`ConfigError`], all of
//! them together), or binding failed ([`ServerError`]).

use std::fmt;
use std::io;

use crate::options::OptionsError;
use crate::path::PathError;

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
    /// Two HTTP routes answer the same method on the same paths.
    DuplicateHttpRoute {
        /// The method.
        method: String,
        /// The path.
        path: String,
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
            ConfigError::DuplicateHttpRoute {
                method,
                path,
                first,
                second,
            } => write!(
                f,
                "two HTTP routes for `{method} {path}`: handler {first} and handler {second}"
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

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
