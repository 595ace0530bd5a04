//! Ktor's multi-session chat sample: every text a user sends goes to everyone, prefixed
//! with the sender's name (`user0`, `user1`, ...). A chat page is served at `/` and a
//! health check at `/health`; `/metrics` serves the server's metrics in Prometheus'
//! text format (feature `prometheus`) and `/stats` is a page that shows them, updated
//! every second.
//!
//! Run it:
//!
//! ```text
//! cargo run --example chat                 # port 8080; or -- --port 9000, or PORT=9000
//! ```
//!
//! then open <http://localhost:8080/> in two browser tabs and talk, or use
//! `cargo run --example client -- ws://127.0.0.1:8080/chat` in two terminals.
//! `curl localhost:8080/health` answers `ok`. Open
//! <http://localhost:8080/stats> beside the chat tabs to watch the sessions, frames and
//! bytes count up.
//!
//! The connection set is a `Connections<String>` installed as state: a member joins
//! with its name and leaves when its handler returns; a broadcast never waits for a
//! slow client (one whose queue is full is closed with 1008 instead).
//!
//! `--max-messages-per-second N` closes a user who sends more than N messages a
//! second with 1008, so that one flooder cannot drown everyone else's messages.
//!
//! `--token T` turns on token mode: a guard lets a client in only with `?token=T` in
//! the WebSocket URL (or a `token` cookie), and answers anyone else `401` with
//! `WWW-Authenticate: Bearer` before any session starts. Open
//! `http://localhost:8080/?token=T`: the page passes the token on. (The `auth` example
//! shows per-user tokens and all three places a browser can put one.)

// ws-new: template
// ws-new: ws-features prometheus
// ws-new: test /chat "You are connected!"
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use ws::prelude::*;

/// The chat page: plain HTML and a few lines of JavaScript.
const PAGE: &str = include_str!("chat.html");

/// The stats page: reads `/metrics` once a second.
const STATS: &str = include_str!("stats.html");

/// Ktor's `Connection.lastId`: names are handed out in connection order.
static LAST_ID: AtomicUsize = AtomicUsize::new(0);

/// The token of token mode (`--token`), installed as state.
struct ChatToken(Option<String>);

/// Token mode's guard: without `--token` everyone gets in.
async fn token_mode(req: &HandshakeRequest<'_>) -> std::result::Result<(), Rejection> {
    let Some(expected) = req.state().get::<ChatToken>().and_then(|t| t.0.clone()) else {
        return Ok(());
    };
    let given = req
        .query("token")
        .or_else(|| req.cookie("token").map(str::to_owned));
    match given {
        Some(given) if common::same_secret(&given, &expected) => Ok(()),
        Some(_) => Err(Rejection::unauthorized(
            "Bearer error=\"invalid_token\"",
            "wrong token",
        )),
        None => Err(Rejection::unauthorized(
            "Bearer",
            "this chat needs a token: open the page as /?token=...",
        )),
    }
}

#[web_socket("/chat", guard = token_mode)]
async fn chat(
    session: WebSocketSession,
    State(connections): State<Connections<String>>,
) -> Result<()> {
    let name = format!("user{}", LAST_ID.fetch_add(1, Ordering::Relaxed));
    println!("Adding {name}!");
    let me = connections.join(&session, name);
    session
        .send(format!(
            "You are connected! There are {} users here.",
            connections.len()
        ))
        .await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        connections.broadcast(format!("[{}]: {text}", *me));
    }
    println!("Removing {}!", *me);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    let rate: Option<u32> = common::option("max-messages-per-second");
    let token: Option<String> = common::option("token");
    embedded_server!(
        port = common::port(),
        host = "0.0.0.0",
        //+tls: tls = Tls::pem_files(common::required::<String>("cert"), common::required::<String>("key")),
        |app| {
            install!(app, WebSockets {
                ping_period = 15s,
                timeout = 15s,
                max_frame_size = 64KiB,
                max_messages_per_second = rate,
                //+deflate: extensions { Deflate },
            });
            app.state(Connections::<String>::new());
            app.state(ChatToken(token));
            app.get("/", |_| async { HttpResponse::html(PAGE) });
            app.get("/health", |_| async { HttpResponse::text("ok") });
            app.prometheus_route("/metrics");
            app.get("/stats", |_| async { HttpResponse::html(STATS) });
            routing!(app, chat);
        }
    )
    .start()
    .await
}
