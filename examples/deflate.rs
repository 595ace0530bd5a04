//! Echo with permessage-deflate (RFC 7692): browsers, Python `websockets` and Node `ws`
//! negotiate it; every message they send comes back compressed the same way.
//!
//! Run it:
//!
//! ```text
//! cargo run --example deflate                   # port 8080; or -- --port 9000, or PORT=9000
//! cargo run --example deflate -- --memory dedicated   # or shared (the default), small
//! cargo run --example deflate -- --level 1            # zlib level (default 6)
//! ```
//!
//! `/chat` broadcasts every text message to every `/chat` client.
//!
//! Try it: open <http://localhost:8080/>: the page connects to `/echo` and shows the
//! negotiated extension (`permessage-deflate`); or run
//! `python3 -m websockets ws://localhost:8080/echo`. (A page of another origin is
//! refused with 403: the origin check is on by default.)
//!
//! What the options cost (see `ws::extension::Deflate`'s docs): with `memory = Shared`
//! (the default) a session holds no compressor (its worker thread's compresses every
//! message) and, since the client is asked for `client_no_context_takeover`, no
//! decompressor; `Dedicated` keeps a compressor per session (about 315 KiB) for a
//! better ratio, `Small` a smaller one (about 170 KiB).
//! Compression costs a few microseconds per KiB at level 6, so small messages are
//! usually better sent as they are: raise `compress_if_bigger_than` in production
//! (this example compresses everything so that every size is exercised).

// ws-new: template
// ws-new: test /echo "hello"
// ws-new: test-send hello
mod common;

use ws::prelude::*;

/// A page that opens `/echo` and shows what was negotiated.
const PAGE: &str = include_str!("deflate.html");

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame @ (Frame::Text(_) | Frame::Binary(_)) in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

/// Every text message to every `/chat` client, sender included: a broadcast is
/// compressed once for all the members that compress alike (`memory = Shared`).
#[web_socket("/chat")]
async fn chat(session: WebSocketSession, State(connections): State<Connections>) -> Result<()> {
    let _member = connections.join(&session, ());
    for frame in session.incoming {
        if let Frame::Text(text) = frame {
            connections.broadcast(text);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    embedded_server!(port = common::port(), |app| {
        install!(app, WebSockets {
            max_message_size = 16MiB,
            extensions {
                Deflate {
                    memory = common::option::<DeflateMemory>("memory").unwrap_or_default(),
                    compression_level = common::option::<u32>("level").unwrap_or(6),
                    compress_if_bigger_than = 0,
                    server_max_window_bits = 15,
                    client_max_window_bits = 15,
                },
            },
        });
        app.state(Connections::<()>::new());
        app.get("/", |_| async { HttpResponse::html(PAGE) });
        //+metrics: app.prometheus_route("/metrics");
        routing!(app, echo, chat);
    })
    .start()
    .await
}
