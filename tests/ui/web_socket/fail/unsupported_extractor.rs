use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession, name: String) {
    let _ = (session, name);
}

fn main() {}
