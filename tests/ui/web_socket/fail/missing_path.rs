use ws::prelude::*;

#[web_socket]
async fn echo(session: WebSocketSession) {
    let _ = session;
}

fn main() {}
