use ws::prelude::*;

#[web_socket("/rooms/{id}/users/{id}")]
async fn user(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
