//! The README's content converter sample.
#![deny(warnings)]
use ws::prelude::*;

#[derive(serde::Deserialize, serde::Serialize)]
struct Move {
    x: i32,
    y: i32,
}

#[web_socket("/game")]
async fn game(session: WebSocketSession) -> Result<()> {
    loop {
        match session.receive_deserialized::<Move>().await {
            Ok(Some(Move { x, y })) => session.send_serialized(&Move { x: y, y: x }).await?,
            Ok(None) => return Ok(()), // closed
            Err(Error::Convert(e)) => session.send(format!("not a move: {e}")).await?,
            Err(e) => return Err(e),
        }
    }
}

/// The README's `main`, compiled, not run (it would serve until killed).
#[allow(dead_code)]
async fn serve() -> Result<(), ServerError> {
    embedded_server!(port = 8080, |app| {
        install!(app, WebSockets { content_converter = JsonConverter });
        // or, with `features = ["msgpack"]`: content_converter = ws::MessagePackConverter
        routing!(app, game);
    })
    .start()
    .await
}

fn main() {}
