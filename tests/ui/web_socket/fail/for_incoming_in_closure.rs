use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) {
    let read_all = || {
        for frame in session.incoming {
            let _ = frame;
        }
    };
    read_all();
}

fn main() {}
