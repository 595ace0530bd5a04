use ws::prelude::*;

fn not_async(_: &HandshakeRequest<'_>) -> bool {
    true
}

#[web_socket("/chat", guard = not_async)]
async fn chat(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

fn main() {}
