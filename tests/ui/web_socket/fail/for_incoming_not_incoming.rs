use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) {
    let incoming = vec![Frame::text("a"), Frame::text("b")];
    for frame in incoming {
        let _ = session.send(frame).await;
    }
}

fn main() {}
