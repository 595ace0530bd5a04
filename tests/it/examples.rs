//! The examples as users run them: each binary is started with `--port 0`, talked to
//! with tokio-tungstenite, and (for shutdown) sent SIGTERM.

use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCode;

use crate::support::*;

#[tokio::test]
async fn echo_example_is_the_seed_sample() {
    let server = start("echo");
    let mut client = connect(server.addr, "/echo").await;
    assert_eq!(next_text(&mut client).await, "Please enter your name");
    send_text(&mut client, "Ann").await;
    assert_eq!(next_text(&mut client).await, "Hi, Ann!");
    send_text(&mut client, "ByE").await;
    match next(&mut client).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(
                (frame.code, frame.reason.as_str()),
                (TCode::Normal, "Client said BYE")
            );
        }
        other => panic!("expected the close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn chat_example_broadcasts_to_everyone() {
    let server = start("chat");
    let mut first = connect(server.addr, "/chat").await;
    assert_eq!(
        next_text(&mut first).await,
        "You are connected! There are 1 users here."
    );
    let mut second = connect(server.addr, "/chat").await;
    assert_eq!(
        next_text(&mut second).await,
        "You are connected! There are 2 users here."
    );
    send_text(&mut second, "hello").await;
    assert_eq!(next_text(&mut first).await, "[user1]: hello");
    assert_eq!(next_text(&mut second).await, "[user1]: hello");
    drop(second);
    send_text(&mut first, "still here").await;
    assert_eq!(next_text(&mut first).await, "[user0]: still here");
    // The page a person opens in two tabs.
    let page = crate::raw::RawClient::handshake(server.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .reply;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/chat"), "the page connects to /chat");
}

#[tokio::test]
async fn sigterm_closes_every_session_with_1001_and_exits() {
    let mut server = start("echo");
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut client = connect(server.addr, "/echo").await;
        assert_eq!(next_text(&mut client).await, "Please enter your name");
        clients.push(client);
    }
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    for client in &mut clients {
        match next(client).await {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, TCode::Away),
            other => panic!("expected 1001, got {other:?}"),
        }
        // Reading on answers the close; the server then ends the connection.
        while let Some(Ok(_)) = client.next().await {}
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "exit status {exit}");
}

/// The chat example with `--max-messages-per-second 50`: one user floods, nine read.
/// The flooder is closed with 1008; the readers keep getting each other's messages
/// promptly through the flood (their p99 delivery latency stays under 50 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_closes_a_flooder_and_its_readers_keep_up() {
    use futures_util::SinkExt;
    let server = start_with("chat", &["--max-messages-per-second", "50"], None);
    let epoch = Instant::now();
    let (latency_tx, mut latency_rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let mut readers = Vec::new();
    for _ in 0..9 {
        let mut client = connect(server.addr, "/chat").await;
        assert!(
            next_text(&mut client)
                .await
                .starts_with("You are connected!")
        );
        readers.push(client);
    }
    let mut prober = readers.remove(0);
    let mut tasks = Vec::new();
    for mut reader in readers {
        let latency_tx = latency_tx.clone();
        tasks.push(tokio::spawn(async move {
            let mut probes = 0;
            while probes < 20 {
                let Some(Message::Text(text)) = next(&mut reader).await else {
                    panic!("a reader lost its session");
                };
                if let Some(nanos) = text.split("probe ").nth(1) {
                    let sent = Duration::from_nanos(nanos.parse().unwrap());
                    let _ = latency_tx.send(epoch.elapsed() - sent);
                    probes += 1;
                }
            }
        }));
    }
    let mut flooder = connect(server.addr, "/chat").await;
    assert!(
        next_text(&mut flooder)
            .await
            .starts_with("You are connected!")
    );
    let flood = tokio::spawn(async move {
        for i in 0..2000 {
            if flooder
                .send(Message::text(format!("flood {i}")))
                .await
                .is_err()
            {
                break;
            }
        }
        // Read until the server's close frame.
        loop {
            match tokio::time::timeout(Duration::from_secs(5), flooder.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => return frame,
                Ok(Some(Ok(_))) => continue,
                other => panic!("the flooder was not closed: {other:?}"),
            }
        }
    });
    for _ in 0..20 {
        let now = epoch.elapsed().as_nanos();
        send_text(&mut prober, &format!("probe {now}")).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let close = flood.await.unwrap().expect("a close frame with a reason");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "Message rate exceeded");
    for task in tasks {
        task.await.unwrap();
    }
    drop(latency_tx);
    let mut latencies = Vec::new();
    while let Some(latency) = latency_rx.recv().await {
        latencies.push(latency);
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(
        p99 < Duration::from_millis(50),
        "readers' p99 delivery {p99:?}"
    );
}

/// What a tokio-tungstenite client gets for a request it builds with `headers`.
async fn try_connect(
    addr: std::net::SocketAddr,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> Result<Client, http::Response<Option<Vec<u8>>>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}{path_and_query}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((client, _)) => Ok(client),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => Err(*response),
        Err(other) => panic!("expected a session or an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn chat_token_mode_lets_in_only_clients_with_the_token() {
    let server = start_with("chat", &["--token", "s3cret"], None);
    let refused = try_connect(server.addr, "/chat", &[])
        .await
        .expect_err("401");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let wrong = try_connect(server.addr, "/chat?token=guess", &[])
        .await
        .expect_err("401");
    assert_eq!(wrong.status(), 401);
    let Ok(mut by_query) = try_connect(server.addr, "/chat?token=s3cret", &[]).await else {
        panic!("the token in the query is accepted");
    };
    assert_eq!(
        next_text(&mut by_query).await,
        "You are connected! There are 1 users here."
    );
    let Ok(mut by_cookie) = try_connect(server.addr, "/chat", &[("cookie", "token=s3cret")]).await
    else {
        panic!("the token in a cookie is accepted");
    };
    assert_eq!(
        next_text(&mut by_cookie).await,
        "You are connected! There are 2 users here."
    );
    // The page passes its own `?token=` on to the socket.
    let page = crate::raw::RawClient::handshake(
        server.addr,
        b"GET /?token=s3cret HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .reply;
    assert!(
        page.body.contains("location.search"),
        "the page reads its token"
    );
}

#[tokio::test]
async fn auth_example_takes_a_token_from_the_query_a_cookie_or_a_subprotocol() {
    let server = start_with("auth", &["--users", "ada=ada-t,bob=bob-t"], None);
    let addr = server.addr;
    let chat = [("sec-websocket-protocol", "chat")];

    let Ok(mut ada) = try_connect(addr, "/chat?token=ada-t", &chat).await else {
        panic!("ada's query token is accepted");
    };
    assert_eq!(
        next_text(&mut ada).await,
        "Hello ada (token from the query)! There are 1 users here."
    );
    let Ok(mut bob) = try_connect(
        addr,
        "/chat",
        &[
            ("sec-websocket-protocol", "chat"),
            ("cookie", "ws_token=bob-t"),
        ],
    )
    .await
    else {
        panic!("bob's cookie is accepted");
    };
    assert_eq!(
        next_text(&mut bob).await,
        "Hello bob (token from the cookie)! There are 2 users here."
    );
    let Ok(mut ada2) = try_connect(
        addr,
        "/chat",
        &[("sec-websocket-protocol", "chat, bearer.ada-t")],
    )
    .await
    else {
        panic!("ada's subprotocol token is accepted");
    };
    assert_eq!(
        next_text(&mut ada2).await,
        "Hello ada (token from the subprotocol)! There are 3 users here."
    );
    send_text(&mut bob, "hi all").await;
    for client in [&mut ada, &mut bob, &mut ada2] {
        assert_eq!(next_text(client).await, "[bob]: hi all");
    }

    // No token, an unknown one: 401 with a Bearer challenge, no session.
    let none = try_connect(addr, "/chat", &chat).await.expect_err("401");
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"chat\"");
    let unknown = try_connect(addr, "/chat?token=eve-t", &chat)
        .await
        .expect_err("401");
    assert_eq!(
        unknown.headers()["www-authenticate"],
        "Bearer realm=\"chat\", error=\"invalid_token\""
    );
    // bob's cookie sent by a page of another site: the origin check refuses it first.
    let hijack = try_connect(
        addr,
        "/chat",
        &[
            ("sec-websocket-protocol", "chat"),
            ("cookie", "ws_token=bob-t"),
            ("origin", "https://evil.example"),
        ],
    )
    .await
    .expect_err("403");
    assert_eq!(hijack.status(), 403);

    // The login sets the cookie with HttpOnly and SameSite=Strict.
    let login = crate::raw::RawClient::handshake(
        addr,
        b"GET /login?token=bob-t HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .reply;
    assert_eq!(login.status, 303);
    assert_eq!(
        login.header("set-cookie"),
        Some("ws_token=bob-t; HttpOnly; SameSite=Strict; Path=/")
    );
}
