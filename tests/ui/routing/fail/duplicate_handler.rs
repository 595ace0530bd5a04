use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) {
    let _ = session;
}

#[web_socket("/chat")]
async fn chat(session: WebSocketSession) {
    let _ = session;
}

fn main() {
    let mut app = ws::Application::new();
    routing!(app, echo, chat, echo);
}
