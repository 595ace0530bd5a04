use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

fn main() {
    let keepalive = Some(std::time::Duration::from_secs(30));
    let server = embedded_server!(
        port = 0,
        max_connections = 50_000,
        max_connections_per_ip = 100,
        max_handshakes = 512,
        tcp_keepalive = keepalive,
        |app| {
            install!(app, WebSockets {
                idle_timeout = 2m,
                max_messages_per_second = 1000,
                outgoing_capacity_bytes = 1MiB,
            });
            routing!(app, echo);
        }
    );
    assert_eq!(server.limits().max_connections, 50_000);
    assert_eq!(server.limits().tcp_keepalive, keepalive);
    let _ = embedded_server!(tcp_keepalive = None, |app| routing!(app, echo));
}
