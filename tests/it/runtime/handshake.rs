//! Handshake answers: statuses for every kind of bad request, subprotocols, what reaches the session.

use super::*;
use crate::raw::{self, RawClient};

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
