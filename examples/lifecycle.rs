//! The lifecycle sample: onConnect, onMessage, onClose and onError of an echo
//! session on `/echo`, each logged with `tracing`.
//!
//! - connect: the start of the handler;
//! - message: each turn of `for frame in session.incoming`;
//! - close: the loop ends (the peer closed); `close_reason()` holds the peer's reason;
//! - error: a frame that is not text (Ktor's sample casts every frame to text): the
//!   session is closed with 1003 CANNOT_ACCEPT and the reason is logged;
//! - a handler's `Err`: the text `fail` makes the handler return an error. The server
//!   closes the session with 1011 and logs the error's text at `error`, inside the
//!   session's span (its id, route, client address and extensions).
//!
//! The example installs no log of its own: `start()` installs a readable one on stderr
//! because the program has none (`RUST_LOG` honoured). `--quiet` turns that off
//! (`embedded_server!(log = false, ..)`), and nothing is logged at all.
//!
//! Run it:
//!
//! ```text
//! cargo run --example lifecycle            # port 8080; or -- --port 9000, or PORT=9000
//! cargo run --example client -- ws://127.0.0.1:8080/echo            # texts are echoed; Ctrl-D closes (onClose)
//! cargo run --example client -- --binary ws://127.0.0.1:8080/echo   # a binary frame: onError, close 1003
//! ```
//!
//! `RUST_LOG=debug` shows more of what the server does (each session's start and end).

// ws-new: template
// ws-new: deps tracing
// ws-new: test /echo "hello"
// ws-new: test-send hello
mod common;

use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing::info!(peer = %session.remote_addr(), "onConnect");
    for frame in session.incoming {
        let Frame::Text(text) = frame else {
            let reason = CloseReason::new(
                Codes::CANNOT_ACCEPT,
                format!(
                    "only text frames are accepted, got {:?}",
                    frame.frame_type()
                ),
            );
            session.close(reason).await?;
            let reason = session.close_reason().await;
            tracing::error!(reason = ?reason, "onError");
            return Ok(());
        };
        tracing::info!(%text, "onMessage");
        if text == "fail" {
            // The server logs this text and closes with 1011 "Internal server error".
            return Err("the client asked to fail".into());
        }
        session.send(Frame::Text(text)).await?;
    }
    // (Awaited outside the macro: `tracing`'s values must not live across an `.await`.)
    let reason = session.close_reason().await;
    tracing::info!(reason = ?reason, "onClose");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    let quiet = std::env::args().any(|arg| arg == "--quiet");
    embedded_server!(
        port = common::port(),
        host = "0.0.0.0",
        log = !quiet,
        |app| {
            install!(app, WebSockets {
                ping_period = 15s,
                timeout = 15s,
            });
            //+metrics: app.prometheus_route("/metrics");
            routing!(app, echo);
        }
    )
    .start()
    .await
}
