use ws::prelude::*;

#[derive(Debug)]
struct Oops;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> std::result::Result<(), Oops> {
    let _ = session;
    Err(Oops)
}

fn main() {}
