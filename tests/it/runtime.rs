//! The runtime against real clients: handshake answers, routing, close reasons, pings,
//! errors, shutdown, many sessions. Handlers here are plain closures (`Route::new`);
//! the DSL's own tests live in `dsl.rs`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCode;
use ws::{
    ChannelOverflow, CloseReason, Codes, Connections, Frame, HttpResponse, Route, WebSocketOptions,
    WebSocketSession,
};

use crate::raw::{self, RawClient};
use crate::support::*;

/// A channel the handler reports to, and the receiving end the test reads.
fn probe<T>() -> (mpsc::UnboundedSender<T>, mpsc::UnboundedReceiver<T>) {
    mpsc::unbounded_channel()
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("handler reported within 5 s")
        .expect("probe open")
}

fn echo_route(path: &str) -> Route {
    Route::new(path, |session: WebSocketSession| async move {
        while let Some(frame) = session.incoming.recv().await {
            session.send(frame).await?;
        }
        Ok::<(), ws::Error>(())
    })
}

/// A route whose handler reports its close reason when the session ends.
fn reporting_route(path: &str, tx: mpsc::UnboundedSender<Option<CloseReason>>) -> Route {
    Route::new(path, move |session: WebSocketSession| {
        let tx = tx.clone();
        async move {
            while let Some(frame) = session.incoming.recv().await {
                if frame.read_text() == Some("bye") {
                    session
                        .close(CloseReason::new(Codes::NORMAL, "Client said BYE"))
                        .await?;
                } else {
                    session.send(frame).await?;
                }
            }
            let _ = tx.send(session.close_reason().await);
            Ok::<(), ws::Error>(())
        }
    })
}

async fn close_frame_of(client: &mut Client) -> Option<CloseFrame> {
    loop {
        match next(client).await {
            Some(Message::Close(frame)) => return frame,
            Some(_) => continue,
            None => panic!("stream ended without a close frame"),
        }
    }
}

// ----- handshake answers -----

#[tokio::test]
async fn unknown_path_is_404() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/nope", server.local_addr()))
        .await
        .expect_err("no route");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 404),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

#[tokio::test]
async fn plain_get_on_websocket_route_is_400() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let reply = RawClient::handshake(
        server.local_addr(),
        b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .reply;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("WebSocket endpoint"), "{}", reply.body);
}

#[tokio::test]
async fn wrong_version_is_426_with_supported_version() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let request = raw::upgrade_request("/echo", "").replace("Version: 13", "Version: 8");
    let reply = RawClient::handshake(server.local_addr(), request.as_bytes())
        .await
        .reply;
    assert_eq!(reply.status, 426);
    assert_eq!(reply.header("sec-websocket-version"), Some("13"));
}

#[tokio::test]
async fn bad_or_missing_key_is_400_and_post_is_405() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let addr = server.local_addr();
    let bad_key = raw::upgrade_request("/echo", "").replace(raw::KEY, "short==");
    assert_eq!(
        RawClient::handshake(addr, bad_key.as_bytes())
            .await
            .reply
            .status,
        400
    );
    let no_key = raw::upgrade_request("/echo", "")
        .replace(&format!("Sec-WebSocket-Key: {}\r\n", raw::KEY), "");
    assert_eq!(
        RawClient::handshake(addr, no_key.as_bytes())
            .await
            .reply
            .status,
        400
    );
    let post = raw::upgrade_request("/echo", "").replacen("GET", "POST", 1);
    assert_eq!(
        RawClient::handshake(addr, post.as_bytes())
            .await
            .reply
            .status,
        405
    );
}

#[tokio::test]
async fn subprotocol_is_selected_or_refused() {
    let server = serve(|app| {
        app.route(
            Route::new("/chat", |session: WebSocketSession| async move {
                let protocol = session.protocol().unwrap_or("none").to_string();
                session.send(protocol).await
            })
            .protocol("chat.v1"),
        );
    })
    .await;
    let addr = server.local_addr();
    let offered = raw::upgrade_request("/chat", "Sec-WebSocket-Protocol: other, chat.v1\r\n");
    let mut client = RawClient::connect_with(addr, offered).await;
    assert_eq!(
        client.reply.header("sec-websocket-protocol"),
        Some("chat.v1")
    );
    assert_eq!(client.read_frame().await.unwrap().payload, b"chat.v1");

    let refused = RawClient::handshake(addr, raw::upgrade_request("/chat", "").as_bytes())
        .await
        .reply;
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("`chat.v1`"), "{}", refused.body);
}

#[tokio::test]
async fn path_params_query_headers_and_address_reach_the_session() {
    let server = serve(|app| {
        app.route(Route::new(
            "/rooms/{room}/users/{id}",
            |session: WebSocketSession| async move {
                let report = format!(
                    "{} {} {} {} {}",
                    session.path_param("room").unwrap_or("-"),
                    session.path_param("id").unwrap_or("-"),
                    session.query_param("token").unwrap_or_default(),
                    session
                        .headers()
                        .get("x-client")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-"),
                    session.remote_addr().ip(),
                );
                session.send(report).await
            },
        ));
    })
    .await;
    let request = raw::upgrade_request("/rooms/lobby%201/users/7?token=a%2Bb", "X-Client: raw\r\n");
    let mut client = RawClient::connect_with(server.local_addr(), request).await;
    let frame = client.read_frame().await.unwrap();
    assert_eq!(
        String::from_utf8(frame.payload).unwrap(),
        "lobby 1 7 a+b raw 127.0.0.1"
    );
}

#[tokio::test]
async fn plain_http_routes_live_beside_websocket_routes() {
    let server = serve(|app| {
        app.route(echo_route("/"));
        app.get("/", |_| async { HttpResponse::html("<h1>chat</h1>") });
        app.get("/health", |_| async { HttpResponse::text("ok") });
    })
    .await;
    let addr = server.local_addr();
    let page = RawClient::handshake(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .reply;
    assert_eq!(page.status, 200);
    assert_eq!(page.body, "<h1>chat</h1>");
    let health = RawClient::handshake(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .reply;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    // The same path still upgrades.
    let mut client = connect(addr, "/").await;
    send_text(&mut client, "still a socket").await;
    assert_eq!(next_text(&mut client).await, "still a socket");
}

#[tokio::test]
async fn frames_sent_with_the_handshake_are_not_lost() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let mut bytes = raw::upgrade_request("/echo", "").into_bytes();
    bytes.extend(raw::masked(true, raw::TEXT, b"early"));
    let mut client = RawClient::connect_with(server.local_addr(), bytes).await;
    let frame = client.read_frame().await.unwrap();
    assert_eq!(
        (frame.opcode, frame.payload.as_slice()),
        (raw::TEXT, &b"early"[..])
    );
}

#[tokio::test]
async fn a_request_dribbled_one_byte_per_write_is_accepted() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let request = raw::upgrade_request("/echo", "");
    let mut client = RawClient::handshake_dribbled(server.local_addr(), request.as_bytes()).await;
    assert_eq!(client.reply.status, 101);
    assert_eq!(
        client.reply.header("sec-websocket-accept"),
        Some(raw::ACCEPT)
    );
    client.send_text("dribbled").await;
    assert_eq!(client.read_frame().await.unwrap().payload, b"dribbled");
}

#[tokio::test]
async fn slow_headers_are_cut_off_by_the_handshake_timeout() {
    let server = serve(|app| {
        app.install(WebSocketOptions::new().handshake_timeout(Duration::from_millis(300)));
        app.route(echo_route("/echo"));
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Never finish the headers: the server must close the connection by itself.
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept a slowloris connection open"
    );
}

// ----- start-up errors -----

#[tokio::test]
async fn duplicate_routes_are_a_startup_error_naming_both() {
    let err = ws::EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .configure(|app| {
            app.route(echo_route("/same/{a}"));
            app.route(echo_route("/same/{b}"));
        })
        .bind()
        .await
        .expect_err("duplicate routes refused");
    let message = err.to_string();
    assert!(
        matches!(
            err.config_errors(),
            [ws::ConfigError::DuplicateRoute { path, .. }] if path == "/same/{b}"
        ),
        "{err:?}"
    );
    assert!(
        message.contains("two WebSocket routes for `/same/{b}`"),
        "{message}"
    );
    assert_eq!(message.matches("runtime.rs:").count(), 2, "{message}");
}

#[tokio::test]
async fn masking_on_a_server_is_refused_at_startup() {
    let err = ws::EmbeddedServer::new()
        .port(0)
        .configure(|app| {
            app.install(WebSocketOptions::new().masking(true));
        })
        .bind()
        .await
        .expect_err("masking refused");
    assert!(err.to_string().contains("RFC 6455 §5.1"), "{err}");
}

// ----- close reasons -----

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

// ----- pings -----

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

// ----- errors -----

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

// ----- lifecycle of many sessions -----

#[tokio::test]
async fn shutdown_sends_going_away_to_every_session() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let addr = server.local_addr();
    let handle = server.handle();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = connect(addr, "/echo").await;
        send_text(&mut client, "hello").await;
        assert_eq!(next_text(&mut client).await, "hello");
        clients.push(client);
    }
    let shutdown = tokio::spawn(async move { handle.shutdown().await });
    for client in &mut clients {
        let frame = close_frame_of(client).await.expect("close with a code");
        assert_eq!(frame.code, TCode::Away);
    }
    // tokio-tungstenite answers the close; the server then finishes promptly.
    for client in &mut clients {
        while let Some(Ok(_)) = client.next().await {}
    }
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown finished")
        .unwrap();
    // The listener is gone: new connections are refused.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn terminate_drops_the_connection_without_a_close_frame() {
    let server = serve(|app| {
        app.route(Route::new("/t", |session: WebSocketSession| async move {
            session.terminate();
            Ok::<(), ws::Error>(())
        }));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/t").await;
    assert_eq!(client.read_frame().await, None);
}

#[tokio::test]
async fn close_overflow_policy_closes_a_peer_that_does_not_read() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.install(
            WebSocketOptions::new()
                .outgoing_capacity(8)
                .outgoing_overflow(ChannelOverflow::Close),
        );
        app.route(Route::new("/flood", move |session: WebSocketSession| {
            let tx = tx.clone();
            async move {
                let payload = ws::Bytes::from(vec![0u8; 64 * 1024]);
                let mut sent = 0usize;
                let error = loop {
                    match session.send(payload.clone()).await {
                        Ok(()) => sent += 1,
                        Err(e) => break e,
                    }
                    if sent > 100_000 {
                        break ws::Error::Closed(None);
                    }
                };
                let _ = tx.send((sent, error.to_string(), session.close_reason().await));
                Ok::<(), ws::Error>(())
            }
        }));
    })
    .await;
    // A client that never reads.
    let _client = RawClient::connect(server.local_addr(), "/flood").await;
    let (sent, error, reason) = recv(&mut rx).await;
    assert!(error.contains("outgoing queue is full"), "{error}");
    assert!(sent < 100_000, "the queue never filled: {sent} frames");
    assert_eq!(reason.map(|r| r.code()), Some(Codes::VIOLATED_POLICY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_dropped_and_fast_consumers_get_every_broadcast() {
    const MESSAGES: usize = 600;
    const SIZE: usize = 16 * 1024;
    let connections = Arc::new(Connections::<&'static str>::new());
    let (tx, mut rx) = probe::<(usize, usize)>();
    let members = connections.clone();
    let broadcaster = connections.clone();
    let server = serve(move |app| {
        app.install(WebSocketOptions::new().outgoing_capacity(32));
        app.route(Route::new("/chat", move |session: WebSocketSession| {
            let members = members.clone();
            async move {
                let _me = members.join(&session, "member");
                session.send("joined").await?;
                while session.incoming.recv().await.is_some() {}
                Ok::<(), ws::Error>(())
            }
        }));
        app.route(Route::new("/go", move |session: WebSocketSession| {
            let connections = broadcaster.clone();
            let tx = tx.clone();
            async move {
                let payload = "x".repeat(SIZE);
                let (mut delivered, mut dropped) = (0, 0);
                for i in 0..MESSAGES {
                    let report = connections.broadcast(format!("{i:05} {payload}"));
                    delivered += report.delivered;
                    dropped += report.dropped_slow;
                    tokio::task::yield_now().await;
                }
                let _ = tx.send((delivered, dropped));
                session.close(CloseReason::new(Codes::NORMAL, "done")).await
            }
        }));
    })
    .await;
    let addr = server.local_addr();
    // The slow consumer joins, then never reads again; a small receive buffer makes
    // its backlog reach the server's queue sooner.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut slow, _) = tokio_tungstenite::client_async(format!("ws://{addr}/chat"), stream)
        .await
        .unwrap();
    assert_eq!(next_text(&mut slow).await, "joined");
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut client = connect(addr, "/chat").await;
        assert_eq!(next_text(&mut client).await, "joined");
        readers.push(tokio::spawn(async move {
            let mut count = 0;
            while count < MESSAGES {
                match next(&mut client).await {
                    Some(Message::Text(t)) => {
                        assert!(
                            t.starts_with(&format!("{count:05} ")),
                            "in order, none lost"
                        );
                        count += 1;
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            count
        }));
    }
    assert_eq!(connections.len(), 4);
    let _trigger = connect(addr, "/go").await;
    let (delivered, dropped) = recv(&mut rx).await;
    assert_eq!(dropped, 1, "exactly the slow consumer is dropped");
    assert!(delivered >= 3 * MESSAGES, "{delivered}");
    for reader in readers {
        assert_eq!(reader.await.unwrap(), MESSAGES);
    }
    drop(slow);
}

#[tokio::test]
async fn flush_waits_for_the_socket() {
    let server = serve(|app| {
        app.route(Route::new("/f", |session: WebSocketSession| async move {
            session.send(Frame::binary(vec![1u8; 100_000])).await?;
            session.flush().await?;
            session.send("flushed").await
        }));
    })
    .await;
    let mut client = connect(server.local_addr(), "/f").await;
    assert!(matches!(next(&mut client).await, Some(Message::Binary(b)) if b.len() == 100_000));
    assert_eq!(next_text(&mut client).await, "flushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_overflow_policy_makes_send_wait_for_a_slow_reader_and_loses_nothing() {
    // 16 MiB in 64 KiB frames: four times what the kernel can hold between the two
    // sockets (the server's send buffer is at most `wmem_max`, 4 MiB on these machines,
    // and the client pins its receive buffer at 64 KiB, which also stops autotuning).
    const FRAMES: usize = 256;
    const SIZE: usize = 64 * 1024;
    let options = WebSocketOptions::new().outgoing_capacity(8);
    assert_eq!(options.outgoing_overflow, ChannelOverflow::Suspend);
    let (tx, mut rx) = probe::<usize>();
    let server = serve(move |app| {
        app.install(options);
        app.route(Route::new("/stream", move |session: WebSocketSession| {
            let tx = tx.clone();
            async move {
                for i in 0..FRAMES {
                    session.send(vec![i as u8; SIZE]).await?;
                }
                session.send("done").await?;
                let _ = tx.send(FRAMES);
                Ok::<(), ws::Error>(())
            }
        }));
    })
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(SIZE as u32).unwrap();
    let stream = socket.connect(server.local_addr()).await.unwrap();
    let (mut client, _) = tokio_tungstenite::client_async(
        format!("ws://{}/stream", server.local_addr()),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("client connects");
    // The client reads nothing yet: the handler must be held in `send`, not finish by
    // queueing 16 MiB. (With an unbounded queue it finishes in a few milliseconds.)
    let early = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(
        early.is_err(),
        "send did not wait for the reader: {early:?}"
    );
    // Now read: every frame arrives, in order, then "done", and the handler finishes.
    for i in 0..FRAMES {
        match next(&mut client).await {
            Some(Message::Binary(b)) => {
                assert_eq!(b.len(), SIZE, "frame {i}");
                assert!(b.iter().all(|&x| x == i as u8), "frame {i} content");
            }
            other => panic!("frame {i}: expected binary, got {other:?}"),
        }
    }
    assert_eq!(next_text(&mut client).await, "done");
    assert_eq!(recv(&mut rx).await, FRAMES);
}

// ----- raw sessions (Ktor's webSocketRaw) -----

fn raw_route(tx: mpsc::UnboundedSender<String>) -> Route {
    Route::new("/raw", move |session: WebSocketSession| {
        let tx = tx.clone();
        async move {
            while let Some(frame) = session.incoming.recv().await {
                let _ = tx.send(format!("{:?}", frame.frame_type()));
                match frame {
                    Frame::Ping(payload) => {
                        let mut reply = b"handler:".to_vec();
                        reply.extend_from_slice(&payload);
                        session.send(Frame::pong(reply)).await?;
                    }
                    Frame::Close(reason) => {
                        session.send(Frame::Close(reason)).await?;
                    }
                    other => session.send(other).await?,
                }
            }
            Ok::<(), ws::Error>(())
        }
    })
    .raw(true)
}

#[tokio::test]
async fn raw_sessions_see_pings_and_answer_them_themselves() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.route(raw_route(tx));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/raw").await;
    client.send(&raw::masked(true, raw::PING, b"p1")).await;
    assert_eq!(recv(&mut rx).await, "Ping");
    // The only pong is the handler's: nothing was answered automatically.
    let pong = client.read_frame().await.unwrap();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (raw::PONG, &b"handler:p1"[..])
    );
    client.send_text("data").await;
    assert_eq!(recv(&mut rx).await, "Text");
    assert_eq!(client.read_frame().await.unwrap().payload, b"data");
}

#[tokio::test]
async fn raw_sessions_run_the_close_handshake_themselves() {
    let (tx, mut rx) = probe();
    let server = serve(|app| {
        app.route(raw_route(tx));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/raw").await;
    client
        .send(&raw::masked(
            true,
            raw::CLOSE,
            &raw::close_payload(4000, "raw bye"),
        ))
        .await;
    assert_eq!(recv(&mut rx).await, "Close");
    let close = client.expect_close().await;
    assert_eq!(
        (close.close_code(), close.close_reason().as_str()),
        (Some(4000), "raw bye")
    );
    assert!(
        client.wait_eof().await,
        "TCP closed after the handler's close reply"
    );
}

#[tokio::test]
async fn raw_sessions_still_refuse_bad_control_frames() {
    let (tx, _rx) = probe();
    let server = serve(|app| {
        app.route(raw_route(tx));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/raw").await;
    client.send(&raw::masked(true, raw::PING, &[0; 126])).await;
    assert_eq!(client.expect_close().await.close_code(), Some(1002));
}

/// A raw session sees the wire: the frames of a fragmented message one by one, each
/// with its `fin` flag, and a ping sent between them in its place, before the rest of
/// the message (Ktor's `webSocketRaw`). A raw handler can send fragments as well.
#[tokio::test]
async fn raw_sessions_see_fragments_and_controls_in_wire_order() {
    let (tx, mut rx) = probe();
    let server = serve(move |app| {
        app.route(
            Route::new("/raw", move |session: WebSocketSession| {
                let tx = tx.clone();
                async move {
                    while let Some(frame) = session.incoming.recv().await {
                        let seen = match &frame {
                            Frame::Fragment(f) => format!(
                                "fragment {:?} first={} fin={} {:?}",
                                f.frame_type,
                                f.first,
                                f.fin,
                                String::from_utf8_lossy(&f.payload)
                            ),
                            other => format!("{other:?}"),
                        };
                        let _ = tx.send(seen);
                        if let Frame::Fragment(f) = frame {
                            // Echo each fragment as it came.
                            session.send(Frame::Fragment(f)).await?;
                        }
                    }
                    Ok::<(), ws::Error>(())
                }
            })
            .raw(true),
        );
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/raw").await;
    let mut bytes = raw::masked(false, raw::TEXT, b"Hel");
    bytes.extend(raw::masked(true, raw::PING, b"p"));
    bytes.extend(raw::masked(true, raw::CONT, b"lo"));
    client.send(&bytes).await;
    assert_eq!(
        recv(&mut rx).await,
        "fragment Text first=true fin=false \"Hel\""
    );
    assert_eq!(recv(&mut rx).await, "Ping(b\"p\")");
    assert_eq!(
        recv(&mut rx).await,
        "fragment Text first=false fin=true \"lo\""
    );
    // The echoed fragments keep their opcodes and FIN bits.
    let first = client.read_frame().await.unwrap();
    assert_eq!(
        (first.fin, first.opcode, &first.payload[..]),
        (false, raw::TEXT, &b"Hel"[..])
    );
    let last = client.read_frame().await.unwrap();
    assert_eq!(
        (last.fin, last.opcode, &last.payload[..]),
        (true, raw::CONT, &b"lo"[..])
    );
}

// ----- extensions at start-up -----

/// An extension that claims RSV1, like permessage-deflate.
struct ClaimsRsv1;

impl ws::extension::ExtensionFactory for ClaimsRsv1 {
    fn name(&self) -> &str {
        "x-claims-rsv1"
    }
    fn rsv(&self) -> ws::Rsv {
        ws::Rsv::RSV1
    }
    fn negotiate(&self, _: &[ws::extension::ExtensionParams]) -> Option<ws::extension::Negotiated> {
        None
    }
}

#[tokio::test]
async fn two_extensions_claiming_one_rsv_bit_are_refused_at_startup() {
    let err = ws::EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .configure(|app| {
            app.install(
                WebSocketOptions::new()
                    .extension(ws::extension::Deflate::new())
                    .extension(ClaimsRsv1),
            );
            app.route(echo_route("/echo"));
        })
        .bind()
        .await
        .expect_err("conflicting extensions refused");
    assert!(
        matches!(
            err.config_errors(),
            [ws::ConfigError::Options(
                ws::OptionsError::RsvConflict { .. }
            )]
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("extensions `permessage-deflate` and `x-claims-rsv1` both claim RSV1"),
        "{err}"
    );
}

// ----- buffers -----

/// A client that keeps a window of messages in flight, refilling it with one write
/// per batch of replies: every read brings several frames, and with a window of half
/// the read-ahead bound, some reads fill the session's room exactly. (A read step that
/// stopped there without registering for readiness once stalled the session after 32
/// replies.)
#[tokio::test]
async fn a_window_kept_in_flight_never_stalls() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let mut client = RawClient::connect(server.local_addr(), "/echo").await;
    let frame = raw::masked(true, raw::TEXT, b"twenty bytes of text");
    const WINDOW: usize = 16;
    client.send(&frame.repeat(WINDOW)).await;
    let mut received = 0;
    while received < 3000 {
        let mut batch = 0;
        loop {
            let reply = client.read_frame().await.expect("an echo within 5 s");
            assert_eq!(reply.payload, b"twenty bytes of text");
            batch += 1;
            if !client.has_buffered_frame() {
                break;
            }
        }
        received += batch;
        client.send(&frame.repeat(batch)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_messages_of_every_size_are_echoed_exactly() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let (mut sink, mut stream) = connect(server.local_addr(), "/echo").await.split();
    // Sizes from empty to 300 KiB, small and large interleaved, all sent before any
    // reply is read, so that large frames arrive mid-burst and small ones after them.
    let mut seed = 0x2545_f491_u32;
    let mut messages = Vec::new();
    for i in 0..120u32 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let size = match i % 4 {
            0 => (seed % 64) as usize,
            1 => (seed % 4096) as usize,
            2 => (seed % (300 * 1024)) as usize,
            _ => 8 * 1024 + (seed % 1024) as usize,
        };
        let payload: Vec<u8> = (0..size).map(|j| (j as u32 ^ seed) as u8).collect();
        messages.push(if i % 3 == 0 {
            Message::text(String::from_utf8_lossy(&payload).into_owned())
        } else {
            Message::binary(payload)
        });
    }
    let expected = messages.clone();
    let writer = tokio::spawn(async move {
        for message in messages {
            sink.feed(message).await.unwrap();
        }
        sink.flush().await.unwrap();
        sink
    });
    for (i, want) in expected.iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("reply within 10 s")
            .expect("stream open")
            .expect("no protocol error");
        assert_eq!(&got, want, "message {i}");
    }
    drop(writer.await.unwrap());
}

// ----- content converter and origins -----

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
