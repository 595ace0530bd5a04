use ws::prelude::*;

const PATH: &str = "/echo";

#[web_socket(PATH)]
async fn echo(session: WebSocketSession) {
    let _ = (session, PATH);
}

fn main() {}
