use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<String> {
    let _ = session;
    Ok("done".to_string())
}

fn main() {}
