//! The runtime against real clients, one module per concern: handshake answers, routing, close reasons, pings,
//! errors, shutdown, many sessions. Handlers here are plain closures (`Route::new`);
//! the DSL's own tests live in `dsl.rs`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCode;
use ws::{
    ChannelOverflow, CloseReason, Codes, Connections, Frame, HttpResponse, Route, WebSocketOptions,
    WebSocketSession,
};

use crate::support::*;

/// A channel the handler reports to, and the receiving end the test reads.
pub(super) fn probe<T>() -> (mpsc::UnboundedSender<T>, mpsc::UnboundedReceiver<T>) {
    mpsc::unbounded_channel()
}

pub(super) async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("handler reported within 5 s")
        .expect("probe open")
}

pub(super) fn echo_route(path: &str) -> Route {
    Route::new(path, |session: WebSocketSession| async move {
        while let Some(frame) = session.incoming.recv().await {
            session.send(frame).await?;
        }
        Ok::<(), ws::Error>(())
    })
}

/// A route whose handler reports its close reason when the session ends.
pub(super) fn reporting_route(path: &str, tx: mpsc::UnboundedSender<Option<CloseReason>>) -> Route {
    Route::new(path, move |session: WebSocketSession| {
        let tx = tx.clone();
        async move {
            while let Some(frame) = session.incoming.recv().await {
                if frame.read_text() == Some("bye") {
                    session
                        .close(CloseReason::new(Codes::NORMAL, "Client said BYE"))
                        .await?;
                } else {
                    session.send(frame).await?;
                }
            }
            let _ = tx.send(session.close_reason().await);
            Ok::<(), ws::Error>(())
        }
    })
}

pub(super) async fn close_frame_of(client: &mut Client) -> Option<CloseFrame> {
    loop {
        match next(client).await {
            Some(Message::Close(frame)) => return frame,
            Some(_) => continue,
            None => panic!("stream ended without a close frame"),
        }
    }
}

mod buffers;
mod close;
mod converter;
mod errors;
mod handshake;
mod lifecycle;
mod raw_sessions;
mod startup;
