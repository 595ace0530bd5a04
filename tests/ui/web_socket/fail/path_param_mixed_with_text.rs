use ws::prelude::*;

#[web_socket("/rooms/room-{id}")]
async fn room(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
