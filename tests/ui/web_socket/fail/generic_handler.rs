use ws::prelude::*;

#[web_socket("/state")]
async fn handler<T: Send + Sync + 'static>(session: WebSocketSession, state: State<T>) {
    let _ = (session, state);
}

fn main() {}
