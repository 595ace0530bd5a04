use ws::prelude::*;

#[web_socket("/chat?room=lobby")]
async fn chat(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
