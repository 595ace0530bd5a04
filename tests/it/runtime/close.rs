//! Close reasons both ways, and pings (Ktor's ping period and timeout).

use super::*;
use crate::raw::{self, RawClient};

#[tokio::test]
async fn server_close_reaches_the_client_and_close_reason_is_ours() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.route(reporting_route("/echo", tx));
    })
    .await;
    let mut client = connect(server.local_addr(), "/echo").await;
    send_text(&mut client, "bye").await;
    let frame = close_frame_of(&mut client)
        .await
        .expect("close frame with a code");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (TCode::Normal, "Client said BYE")
    );
    // Reading on sends tokio-tungstenite's reply and sees the server close TCP.
    assert!(next(&mut client).await.is_none());
    let reason = recv(&mut rx).await.expect("a reason");
    assert_eq!(
        (reason.code(), reason.message()),
        (Codes::NORMAL, "Client said BYE")
    );
}

#[tokio::test]
async fn client_close_reason_reaches_the_handler() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.route(reporting_route("/echo", tx));
    })
    .await;
    let mut client = connect(server.local_addr(), "/echo").await;
    client
        .close(Some(CloseFrame {
            code: TCode::Away,
            reason: "tab closed".into(),
        }))
        .await
        .unwrap();
    let reason = recv(&mut rx).await.expect("a reason");
    assert_eq!(
        (reason.code(), reason.message()),
        (Codes::GOING_AWAY, "tab closed")
    );
    // The server echoes the code and closes the TCP connection.
    let frame = close_frame_of(&mut client).await.expect("echoed close");
    assert_eq!(frame.code, TCode::Away);
}

#[tokio::test]
async fn dropped_connection_gives_no_close_reason() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.route(reporting_route("/echo", tx));
    })
    .await;
    let client = RawClient::connect(server.local_addr(), "/echo").await;
    drop(client);
    assert_eq!(recv(&mut rx).await, None);
}

#[tokio::test]
async fn empty_close_frame_gives_no_status_1005() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.route(reporting_route("/echo", tx));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/echo").await;
    client.send(&raw::masked(true, raw::CLOSE, &[])).await;
    let echoed = client.expect_close().await;
    assert!(echoed.payload.is_empty());
    assert!(
        client.wait_eof().await,
        "server closes TCP after the handshake"
    );
    let reason = recv(&mut rx).await.expect("a reason");
    assert_eq!(reason.code(), Codes::NO_STATUS);
}

#[tokio::test]
async fn unanswered_pings_close_the_session_with_1011_ping_timeout() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.install(
            WebSocketOptions::new()
                .ping_period(Duration::from_millis(100))
                .timeout(Duration::from_millis(300)),
        );
        app.route(reporting_route("/echo", tx));
    })
    .await;
    // The raw client never answers pings.
    let mut client = RawClient::connect(server.local_addr(), "/echo").await;
    let mut pings = 0;
    let close = loop {
        let frame = client.read_frame().await.expect("frames until the close");
        match frame.opcode {
            raw::PING => pings += 1,
            raw::CLOSE => break frame,
            other => panic!("unexpected opcode {other}"),
        }
    };
    assert!(pings >= 1);
    assert_eq!(
        (close.close_code(), close.close_reason().as_str()),
        (Some(1011), "Ping timeout")
    );
    let reason = recv(&mut rx).await.expect("a reason");
    assert_eq!(
        (reason.code(), reason.message()),
        (Codes::INTERNAL_ERROR, "Ping timeout")
    );
}

#[tokio::test]
async fn answered_pings_keep_the_session_open() {
    let server = serve(|app| {
        app.install(
            WebSocketOptions::new()
                .ping_period(Duration::from_millis(50))
                .timeout(Duration::from_millis(200)),
        );
        app.route(echo_route("/echo"));
    })
    .await;
    // tokio-tungstenite answers pings while we read.
    let mut client = connect(server.local_addr(), "/echo").await;
    let mut pings = 0;
    while pings < 8 {
        match next(&mut client).await {
            Some(Message::Ping(_)) => pings += 1,
            other => panic!("expected pings only, got {other:?}"),
        }
    }
    send_text(&mut client, "still here").await;
    loop {
        match next(&mut client).await {
            Some(Message::Text(t)) => {
                assert_eq!(t.as_str(), "still here");
                break;
            }
            Some(Message::Ping(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn pongs_go_out_while_the_handler_is_busy_or_idle() {
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let server = serve(move |app| {
        app.route(Route::new("/busy", move |session: WebSocketSession| {
            let mut release = release_rx.clone();
            async move {
                // Busy with something else, not reading `incoming` at all.
                let _ = release.wait_for(|r| *r).await;
                session.send("released").await
            }
        }));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/busy").await;
    for i in 0..3u8 {
        client.send(&raw::masked(true, raw::PING, &[i, 42])).await;
        let pong = client.read_frame().await.expect("a pong");
        assert_eq!((pong.opcode, pong.payload), (raw::PONG, vec![i, 42]));
    }
    release_tx.send(true).unwrap();
    assert_eq!(client.read_frame().await.unwrap().payload, b"released");
}
