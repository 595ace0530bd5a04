use ws::prelude::*;

#[web_socket("/chat")]
async fn chat(session: WebSocketSession) -> Result<()> {
    drop(session);
    Ok(())
}

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets { allowed_origins = ["*"] });
    let mut other = ws::Application::new();
    install!(other, WebSockets { allowed_origins = ["https://a.*.example", "null"] });
    let _ = embedded_server!(
        trusted_proxies = ["10.0.0.0/33", "proxy.internal", 10],
        proxy_protocol = 1,
        |app| routing!(app, chat)
    );
    let _ = embedded_server!(trusted_proxies = "10.0.0.1", |app| routing!(app, chat));
}
