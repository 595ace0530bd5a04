//! The macros of [`ws`](https://docs.rs/ws), Ktor-style WebSockets for Rust. Use them
//! through the `ws` crate: `use ws::prelude::*;`.
//!
//! | macro | Ktor | expands to |
//! |---|---|---|
//! | [`#[web_socket("/path")]`](macro@web_socket) | `webSocket("/path") { ... }` | the function, plus a hidden route item building a `ws::Route` |
//! | [`#[web_socket_raw("/path")]`](macro@web_socket_raw) | `webSocketRaw("/path") { ... }` | the same, with `.raw(true)` |
//! | [`#[web_socket_client]`](macro@web_socket_client) | `client.webSocket(url) { ... }`'s block | the function, its `for .. in incoming` loops rewritten |
//! | [`install!(app, WebSockets { ... })`](install!) | `install(WebSockets) { ... }` | `app.install(WebSocketOptions::new().key(value)...)` |
//! | [`routing!(app, echo, chat)`](routing!) | `routing { ... }` | `app.route(...)` for each handler |
//! | [`embedded_server!(port = 8080, \|app\| { ... })`](embedded_server!) | `embeddedServer(Netty, port = 8080) { ... }` | `EmbeddedServer::new().port(8080).configure(...)` |
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
//!             session.send(Frame::text(format!("Hi, {text}!"))).await?;
//!         }
//!     }
//!     Ok(())
//! }
//!
//! let server = embedded_server!(port = 8080, |app| {
//!     install!(app, WebSockets {
//!         ping_period = 15s,
//!         timeout = 15s,
//!         max_frame_size = u64::MAX,
//!         masking = false,
//!     });
//!     routing!(app, echo);
//! });
//! // In `main`: `server.start().await` binds, prints the address and serves until Ctrl-C.
//! # let _ = server;
//! ```
//!
//! # Errors
//!
//! Every mistake the macros can see is a compile error on the offending token, saying
//! what is wrong and what is accepted; all the errors of one invocation appear in one
//! build; a Ktor spelling gets a hint (`pingPeriod` → `ping_period`). A macro never
//! panics, and with an error it still emits the user's function (or the valid part of
//! an `install!`), so no follow-on errors appear. Mistakes only the compiler can see
//! (an unsupported parameter type, a return type that is not `()` or
//! `Result<(), E: Display>`) are trait errors placed on the parameter or return type,
//! with a message naming what is supported.
//!
//! # A renamed dependency
//!
//! The expansions name the `ws` crate as `::ws`. Under another name (a renamed
//! dependency, or a crate that re-exports `ws`), say which path to use, as tokio's
//! macros take `crate = "..."`: `#[web_socket("/echo", crate = my_ws)]` (among the
//! options after the path), and as the first argument of the function-like macros,
//! `install!(crate = my_ws, app, WebSockets { ... })`, `routing!(crate = my_ws, app,
//! echo)`, `embedded_server!(crate = my_ws, port = 8080, |app| { ... })`. Each
//! invocation says it for itself (the macros inside `embedded_server!`'s closure do not
//! inherit it), and the path must resolve where the macro is invoked (`crate::my_ws`
//! from a module for a crate-root `use ws as my_ws;`). A string, `crate = "my_ws"`,
//! works too.
//!
//! # Seeing an expansion
//!
//! `WS_MACROS_DEBUG=1` while compiling prints every expansion to stderr;
//! `WS_MACROS_DEBUG=echo,install` prints only the handler `echo` and `install!`
//! expansions. Cargo does not rebuild because an environment variable changed: touch
//! the source file first.

use proc_macro::TokenStream;
use ws_codegen::{embedded_server, http, install, routing, web_socket};

/// Declares a WebSocket handler (Ktor's `webSocket("/path") { ... }`).
///
/// ```
/// use ws::prelude::*;
///
/// /// Greets each text with the room's name.
/// #[web_socket("/rooms/{room}")]
/// async fn room(session: WebSocketSession, Path(room): Path<String>) -> Result<()> {
///     for frame in session.incoming {
///         let Frame::Text(text) = frame else { continue };
///         session.send(format!("{room}: {text}")).await?;
///     }
///     Ok(())
/// }
///
/// let server = embedded_server!(port = 0, |app| routing!(app, room));
/// assert_eq!(server.application().routes()[0].path(), "/rooms/{room}");
/// ```
///
/// # Arguments
///
/// - The route path, a string literal checked at compile time: it starts with `/`;
///   a `{name}` segment is a parameter (a whole segment, an identifier, each name
///   once), read with `Path<T>`.
/// - `protocol = "chat.v1"`: the subprotocol this route serves (Ktor's
///   `webSocket(path, protocol)`). Routes may share a path with different protocols;
///   a client that offers none of them is refused.
/// - `crate = my_ws`: the path of the `ws` crate, when the dependency is renamed (see
///   [the crate docs](crate#a-renamed-dependency)).
///
/// # Parameters
///
/// Each parameter is an extractor, in any order, with any pattern
/// (`State(connections): State<Connections<String>>`):
///
/// | type | what it is |
/// |---|---|
/// | `WebSocketSession` | the session: `incoming`, `outgoing`, `send`, `close`, `close_reason`, ... |
/// | `Incoming`, `Outgoing` | the session's receiving and sending halves (instead of the session) |
/// | `Path<T>` | the `{name}` segments: one value, a tuple in route order, or a struct |
/// | `Query<T>` | the query string, deserialized |
/// | `Headers` | the handshake request's headers |
/// | `State<T>` | shared state installed with `app.state(value)` |
/// | `RemoteAddr` | the peer's address |
///
/// A value that does not parse refuses the handshake with 400. Another type is a
/// compile error on that parameter naming the extractors. The frames can be received
/// once: taking `WebSocketSession` and `Incoming`, or either twice, is an error.
///
/// # Return type
///
/// `()` or `Result<(), E>` for any `E: Display`, such as `ws::Result<()>` (the
/// prelude's `Result<()>`). An `Err` is logged and closes the session with 1011
/// INTERNAL_ERROR, as a panic does; returning closes the session normally.
///
/// # `for frame in session.incoming`
///
/// Inside the handler, a `for` loop over an expression ending in `incoming` (a
/// variable `incoming`, a field `x.incoming`, a call `x.incoming()`) is rewritten into
/// an async receive loop; every other `for` is left alone. It reads as it would over a
/// channel:
///
/// - the source is borrowed, not moved: `session.send(..)` works inside the loop;
/// - `break`, `continue`, labels (`'outer: for ...`), `?` and `.await` mean what they
///   mean in any loop; `break` with a value is an error, as in any `for`;
/// - a refutable pattern keeps the frames that match and skips the others:
///   `for Frame::Text(text) in session.incoming` (Ktor's
///   `frame as? Frame.Text ?: continue`);
/// - receive loops nest; the loop ends when the peer closes or the connection drops;
/// - nested `fn` items are not rewritten; inside a closure that is not `async` such a
///   loop is an error (it needs `.await`); loops inside other macros' input (such as
///   `tokio::select!`) are not seen.
///
/// # What it generates
///
/// The function, unchanged apart from that rewrite (still callable, still
/// documented), and a hidden same-named struct (`#[doc(hidden)]`, type namespace
/// only) implementing a route trait: [`routing!`] builds the `ws::Route` from it. There
/// is no global registry. A handler's name therefore shares the type namespace: no
/// type or module of the same name may sit beside it.
///
/// # The most common mistake
///
/// ```compile_fail
/// use ws::prelude::*;
///
/// #[web_socket("/echo")]
/// fn echo(session: WebSocketSession) {} // error: a `#[web_socket]` handler must be an `async fn`
/// ```
#[proc_macro_attribute]
pub fn web_socket(args: TokenStream, item: TokenStream) -> TokenStream {
    web_socket::expand(args.into(), item.into(), web_socket::Kind::Normal).into()
}

/// Declares a raw WebSocket handler (Ktor's `webSocketRaw("/path") { ... }`): every
/// frame, control frames included, reaches the handler, and nothing is answered
/// automatically (no Pong to a Ping, no reply to a Close).
///
/// Everything else is as for [`#[web_socket]`](macro@web_socket), except that it takes
/// only the path (and `crate = my_ws` for a renamed dependency).
///
/// ```
/// use ws::prelude::*;
///
/// #[web_socket_raw("/raw")]
/// async fn raw(session: WebSocketSession) -> Result<()> {
///     for frame in session.incoming {
///         match frame {
///             Frame::Ping(payload) => session.send(Frame::pong(payload)).await?,
///             Frame::Close(_) => break,
///             other => session.send(other).await?,
///         }
///     }
///     Ok(())
/// }
///
/// let server = embedded_server!(port = 0, |app| routing!(app, raw));
/// assert!(server.application().routes()[0].is_raw());
/// ```
///
/// # The most common mistake
///
/// ```compile_fail
/// use ws::prelude::*;
///
/// // error: `#[web_socket_raw]` takes only a path
/// #[web_socket_raw("/raw", protocol = "chat.v1")]
/// async fn raw(session: WebSocketSession) {}
/// ```
#[proc_macro_attribute]
pub fn web_socket_raw(args: TokenStream, item: TokenStream) -> TokenStream {
    web_socket::expand(args.into(), item.into(), web_socket::Kind::Raw).into()
}

/// Declares a plain HTTP `GET` handler: `#[get("/rooms")]` on an `async fn` whose
/// parameters are extractors, as a `#[web_socket]` handler's are (`Path<T>`,
/// `Query<T>`, `Headers`, `State<T>`, `RemoteAddr`, `Principal<T>`, the request head
/// `HttpRequest`, and the body as `Json<T>`, `Bytes` or `String`), and whose return
/// value is the response (`HttpResponse`, `Json<T>`, `String`, `StatusCode`, or a
/// `Result` of them). [`routing!`] adds it beside the WebSocket routes; `guard = ...`
/// and `routing!(app, authenticate(guard) { .. })` put guards in front of it.
///
/// [`#[post]`](macro@post), [`#[put]`](macro@put), [`#[patch]`](macro@patch) and
/// [`#[delete]`](macro@delete) are the same for their methods.
///
/// An extractor that refuses the request answers it (`400` with the reason for a bad
/// path parameter, query or body; a missing `State<T>` stops the server at start-up);
/// a body is read up to 1 MiB (`413` past it).
///
/// ```
/// use ws::prelude::*;
///
/// #[derive(Default)]
/// struct Rooms(std::sync::Mutex<Vec<String>>);
///
/// #[get("/rooms")]
/// async fn list(State(rooms): State<Rooms>) -> HttpResponse {
///     HttpResponse::json(&*rooms.0.lock().unwrap())
/// }
///
/// #[post("/rooms/{name}")]
/// async fn create(Path(name): Path<String>, State(rooms): State<Rooms>) -> StatusCode {
///     rooms.0.lock().unwrap().push(name);
///     StatusCode::CREATED
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = ws::test::TestApp::new(|app| {
///     app.state(Rooms::default());
///     routing!(app, list, create);
/// });
/// let created = app
///     .request(ws::http::Request::post("/rooms/lobby").body(Default::default()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(created.status, StatusCode::CREATED);
/// assert_eq!(app.get("/rooms").await.unwrap().text(), r#"["lobby"]"#);
/// # }
/// ```
///
/// # The most common mistake
///
/// ```compile_fail
/// use ws::prelude::*;
///
/// // error: `WebSocketSession` is not available in an HTTP handler
/// #[get("/chat")]
/// async fn chat(session: WebSocketSession) -> HttpResponse {
///     HttpResponse::text("")
/// }
/// ```
#[proc_macro_attribute]
pub fn get(args: TokenStream, item: TokenStream) -> TokenStream {
    http::expand(args.into(), item.into(), http::HttpMethod::Get).into()
}

/// Declares a plain HTTP `POST` handler: see [`#[get]`](macro@get).
#[proc_macro_attribute]
pub fn post(args: TokenStream, item: TokenStream) -> TokenStream {
    http::expand(args.into(), item.into(), http::HttpMethod::Post).into()
}

/// Declares a plain HTTP `PUT` handler: see [`#[get]`](macro@get).
#[proc_macro_attribute]
pub fn put(args: TokenStream, item: TokenStream) -> TokenStream {
    http::expand(args.into(), item.into(), http::HttpMethod::Put).into()
}

/// Declares a plain HTTP `PATCH` handler: see [`#[get]`](macro@get).
#[proc_macro_attribute]
pub fn patch(args: TokenStream, item: TokenStream) -> TokenStream {
    http::expand(args.into(), item.into(), http::HttpMethod::Patch).into()
}

/// Declares a plain HTTP `DELETE` handler: see [`#[get]`](macro@get).
#[proc_macro_attribute]
pub fn delete(args: TokenStream, item: TokenStream) -> TokenStream {
    http::expand(args.into(), item.into(), http::HttpMethod::Delete).into()
}

/// Marks a client handler: an `async fn` taking the [`WebSocketSession`] a
/// `Client::web_socket(url, handler)` opens, in which `for frame in session.incoming`
/// is the same receive loop as in a [`#[web_socket]`](macro@web_socket) handler.
///
/// That rewrite is all it does: no route is generated, the function stays a plain
/// `async fn` (callable, documented), and the client calls it with the session. Its
/// only option is `crate = my_ws`, for a renamed dependency. (In a closure, which no
/// attribute can mark, frames are received with `while let Some(frame) =
/// session.incoming.recv().await`.)
///
/// ```
/// use ws::client::Client;
/// use ws::prelude::*;
///
/// /// Says hello, prints what comes back until the server closes, returns why it did.
/// #[web_socket_client]
/// async fn greet(session: WebSocketSession) -> Result<Option<CloseReason>> {
///     session.send("hello").await?;
///     for Frame::Text(text) in session.incoming {
///         println!("server: {text}");
///         if text == "hello" {
///             session.close(CloseReason::new(Codes::NORMAL, "bye")).await?;
///         }
///     }
///     Ok(session.close_reason().await)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
/// # #[web_socket("/echo")]
/// # async fn echo(session: WebSocketSession) -> Result<()> {
/// #     for frame in session.incoming { session.send(frame).await?; }
/// #     Ok(())
/// # }
/// let server = embedded_server!(host = "127.0.0.1", port = 0, |app| routing!(app, echo))
///     .bind()
///     .await?;
/// let url = format!("ws://{}/echo", server.local_addr());
/// let reason = Client::new().web_socket(url.as_str(), greet).await?;
/// assert_eq!(reason.unwrap().message(), "bye");
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
///
/// [`WebSocketSession`]: https://docs.rs/ws/latest/ws/struct.WebSocketSession.html
#[proc_macro_attribute]
pub fn web_socket_client(args: TokenStream, item: TokenStream) -> TokenStream {
    web_socket::client::expand(args.into(), item.into()).into()
}

/// Installs the WebSockets plugin (Ktor's `install(WebSockets) { ... }`).
///
/// `install!(app, WebSockets { key = value, ... })` is exactly
/// `app.install(WebSocketOptions::new().key(value)...)`: anything it says, the builder
/// says too. `install!(app, WebSockets)` installs the defaults;
/// `install!(crate = my_ws, app, ...)` names a renamed `ws` dependency (see
/// [the crate docs](crate#a-renamed-dependency)).
///
/// ```
/// use ws::prelude::*;
///
/// let mut app = ws::Application::new();
/// install!(app, WebSockets {
///     ping_period = 15s,
///     timeout = 15s,
///     max_frame_size = u64::MAX,
///     masking = false,
///     max_message_size = 64MiB,
///     outgoing_capacity = 64,
///     outgoing_overflow = Suspend,
///     allowed_origins = ["https://chat.example"],
///     content_converter = JsonConverter,
///     extensions {
///         Deflate { compression_level = 6, compress_if_bigger_than = 1KiB },
///     },
/// });
/// assert_eq!(app.options().ping_period, Some(std::time::Duration::from_secs(15)));
/// assert_eq!(app.options().extension_names(), ["permessage-deflate"]);
/// ```
///
/// # Keys
///
#[doc = include_str!(concat!(env!("OUT_DIR"), "/plugin_keys.md"))]
///
/// `Deflate { ... }` takes:
///
#[doc = include_str!(concat!(env!("OUT_DIR"), "/deflate_keys.md"))]
///
/// A user extension `MyExtension { key = value }` is
/// `MyExtension::default().key(value)`; it must implement
/// `ws::extension::ExtensionFactory` and `Default`.
///
/// # Values
///
/// - durations: `500ms`, `15s`, `1.5s`, `2m`, `1h`;
/// - sizes: `1024`, `1KiB`, `64MiB`, `1GiB` (also `KB`, `MB`, `GB`: powers of 1000),
///   `u64::MAX`;
/// - any other expression where a value is expected (`Duration::from_secs(n)`, a
///   constant): it is passed to the setter as written, and the compiler checks its
///   type there.
///
/// Unknown and duplicate keys, wrong literal types, unknown units, zero where it means
/// nothing (`timeout = 0s`), out-of-range levels and window bits and unknown extensions
/// are compile errors on the offending token, all reported in one build.
///
/// # The most common mistake
///
/// ```compile_fail
/// use ws::prelude::*;
///
/// let mut app = ws::Application::new();
/// // error: unknown key `pingPeriod`: Ktor's `pingPeriod` is spelled `ping_period` here
/// install!(app, WebSockets { pingPeriod = 15s });
/// ```
#[proc_macro]
pub fn install(input: TokenStream) -> TokenStream {
    install::expand(input.into()).into()
}

/// Adds the routes of `#[web_socket]` handlers to the application (Ktor's
/// `routing { webSocket(...) { ... } }`).
///
/// `routing!(app, echo, chat, some::module::handler)` calls `app.route(...)` with each
/// handler's route, in order. Naming a handler twice is a compile error; two handlers
/// with the same path (and protocol) are a start-up error naming both handlers and
/// where they are defined. `routing!(crate = my_ws, app, ...)` names a renamed `ws`
/// dependency (see [the crate docs](crate#a-renamed-dependency)).
///
/// ```
/// use ws::prelude::*;
///
/// mod chat {
///     use ws::prelude::*;
///
///     #[web_socket("/chat")]
///     pub async fn room(session: WebSocketSession) {
///         for frame in session.incoming {
///             let _ = session.send(frame).await;
///         }
///     }
/// }
///
/// #[web_socket("/echo")]
/// async fn echo(session: WebSocketSession) -> Result<()> {
///     for frame in session.incoming {
///         session.send(frame).await?;
///     }
///     Ok(())
/// }
///
/// let mut app = ws::Application::new();
/// routing!(app, echo, chat::room);
/// assert_eq!(app.routes().len(), 2);
/// ```
///
/// # The most common mistake
///
/// ```compile_fail
/// use ws::prelude::*;
///
/// async fn echo(session: WebSocketSession) {} // no `#[web_socket("/echo")]`
///
/// let mut app = ws::Application::new();
/// routing!(app, echo); // error: expected type, found function `echo`
/// ```
#[proc_macro]
pub fn routing(input: TokenStream) -> TokenStream {
    routing::expand(input.into()).into()
}

/// Builds the server (Ktor's `embeddedServer(Netty, port = 8080) { ... }`).
///
/// `embedded_server!(port = 8080, host = "0.0.0.0", grace_period = 5s, |app| { ... })`
/// is `EmbeddedServer::new().port(8080).host("0.0.0.0").grace_period(..)
/// .configure(|app: &mut Application| { ... })`. Every key is optional (defaults: port
/// 8080, host `0.0.0.0`, grace period 5s) and takes any expression; the closure comes
/// last. The server-wide limits are keys too, each a builder call of `EmbeddedServer`:
///
/// | key | default | over it |
/// |---|---|---|
/// | `max_connections` | 10,000 | a new connection gets 503 with `Retry-After` |
/// | `max_connections_per_ip` | none (behind a proxy, every client has the proxy's address) | 503 with `Retry-After` |
/// | `max_handshakes` | 1,024 (connections not yet upgraded) | 503 with `Retry-After` |
/// | `tcp_keepalive` | `60s` (`None`: off) | the kernel drops a peer that stopped answering |
/// Then `.start().await` serves until Ctrl-C or SIGTERM (Ktor's
/// `start(wait = true)`), or `.bind().await` starts it in the background.
/// `embedded_server!(crate = my_ws, ...)` names a renamed `ws` dependency (see
/// [the crate docs](crate#a-renamed-dependency)).
///
/// ```
/// use ws::prelude::*;
///
/// #[web_socket("/echo")]
/// async fn echo(session: WebSocketSession) -> Result<()> {
///     for frame in session.incoming {
///         session.send(frame).await?;
///     }
///     Ok(())
/// }
///
/// let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
/// let server = embedded_server!(port = port, host = "127.0.0.1", grace_period = 2s, |app| {
///     install!(app, WebSockets { ping_period = 15s });
///     app.get("/health", |_| async { HttpResponse::text("ok") });
///     routing!(app, echo);
/// });
/// assert_eq!(server.application().routes().len(), 1);
/// ```
///
/// # The most common mistake
///
/// ```compile_fail
/// use ws::prelude::*;
///
/// // error: missing the configuration closure
/// let server = embedded_server!(port = 8080);
/// ```
#[proc_macro]
pub fn embedded_server(input: TokenStream) -> TokenStream {
    embedded_server::expand(input.into()).into()
}
