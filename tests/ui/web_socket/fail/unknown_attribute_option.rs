use ws::prelude::*;

#[web_socket("/chat", protocl = "chat.v1")]
async fn chat(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
