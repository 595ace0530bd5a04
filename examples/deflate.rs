//! Echo with permessage-deflate (RFC 7692): browsers, Python `websockets` and Node `ws`
//! negotiate it; every message they send comes back compressed the same way.
//!
//! Run it:
//!
//! ```text
//! cargo run --example deflate                   # port 8080; or -- --port 9000, or PORT=9000
//! ```
//!
//! Try it: open <http://localhost:8080/>: the page connects to `/echo` and shows the
//! negotiated extension (`permessage-deflate`); or run
//! `python3 -m websockets ws://localhost:8080/echo`. (A page of another origin is
//! refused with 403: the origin check is on by default.)
//!
//! What the options cost (see the `ws::extension::deflate` docs): each compressed session
//! holds a compressor (about 256 KiB at 15 window bits, 144 KiB at 12) and a
//! decompressor (about 40 KiB), created on first use; `server_no_context_takeover` and
//! `client_no_context_takeover` free them after every message, at some loss of ratio.
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

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    embedded_server!(port = common::port(), |app| {
        install!(app, WebSockets {
            max_message_size = 16MiB,
            extensions {
                Deflate {
                    compression_level = 6,
                    compress_if_bigger_than = 0,
                    server_max_window_bits = 15,
                    client_max_window_bits = 15,
                },
            },
        });
        app.get("/", |_| async { HttpResponse::html(PAGE) });
        //+metrics: app.prometheus_route("/metrics");
        routing!(app, echo);
    })
    .start()
    .await
}
