//! The lifecycle sample: onConnect, onMessage, onClose and onError of an echo
//! session on `/echo`, each logged with `tracing`.
//!
//! - connect: the start of the handler;
//! - message: each turn of `for frame in session.incoming`;
//! - close: the loop ends (the peer closed); `close_reason()` holds the peer's reason;
//! - error: a frame that is not text (Ktor's sample casts every frame to text): the
//!   session is closed with 1003 CANNOT_ACCEPT and the reason is logged.
//!
//! Run it:
//!
//! ```text
//! cargo run --example lifecycle            # port 8080; or -- --port 9000, or PORT=9000
//! websocat ws://127.0.0.1:8080/echo        # texts are echoed; Ctrl-D closes (onClose)
//! websocat --binary ws://127.0.0.1:8080/echo   # a binary frame: onError, close 1003
//! ```
//!
//! `RUST_LOG=debug` shows more of what the server does.

// ws-new: template
// ws-new: deps tracing tracing-subscriber
// ws-new: test /echo "hello"
// ws-new: test-send hello
mod common;

use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
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
        session.send(Frame::Text(text)).await?;
    }
    // (Awaited outside the macro: `tracing`'s values must not live across an `.await`.)
    let reason = session.close_reason().await;
    tracing::info!(reason = ?reason, "onClose");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    embedded_server!(port = common::port(), host = "0.0.0.0", |app| {
        install!(app, WebSockets {
            ping_period = 15s,
            timeout = 15s,
        });
        routing!(app, echo);
    })
    .start()
    .await
}
