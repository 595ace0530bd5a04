use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: &WebSocketSession) {
    let _ = session;
}

fn main() {}
