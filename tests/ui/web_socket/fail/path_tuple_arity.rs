use ws::prelude::*;

#[web_socket("/rooms/{room}")]
async fn room(session: WebSocketSession, Path((room, user)): Path<(String, u32)>) {
    let _ = (session, room, user);
}

fn main() {}
