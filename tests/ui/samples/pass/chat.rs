//! The README's multi-session chat (Ktor's), with `State<Connections<_>>`.
#![deny(warnings)]
use std::sync::atomic::{AtomicUsize, Ordering};

use ws::prelude::*;

static LAST_ID: AtomicUsize = AtomicUsize::new(0);

#[web_socket("/chat")]
async fn chat(session: WebSocketSession, State(connections): State<Connections<String>>) -> Result<()> {
    let name = format!("user{}", LAST_ID.fetch_add(1, Ordering::Relaxed));
    let me = connections.join(&session, name);
    session
        .send(format!("You are connected! There are {} users here.", connections.len()))
        .await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        connections.broadcast(format!("[{}]: {text}", *me));
    }
    Ok(())
}

fn main() {
    let server = embedded_server!(port = 0, |app| {
        app.state(Connections::<String>::new());
        routing!(app, chat);
    });
    assert_eq!(server.application().routes().len(), 1);
}
