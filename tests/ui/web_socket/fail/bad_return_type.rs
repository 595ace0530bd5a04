use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> i32 {
    let _ = session;
    42
}

fn main() {}
