use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession, incoming: Incoming) {
    let _ = (session, incoming);
}

fn main() {}
