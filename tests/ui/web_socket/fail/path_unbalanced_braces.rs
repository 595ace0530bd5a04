use ws::prelude::*;

#[web_socket("/rooms/{room")]
async fn room(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
