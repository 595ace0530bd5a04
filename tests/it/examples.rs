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
