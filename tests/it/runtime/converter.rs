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

/// A frame that does not convert is a typed error the handler answers; the session
/// goes on (and the frame that failed comes back in the error).
#[tokio::test]
async fn a_frame_that_does_not_convert_is_an_error_the_handler_answers() {
    #[derive(serde::Deserialize)]
    struct Move {
        x: i32,
    }
    let server = serve(|app| {
        app.install(WebSocketOptions::new().content_converter(ws::JsonConverter));
        app.route(Route::new(
            "/game",
            |session: WebSocketSession| async move {
                loop {
                    match session.receive_deserialized::<Move>().await {
                        Ok(Some(Move { x })) => session.send(format!("x={x}")).await?,
                        Ok(None) => return Ok(()),
                        Err(ws::Error::Convert(e)) => {
                            let echoed = match e.frame() {
                                Some(Frame::Text(text)) => text.to_string(),
                                other => format!("{other:?}"),
                            };
                            session.send(format!("bad move `{echoed}`: {e}")).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
            },
        ));
    })
    .await;
    let mut client = connect(server.local_addr(), "/game").await;
    send_text(&mut client, "not json").await;
    let answer = next_text(&mut client).await;
    assert!(
        answer.starts_with("bad move `not json`: expected"),
        "{answer}"
    );
    // Valid JSON of the wrong shape is the same kind of error (serde's message).
    send_text(&mut client, r#"{"y":1}"#).await;
    let answer = next_text(&mut client).await;
    assert!(answer.contains("missing field `x`"), "{answer}");
    // And the session is still there.
    send_text(&mut client, r#"{"x":7}"#).await;
    assert_eq!(next_text(&mut client).await, "x=7");
}

/// The second format of the trait: MessagePack in binary frames, read and written by
/// the client with `rmp-serde` (feature `msgpack`).
#[tokio::test]
async fn message_pack_converter_speaks_binary_frames() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Move {
        x: i32,
        name: String,
    }
    let server = serve(|app| {
        app.install(WebSocketOptions::new().content_converter(ws::MessagePackConverter));
        app.route(Route::new(
            "/game",
            |session: WebSocketSession| async move {
                loop {
                    match session.receive_deserialized::<Move>().await {
                        Ok(Some(m)) => {
                            session
                                .send_serialized(&Move {
                                    x: m.x + 1,
                                    name: m.name.to_uppercase(),
                                })
                                .await?
                        }
                        Ok(None) => return Ok(()),
                        Err(ws::Error::Convert(e)) => session.send(format!("error: {e}")).await?,
                        Err(e) => return Err(e),
                    }
                }
            },
        ));
    })
    .await;
    let mut client = connect(server.local_addr(), "/game").await;
    let bytes = rmp_serde::to_vec_named(&Move {
        x: 1,
        name: "ada".into(),
    })
    .unwrap();
    client.send(Message::binary(bytes)).await.unwrap();
    let reply = match next(&mut client).await {
        Some(Message::Binary(bytes)) => rmp_serde::from_slice::<Move>(&bytes).unwrap(),
        other => panic!("expected a binary frame, got {other:?}"),
    };
    assert_eq!(
        reply,
        Move {
            x: 2,
            name: "ADA".into()
        }
    );
    // Text is not MessagePack: a typed error, answered.
    send_text(&mut client, "hello").await;
    let answer = next_text(&mut client).await;
    assert!(
        answer.starts_with("error: MessagePack comes in binary frames"),
        "{answer}"
    );
    // Bytes that are not MessagePack (0xc1 is never used).
    client.send(Message::binary(vec![0xc1])).await.unwrap();
    assert!(next_text(&mut client).await.starts_with("error: "));
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
