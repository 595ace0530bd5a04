use ws::prelude::*;

#[web_socket("/rooms")]
async fn room(session: WebSocketSession, Path(room): Path<String>) {
    let _ = (session, room);
}

fn main() {}
