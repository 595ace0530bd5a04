//! `ws`: Ktor-style WebSockets for Rust.
//!
//! Handlers are `async fn`s marked [`#[web_socket("/path")]`](web_socket) that iterate
//! the session's frames with `for frame in session.incoming`; the plugin is configured
//! with [`install!`], handlers are added with [`routing!`], and [`embedded_server!`]
//! builds the server (Ktor's `embeddedServer`).
//!
//! ```
//! use ws::prelude::*;
//!
//! #[web_socket("/echo")]
//! async fn echo(session: WebSocketSession) -> Result<()> {
//!     session.send("Please enter your name").await?;
//!     for frame in session.incoming {
//!         let Frame::Text(text) = frame else { continue };
//!         if text.eq_ignore_ascii_case("bye") {
//!             session.close(CloseReason::new(Codes::NORMAL, "Client said BYE")).await?;
//!         } else {
//!             session.send(format!("Hi, {text}!")).await?;
//!         }
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ws::ServerError> {
//! let server = embedded_server!(host = "127.0.0.1", port = 0, |app| {
//!     install!(app, WebSockets {
//!         ping_period = 15s,
//!         timeout = 15s,
//!         max_frame_size = 1MiB,
//!         extensions { Deflate { compression_level = 6, compress_if_bigger_than = 1KiB } },
//!     });
//!     routing!(app, echo);
//! })
//! .bind() // `.start().await` binds, prints the address and runs until Ctrl-C
//! .await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # The DSL
//!
//! | Ktor | here |
//! |---|---|
//! | `embeddedServer(Netty, port = 8080) { ... }.start(wait = true)` | `embedded_server!(port = 8080, \|app\| { ... }).start().await` |
//! | `install(WebSockets) { pingPeriod = 15.seconds }` | `install!(app, WebSockets { ping_period = 15s })` |
//! | `routing { webSocket("/echo") { ... } }` | `#[web_socket("/echo")] async fn echo(session: WebSocketSession)` + `routing!(app, echo)` |
//! | `webSocket("/chat", protocol = "chat.v1")` | `#[web_socket("/chat", protocol = "chat.v1")]` |
//! | `webSocketRaw("/raw") { ... }` | `#[web_socket_raw("/raw")]` |
//! | `for (frame in incoming) { ... }` | `for frame in session.incoming { ... }` |
//! | `frame as? Frame.Text ?: continue` | `let Frame::Text(text) = frame else { continue };` |
//!
//! # The client
//!
//! [`client::Client`] opens sessions of the same [`WebSocketSession`] type, with the
//! same options (`install!` works on a client) and the same receive loop in functions
//! marked [`#[web_socket_client]`](web_socket_client) (Ktor's `client.webSocket(url) {
//! for (frame in incoming) .. }`):
//!
//! ```
//! use ws::client::Client;
//! use ws::prelude::*;
//!
//! #[web_socket("/echo")]
//! async fn echo(session: WebSocketSession) -> Result<()> {
//!     for frame in session.incoming {
//!         session.send(frame).await?;
//!     }
//!     Ok(())
//! }
//!
//! #[web_socket_client]
//! async fn ask(session: WebSocketSession) -> Result<Vec<String>> {
//!     for question in ["one?", "two?"] {
//!         session.send(question).await?;
//!     }
//!     let mut answers = Vec::new();
//!     for Frame::Text(text) in session.incoming {
//!         answers.push(text.to_string());
//!         if answers.len() == 2 {
//!             break;
//!         }
//!     }
//!     Ok(answers)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let server = embedded_server!(host = "127.0.0.1", port = 0, |app| {
//!     install!(app, WebSockets { extensions { Deflate } });
//!     routing!(app, echo);
//! })
//! .bind()
//! .await?;
//!
//! let mut client = Client::new();
//! install!(client, WebSockets { ping_period = 15s, extensions { Deflate } });
//! let url = format!("ws://{}/echo", server.local_addr());
//! let answers = client.web_socket(url.as_str(), ask).await?;
//! assert_eq!(answers, ["one?", "two?"]);
//! # server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Testing without a network
//!
//! [`test::TestApp`] (Ktor's `testApplication`) serves the same application over
//! in-memory connections and hands the test client sessions and HTTP answers; under
//! tokio's paused time, timeouts take no real time:
//!
//! ```
//! use std::time::Duration;
//! use ws::prelude::*;
//! use ws::test::TestApp;
//!
//! #[web_socket("/quiet")]
//! async fn quiet(session: WebSocketSession) -> Result<()> {
//!     for _ in session.incoming {}
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // In a test: #[tokio::test(start_paused = true)]
//! let app = TestApp::new(|app| {
//!     install!(app, WebSockets { idle_timeout = 5m });
//!     routing!(app, quiet);
//! });
//! let session = app.connect("/quiet").await.unwrap();
//! let started = tokio::time::Instant::now();
//! assert_eq!(session.incoming.recv().await, None);
//! assert_eq!(session.close_reason().await.unwrap().message(), "Idle timeout");
//! assert!(started.elapsed() >= Duration::from_secs(300)); // in no real time
//! # }
//! ```
//!
//! # HTTP routes
//!
//! [`#[get]`](macro@get), [`#[post]`](macro@post), [`#[put]`](macro@put),
//! [`#[patch]`](macro@patch) and [`#[delete]`](macro@delete) make plain HTTP handlers
//! with the same extractors ([`State`], [`Path`], [`Query`], ...) and the body as
//! [`Json<T>`](Json); `routing!` adds them beside the WebSocket handlers:
//!
//! ```
//! use ws::prelude::*;
//!
//! struct Motd(String);
//!
//! #[get("/motd/{lang}")]
//! async fn motd(State(motd): State<Motd>, Path(lang): Path<String>) -> HttpResponse {
//!     HttpResponse::json(&serde_json::json!({ "lang": lang, "text": motd.0 }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = ws::test::TestApp::new(|app| {
//!     app.state(Motd("hello".into()));
//!     routing!(app, motd);
//! });
//! let answer = app.get("/motd/en").await.unwrap();
//! assert_eq!(answer.status, StatusCode::OK);
//! assert_eq!(answer.text(), r#"{"lang":"en","text":"hello"}"#);
//! # }
//! ```
//!
//! # Inside axum
//!
//! With the `axum` feature, `Application::into_service` mounts an application in an
//! axum `Router` (`nest_service`, `RouterExt::web_sockets`), and `WebSocketUpgrade`
//! lets an axum handler run a `ws` session; the `tower` feature alone gives the tower
//! `Service` (`AppService`). `examples/axum.rs` shows both, and the README's "axum and
//! tower" section.
//!
//! Everything the macros generate is plain use of the public API of this crate: a
//! [`Route`] built from the handler, [`WebSocketOptions`] setters, [`EmbeddedServer`]
//! setters. Setting `WS_MACROS_DEBUG=1` while compiling prints each expansion to stderr
//! (`WS_MACROS_DEBUG=echo,install` prints only those; touch the file first, since Cargo
//! does not rebuild when only the environment changed).
//!
//! The crate re-exports the runtime ([`ws_runtime`](https://docs.rs/ws-runtime)): its
//! items at the root ([`WebSocketSession`], [`Frame`], [`Guard`], ...), the extension
//! API in [`extension`], and the `http` crate's types in [`http`].

#[doc(inline)]
pub use ws_macros::{
    delete, embedded_server, get, install, patch, post, put, routing, web_socket,
    web_socket_client, web_socket_raw,
};
pub use ws_runtime::*;

/// `use ws::prelude::*;` brings the macros and the types handlers use.
///
/// It includes `ws`'s [`Result<T = (), E = Error>`](crate::Result), so `-> Result<()>`
/// in a handler means `Result<(), ws::Error>`.
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::{
        delete, embedded_server, get, install, patch, post, put, routing, web_socket,
        web_socket_client, web_socket_raw,
    };
    #[cfg(feature = "tls")]
    #[doc(no_inline)]
    pub use ws_runtime::Tls;

    #[doc(no_inline)]
    pub use ws_runtime::extension::{Deflate, DeflateMemory};
    #[doc(no_inline)]
    pub use ws_runtime::http::StatusCode;
    #[doc(no_inline)]
    pub use ws_runtime::{
        AllowedOrigins, Application, ChannelOverflow, CloseCode, CloseReason, Codes, Connections,
        EmbeddedServer, Error, Frame, HandshakeRequest, Headers, HttpRequest, HttpResponse,
        Incoming, Json, JsonConverter, Member, Occupant, Outgoing, Path, Principal, Query,
        Rejection, RemoteAddr, Result, Rooms, ServerError, State, Text, WebSocketOptions,
        WebSocketSession,
    };
}

/// What macro expansions refer to, so generated code never depends on what the user's
/// scope calls `Result`, `Box` or `Vec`. Not a public API.
#[doc(hidden)]
pub mod __private {
    use std::future::Future;

    pub use std::boxed::Box;
    pub use std::option::Option::{self, None, Some};
    pub use std::result::Result::{self, Err, Ok};
    pub use std::sync::Arc;
    pub use std::time::Duration;
    pub use std::vec::Vec;

    pub use ws_runtime::__private::{
        BoxHandlerFuture, HttpCall, HttpFuture, HttpHandler, SessionStart, StartupCheck,
        box_handler, rejected,
    };
    pub use ws_runtime::extension::{ExtensionFactory, ExtensionParams, Negotiated};
    pub use ws_runtime::{
        HandlerError, HandlerParam, HandshakeRequest, HttpParam, IntoHandlerResult,
        IntoHttpResponse, Rejection, Rsv, SessionParts,
    };

    use ws_runtime::{Frame, HttpResponse, Incoming, Routable};

    /// Implemented by the hidden struct `#[web_socket]` (or `#[get]`, ...) puts beside
    /// each handler; `routing!(app, echo)` calls `<echo as RouteDef>::route()`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a `#[web_socket]` handler",
        label = "`routing!` takes the names of `#[web_socket]`, `#[web_socket_raw]` or HTTP (`#[get]`, `#[post]`, ...) functions",
        note = "add `#[web_socket(\"/path\")]` (or `#[get(\"/path\")]`) to the handler function"
    )]
    pub trait RouteDef {
        /// What the route is: a WebSocket `Route` or an `HttpRoute`.
        type Route: Routable;
        /// The handler's route.
        fn route() -> Self::Route;
    }

    /// Converts what an HTTP handler returned.
    pub fn into_http_response<R: IntoHttpResponse>(response: R) -> HttpResponse {
        response.into_http_response()
    }

    /// What `for frame in <...incoming>` receives from.
    #[diagnostic::on_unimplemented(
        message = "`for ... in incoming` receives frames from an `Incoming`, not from `{Self}`",
        label = "expected `session.incoming` or an `Incoming` parameter",
        note = "in a `#[web_socket]` handler, a `for` loop over an expression ending in `incoming` is an async receive loop; rename the variable to iterate something else"
    )]
    pub trait FrameSource {
        /// The `Incoming` to receive from.
        fn frames(&self) -> &Incoming;
    }

    impl FrameSource for Incoming {
        fn frames(&self) -> &Incoming {
            self
        }
    }

    impl<T: FrameSource + ?Sized> FrameSource for &T {
        fn frames(&self) -> &Incoming {
            (**self).frames()
        }
    }

    /// The next frame of a `for ... in incoming` loop.
    pub fn next_frame(incoming: &Incoming) -> impl Future<Output = Option<Frame>> + Send + '_ {
        incoming.recv()
    }

    /// Stands in for [`next_frame`] where `.await` is impossible; only ever compiled
    /// next to the error that says so.
    pub fn no_frame(_incoming: &Incoming) -> Option<Frame> {
        None
    }

    /// Converts what a handler returned (`()` or `Result<(), E: Display>`).
    pub fn into_handler_result<R: IntoHandlerResult>(result: R) -> Result<(), HandlerError> {
        result.into_handler_result()
    }

    /// The bound `install!` checks on a user extension, with a message that says what
    /// is missing.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a WebSocket extension",
        label = "`{Self}` does not implement `ws::extension::ExtensionFactory`",
        note = "an extension in `install!(app, WebSockets {{ extensions {{ ... }} }})` is `Deflate` or a type implementing `ws::extension::ExtensionFactory` and `Default`"
    )]
    pub trait UserExtension {
        /// Boxes the factory.
        fn into_factory(self) -> DynExtension;
    }

    impl<T: ExtensionFactory> UserExtension for T {
        fn into_factory(self) -> DynExtension {
            DynExtension(Box::new(self))
        }
    }

    /// A user extension, checked by [`UserExtension`].
    pub struct DynExtension(Box<dyn ExtensionFactory>);

    impl ExtensionFactory for DynExtension {
        fn name(&self) -> &str {
            self.0.name()
        }
        fn rsv(&self) -> Rsv {
            self.0.rsv()
        }
        fn negotiate(&self, offers: &[ExtensionParams]) -> Option<Negotiated> {
            self.0.negotiate(offers)
        }
        fn validate(&self) -> Result<(), String> {
            self.0.validate()
        }
        fn client_offer(&self) -> Option<ExtensionParams> {
            self.0.client_offer()
        }
        fn client_accept(&self, response: &ExtensionParams) -> Result<Negotiated, String> {
            self.0.client_accept(response)
        }
    }

    /// `install!`'s check of a user extension.
    pub fn user_extension<E: UserExtension>(extension: E) -> DynExtension {
        extension.into_factory()
    }
}
