use ws::prelude::*;

#[web_socket("/chat", protocol = "chat.v1", protocol = "chat.v2")]
async fn chat(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
