use ws::prelude::*;

#[web_socket("/echo")]
fn echo(session: WebSocketSession) -> Result<()> {
    session.send("hello").await?;
    Ok(())
}

fn main() {}
