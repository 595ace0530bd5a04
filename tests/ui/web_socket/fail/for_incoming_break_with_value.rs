use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) {
    for frame in session.incoming {
        if frame.is_control() {
            break 1;
        }
    }
}

fn main() {}
