//! The lifecycle sample (`examples/lifecycle.rs`): connect, message, close and error as a handler reads them.
#![deny(warnings)]
use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    println!("onConnect");
    for frame in session.incoming {
        let Frame::Text(text) = frame else {
            session.close(CloseReason::new(Codes::CANNOT_ACCEPT, "Text only")).await?;
            println!("onError {:?}", session.close_reason().await);
            return Ok(());
        };
        println!("onMessage {text}");
        session.send(Frame::Text(text)).await?;
    }
    println!("onClose {:?}", session.close_reason().await);
    Ok(())
}

fn main() {
    let _ = embedded_server!(|app| routing!(app, echo));
}
