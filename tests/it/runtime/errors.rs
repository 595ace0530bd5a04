//! Handler errors and panics, message limits, protocol violations.

use super::*;
use crate::raw::{self, RawClient};

#[tokio::test]
async fn panicking_handler_closes_1011_and_others_keep_working() {
    let server = serve(|app| {
        app.route(Route::new(
            "/panic",
            |session: WebSocketSession| async move {
                let _ = session.incoming.recv().await;
                if true {
                    panic!("handler bug");
                }
                Ok::<(), ws::Error>(())
            },
        ));
        app.route(echo_route("/echo"));
    })
    .await;
    let addr = server.local_addr();
    let mut healthy = connect(addr, "/echo").await;
    let mut doomed = connect(addr, "/panic").await;
    send_text(&mut doomed, "boom").await;
    let frame = close_frame_of(&mut doomed)
        .await
        .expect("close with a code");
    assert_eq!(frame.code, TCode::Error);
    send_text(&mut healthy, "alive").await;
    assert_eq!(next_text(&mut healthy).await, "alive");
    let mut fresh = connect(addr, "/echo").await;
    send_text(&mut fresh, "new").await;
    assert_eq!(next_text(&mut fresh).await, "new");
}

#[tokio::test]
async fn handler_error_closes_1011() {
    let server = serve(|app| {
        app.route(Route::new(
            "/fail",
            |_session: WebSocketSession| async move { Err::<(), _>("database unreachable") },
        ));
    })
    .await;
    let mut client = connect(server.local_addr(), "/fail").await;
    let frame = close_frame_of(&mut client)
        .await
        .expect("close with a code");
    assert_eq!(frame.code, TCode::Error);
    // Internal details stay in the server log.
    assert_eq!(frame.reason.as_str(), "Internal server error");
}

#[tokio::test]
async fn handler_returning_closes_normally_after_its_frames() {
    let server = serve(|app| {
        app.route(Route::new(
            "/short",
            |session: WebSocketSession| async move {
                for i in 0..100 {
                    session.send(format!("m{i}")).await?;
                }
                Ok::<(), ws::Error>(())
            },
        ));
    })
    .await;
    let mut client = connect(server.local_addr(), "/short").await;
    for i in 0..100 {
        assert_eq!(next_text(&mut client).await, format!("m{i}"));
    }
    let frame = close_frame_of(&mut client).await.expect("normal close");
    assert_eq!(frame.code, TCode::Normal);
}

#[tokio::test]
async fn message_over_the_limit_closes_1009() {
    let server = serve(|app| {
        app.install(WebSocketOptions::new().max_frame_size(1000));
        app.route(echo_route("/echo"));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/echo").await;
    client
        .send(&raw::masked(true, raw::BINARY, &[7; 1000]))
        .await;
    assert_eq!(client.read_frame().await.unwrap().payload.len(), 1000);
    // Over the limit in two fragments: Ktor checks the reassembled message.
    client
        .send(&raw::masked(false, raw::BINARY, &[1; 600]))
        .await;
    client.send(&raw::masked(true, raw::CONT, &[1; 600])).await;
    let close = client.expect_close().await;
    assert_eq!(close.close_code(), Some(1009));
    assert!(client.wait_eof().await);
}

#[tokio::test]
async fn protocol_violations_get_their_close_codes() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let addr = server.local_addr();
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "rsv1 without extension",
            raw::encode(true, 4, raw::TEXT, b"x", Some([1, 2, 3, 4])),
            1002,
        ),
        ("reserved opcode", raw::masked(true, 0x3, b""), 1002),
        (
            "unmasked frame",
            raw::encode(true, 0, raw::TEXT, b"x", None),
            1002,
        ),
        (
            "invalid utf-8",
            raw::masked(
                true,
                raw::TEXT,
                &[
                    0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0,
                    0x80,
                ],
            ),
            1007,
        ),
    ];
    for (name, bytes, code) in cases {
        let mut client = RawClient::connect(addr, "/echo").await;
        client.send(&bytes).await;
        let close = client.expect_close().await;
        assert_eq!(close.close_code(), Some(code), "{name}");
        assert!(client.wait_eof().await, "{name}: TCP closed");
    }
}
