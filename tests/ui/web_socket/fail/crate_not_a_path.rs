use ws::prelude::*;

#[web_socket("/echo", crate = 42)]
async fn echo(session: WebSocketSession) {
    for frame in session.incoming {
        let _ = session.send(frame).await;
    }
}

fn main() {
    let mut app = ws::Application::new();
    routing!(crate = ws + 1, app, echo);
    install!(crate = "ws<T>::inner", app, WebSockets);
}
