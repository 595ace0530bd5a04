use ws::prelude::*;

async fn auth(_: &HandshakeRequest<'_>) -> std::result::Result<(), Rejection> {
    Ok(())
}

#[web_socket("/a", guard = "auth")]
async fn a(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

#[web_socket("/b", guard = auth, guard = auth)]
async fn b(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

#[web_socket("/c", auth = auth)]
async fn c(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

fn main() {}
