//! The content converter (JSON both ways) and the allowed origins.

use super::*;
use crate::raw::{self, RawClient};

#[tokio::test]
async fn content_converter_sends_and_receives_json() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Move {
        x: i32,
        y: i32,
    }
    let server = serve(|app| {
        app.install(WebSocketOptions::new().content_converter(ws::JsonConverter));
        app.route(Route::new(
            "/game",
            |session: WebSocketSession| async move {
                while let Some(Move { x, y }) = session.receive_deserialized::<Move>().await? {
                    session.send_serialized(&Move { x: y, y: x }).await?;
                }
                Ok::<(), ws::Error>(())
            },
        ));
    })
    .await;
    let mut client = connect(server.local_addr(), "/game").await;
    send_text(&mut client, r#"{"x":1,"y":2}"#).await;
    let reply: serde_json::Value = serde_json::from_str(&next_text(&mut client).await).unwrap();
    assert_eq!(reply, serde_json::json!({"x": 2, "y": 1}));
    // A frame that does not deserialize is a handler error: 1011.
    send_text(&mut client, "not json").await;
    let frame = close_frame_of(&mut client)
        .await
        .expect("close with a code");
    assert_eq!(frame.code, TCode::Error);
}

#[tokio::test]
async fn foreign_origins_are_refused_with_403() {
    let server = serve(|app| {
        app.install(WebSocketOptions::new().allowed_origins(["https://app.example"]));
        app.route(echo_route("/echo"));
    })
    .await;
    let addr = server.local_addr();
    let foreign = raw::upgrade_request("/echo", "Origin: https://evil.example\r\n");
    assert_eq!(
        RawClient::handshake(addr, foreign.as_bytes())
            .await
            .reply
            .status,
        403
    );
    let allowed = raw::upgrade_request("/echo", "Origin: https://app.example\r\n");
    RawClient::connect_with(addr, allowed).await;
    // Clients that send no Origin (not browsers) are not affected.
    RawClient::connect(addr, "/echo").await;
}
