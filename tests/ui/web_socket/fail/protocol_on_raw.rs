use ws::prelude::*;

#[web_socket_raw("/raw", protocol = "chat.v1")]
async fn raw(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
