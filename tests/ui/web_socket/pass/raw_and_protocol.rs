//! `#[web_socket_raw]` and `protocol = "..."`.
#![deny(warnings)]
use ws::prelude::*;

#[web_socket_raw("/raw")]
async fn raw(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        if let Frame::Ping(payload) = frame {
            session.send(Frame::pong(payload)).await?;
        }
    }
    Ok(())
}

#[web_socket("/chat", protocol = "chat.v1")]
async fn chat_v1(session: WebSocketSession) -> Result<()> {
    session.send("v1").await
}

#[web_socket("/chat", protocol = "chat.v2")]
async fn chat_v2(session: WebSocketSession) -> Result<()> {
    session.send("v2").await
}

fn main() {
    let server = embedded_server!(|app| routing!(app, raw, chat_v1, chat_v2));
    let routes = server.application().routes();
    assert!(routes[0].is_raw());
    assert_eq!(routes[1].required_protocol(), Some("chat.v1"));
    assert_eq!(routes[2].required_protocol(), Some("chat.v2"));
}
