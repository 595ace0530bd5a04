use ws::prelude::*;

#[web_socket("/rooms/{1st}")]
async fn room(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
