use ws::prelude::*;

async fn echo(session: WebSocketSession) {
    let _ = session;
}

fn main() {
    let mut app = ws::Application::new();
    routing!(app, echo);
}
