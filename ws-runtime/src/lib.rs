//! The runtime of `ws`, Ktor-style WebSockets for Rust.
//!
//! Most users depend on the `ws` crate, which re-exports this one together with the
//! macros. This crate is usable on its own: everything the macros expand to is public
//! here.
//!
//! The items follow one connection from accept to close: [`EmbeddedServer`] (listeners,
//! limits, TLS, graceful shutdown) → the handshake (route match, upgrade validation,
//! the origin check of [`AllowedOrigins`], [`Guard`]s, subprotocol and extension
//! negotiation) → extractors ([`HandlerParam`]: [`Path`], [`State`], [`Principal`], ...)
//! → [`WebSocketSession`] (what the handler holds: [`Incoming`], [`Outgoing`]) → the
//! connection driver (one task per session: the handler, timers, reads and writes
//! over a [`Transport`]) → the protocol core (sans-I/O: frames, masking, UTF-8,
//! fragments, limits, the extension stage) → [`Frame`] (what the handler sends and
//! receives). [`WebSocketOptions`] configures it all; [`extension`] adds
//! permessage-deflate and custom extensions; [`Connections`] serves many sessions at
//! once, [`Rooms`] many named groups of them, in one process or across many over
//! Redis. [`client`] runs the same engine in the client role (the same session type
//! and options), and [`test`](mod@test) serves an application over in-memory connections for
//! tests. Plain HTTP routes ([`HttpRoute`], what `#[get]` builds) take the same
//! extractors ([`HttpParam`]) and answer with an [`HttpResponse`] ([`IntoHttpResponse`]);
//! [`ContentConverter`] is the extension point of `send_serialized` /
//! `receive_deserialized`. With the `tower` / `axum` features, `AppService` mounts an
//! application in another HTTP server (an axum `Router`) over the same handshake and
//! engine. `docs/architecture.md` in the repository describes the shape.
//!
//! ```
//! use ws_runtime::{EmbeddedServer, Frame, Route, WebSocketSession};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ws_runtime::ServerError> {
//! let server = EmbeddedServer::new()
//!     .host("127.0.0.1")
//!     .port(0)
//!     .configure(|app| {
//!         app.route(Route::new("/echo", |session: WebSocketSession| async move {
//!             while let Some(frame) = session.incoming.recv().await {
//!                 if let Frame::Text(text) = frame {
//!                     session.send(format!("Hi, {text}!")).await?;
//!                 }
//!             }
//!             Ok::<(), ws_runtime::Error>(())
//!         }));
//!     })
//!     .bind()
//!     .await?;
//! println!("listening on {}", server.local_addr());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod admission;
pub mod client;
mod connections;
mod convert;
mod driver;
mod error;
pub mod extension;
mod extract;
mod frame;
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzz;
mod guard;
mod handshake;
mod http_route;
#[cfg(feature = "tower")]
mod mount;
mod options;
mod path;
#[cfg(feature = "prometheus")]
mod prometheus;
mod protocol;
mod proxy;
mod rooms;
mod router;
mod routing;
mod security;
mod server;
mod session;
mod startup;
mod telemetry;
pub mod test;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use admission::ServerLimits;
pub use connections::{Broadcast, Connections, Member};
#[cfg(feature = "msgpack")]
pub use convert::MessagePackConverter;
pub use convert::{ContentConverter, JsonConverter};
pub use error::{ConvertError, Error, HandlerError, IntoHandlerResult, Result};
pub use extract::{
    HandlerParam, HandshakeRequest, Headers, Path, Query, Rejection, RemoteAddr, SessionParts,
    StartupContext, State, StateMap,
};
pub use frame::{CloseCode, CloseReason, Codes, Fragment, Frame, FrameType, Rsv, Text};
pub use guard::{Guard, GuardFn, Principal};
pub use http_route::{
    HTTP_BODY_LIMIT, HttpParam, HttpRequest, HttpResponse, HttpRoute, IntoHttpResponse, Json,
};
#[cfg(feature = "tower")]
pub use mount::{AppService, AppServiceFuture};
#[cfg(feature = "axum")]
pub use mount::{RouterExt, WebSocketUpgrade};
pub use options::{AllowedOrigins, ChannelOverflow, OptionsError, WebSocketOptions};
pub use path::{PathError, PathParams, PathPattern};
pub use rooms::{
    BrokerState, Delivery, MessageId, Occupant, ParseIdError, PresenceEntry, PresenceEvent,
    PresenceEvents, PresenceKind, RemoteDelivery, Resume, ResumeError, Resumed, RoomTarget, Rooms,
    RoomsBuilder, RoomsStats, SessionId,
};
pub use routing::Route;
pub use server::{Application, Connector, EmbeddedServer, Routable, RunningServer, ServerHandle};
pub use session::{Incoming, Outgoing, Recv, SendFrame, TrySendError, WebSocketSession};
pub use startup::{ConfigError, ServerError};
#[cfg(feature = "tls")]
pub use tls::Tls;
pub use transport::Transport;

pub use bytes::Bytes;

/// The `http` crate's types that requests, responses and rejections are made of, so
/// that an application needs no `http` dependency of its own (`ws::http::StatusCode`).
pub mod http {
    #[doc(no_inline)]
    pub use ::http::{
        HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header,
    };
}

/// What the macros' expansions name and users never write: kept out of the docs.
#[doc(hidden)]
pub mod __private {
    pub use crate::extract::StartupCheck;
    pub use crate::http_route::{HttpCall, HttpFuture, HttpHandler, rejected};
    pub use crate::routing::{BoxHandlerFuture, SessionStart, box_handler};
}
