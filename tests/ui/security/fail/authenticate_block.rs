use ws::prelude::*;

#[web_socket("/chat")]
async fn chat(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

fn main() {
    let mut app = ws::Application::new();
    routing!(app, authenticate(auth));
    routing!(app, authorize(auth) { chat });
    routing!(app, authenticate(auth) {});
}
