use std::rc::Rc;

use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    let count = Rc::new(0);
    session.send("hello").await?;
    let _ = count;
    Ok(())
}

fn main() {}
