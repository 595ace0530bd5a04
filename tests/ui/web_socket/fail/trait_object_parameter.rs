use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession +) {
    let _ = session;
}

#[web_socket("/dyn")]
async fn with_dyn(session: dyn Send) {
    let _ = session;
}

fn main() {}
