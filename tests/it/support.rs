//! Shared helpers: start a server on 127.0.0.1:0, connect tokio-tungstenite clients.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use ws::{Application, EmbeddedServer, RunningServer};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Starts a server on an ephemeral loopback port.
pub async fn serve(configure: impl FnOnce(&mut Application)) -> RunningServer {
    EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .grace_period(Duration::from_secs(2))
        .configure(configure)
        .bind()
        .await
        .expect("server binds")
}

/// Connects a tokio-tungstenite client to `path`.
pub async fn connect(addr: SocketAddr, path: &str) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .expect("client connects");
    client
}

/// The next message, failing the test after 5 s.
pub async fn next(client: &mut Client) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("a message within 5 s")
        .map(|m| m.expect("no protocol error"))
}

/// The next text message.
pub async fn next_text(client: &mut Client) -> String {
    match next(client).await {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

pub async fn send_text(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.expect("send");
}
