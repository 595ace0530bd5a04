//! The runtime of `ws`, Ktor-style WebSockets for Rust.
//!
//! Most users depend on the `ws` crate, which re-exports this one together with the
//! macros. This crate is usable on its own: everything the macros expand to is public
//! here.
//!
//! Modules follow one connection from accept to close:
//! [`server`] (listener, graceful shutdown) → [`routing`] and the handshake (route
//! match, upgrade validation, subprotocol and extension negotiation) → [`extract`]
//! (handler parameters) → [`session`] (what the handler holds) → the connection driver
//! (one task per connection: the handler, timers, reads and writes over a
//! [`Transport`]) → the protocol core (sans-I/O: frames, masking, UTF-8, fragments,
//! limits, the extension stage) → [`frame`] (what the handler sends and receives).
//! [`options`] configures it all; [`extension`] adds permessage-deflate and custom
//! extensions; [`connections`] serves many sessions at once, [`rooms`] many named
//! groups of them, in one process or across many over Redis. [`security`] (the origin
//! check), [`guard`] (authentication before the upgrade) and [`proxy`] (addresses
//! behind a proxy) decide who gets a session. `docs/architecture.md`
//! in the repository describes the shape.
//!
//! ```
//! use ws_runtime::{EmbeddedServer, Frame, Route, WebSocketSession};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
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
pub mod connections;
pub mod convert;
mod driver;
pub mod error;
pub mod extension;
pub mod extract;
pub mod frame;
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzz;
pub mod guard;
mod handshake;
pub mod http;
pub mod options;
mod protocol;
pub mod proxy;
pub mod rooms;
pub mod routing;
pub mod security;
pub mod server;
pub mod session;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use admission::ServerLimits;
pub use connections::{Broadcast, Connections, Member};
pub use convert::{ContentConverter, JsonConverter};
pub use error::{Error, HandlerError, IntoHandlerResult, Result};
pub use extension::Deflate;
pub use extract::{
    HandlerParam, HandshakeRequest, Headers, Path, Query, Rejection, RemoteAddr, State,
};
pub use frame::{CloseCode, CloseReason, Codes, Fragment, Frame, FrameType, Rsv, Text};
pub use guard::{Guard, Principal};
pub use http::{HttpRequest, HttpResponse};
pub use options::{ChannelOverflow, OptionsError, WebSocketOptions};
pub use rooms::{
    Delivery, MessageId, Occupant, PresenceEntry, PresenceEvent, PresenceKind, Resume, Resumed,
    Rooms, RoomsBuilder, RoomsStats, SessionId,
};
pub use routing::Route;
pub use security::AllowedOrigins;
pub use server::{Application, Connector, EmbeddedServer, RunningServer, ServerHandle};
pub use session::{Incoming, Outgoing, TrySendError, WebSocketSession};
#[cfg(feature = "tls")]
pub use tls::Tls;
pub use transport::Transport;

pub use bytes::Bytes;
