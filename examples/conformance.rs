//! A plain echo on `/echo` for conformance suites and benchmarks: every text and
//! binary message comes back as it came, with the default limits.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example conformance              # port 8080; or -- --port 9000, or PORT=9000
//! cargo run --release --example conformance -- --deflate # also offer permessage-deflate
//! websocat ws://127.0.0.1:8080/echo
//! ```
//!
//! The Autobahn|Testsuite fuzzing client can point at `ws://HOST:8080/echo`; its
//! permessage-deflate cases (12.x, 13.x) need `--deflate`.

mod common;

use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    // Control frames are answered by the session and never reach this loop; the
    // pattern keeps data frames only.
    for frame @ (Frame::Text(_) | Frame::Binary(_)) in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let deflate = std::env::args().any(|arg| arg == "--deflate");
    embedded_server!(port = common::port(), host = "0.0.0.0", |app| {
        if deflate {
            install!(app, WebSockets { extensions { Deflate } });
        } else {
            install!(app, WebSockets);
        }
        routing!(app, echo);
    })
    .start()
    .await
}
