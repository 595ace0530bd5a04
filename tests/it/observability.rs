//! Observability as a user meets it, against example processes: the metrics counted
//! (read back from `/metrics`, the Prometheus route), the session's span in the default
//! log, a handler's error in that log, and `log = false` turning the log off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCode;

use crate::raw::{RawClient, upgrade_request};
use crate::support::*;

/// The `ws_*` series of `/metrics`, by `name{labels}`.
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let reply = RawClient::handshake(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .reply;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(
        reply.head.contains("text/plain; version=0.0.4"),
        "{}",
        reply.head
    );
    reply
        .body
        .lines()
        .filter(|l| l.starts_with("ws_"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Scrapes until every `(series, value)` in `want` is there (the collector reports
/// once a second), or fails after 10 s with what was read last.
async fn wait_for_metrics(addr: SocketAddr, want: &[(&str, f64)]) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = scrape(addr).await;
        if want.iter().all(|(k, v)| got.get(*k) == Some(v)) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "metrics not reached within 10 s: want {want:?}, got {got:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads until the server ends the connection (after the close handshake).
async fn drain(client: &mut Client) {
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_secs(5), client.next()).await {}
}

#[tokio::test]
async fn metrics_count_sessions_frames_bytes_and_refusals() {
    let server = start_with("conformance", &["--prometheus"], None);
    let addr = server.addr;
    // Refused upgrades, one per reason the handshake's checks give.
    let post = upgrade_request("/echo", "").replacen("GET", "POST", 1);
    assert_eq!(
        RawClient::handshake(addr, post.as_bytes())
            .await
            .reply
            .status,
        405
    );
    let v12 = upgrade_request("/echo", "").replace("Version: 13", "Version: 12");
    assert_eq!(
        RawClient::handshake(addr, v12.as_bytes())
            .await
            .reply
            .status,
        426
    );
    let no_key = upgrade_request("/echo", "").replace("Sec-WebSocket-Key", "X-Key");
    assert_eq!(
        RawClient::handshake(addr, no_key.as_bytes())
            .await
            .reply
            .status,
        400
    );

    // Closed with 1000 after five 10-byte texts.
    let mut a = connect(addr, "/echo").await;
    for _ in 0..5 {
        send_text(&mut a, "0123456789").await;
        assert_eq!(next_text(&mut a).await, "0123456789");
    }
    a.close(Some(CloseFrame {
        code: TCode::Normal,
        reason: "".into(),
    }))
    .await
    .unwrap();
    drain(&mut a).await;
    // Closed with 4001 after one 100-byte binary.
    let mut b = connect(addr, "/echo").await;
    b.send(Message::binary(vec![7u8; 100])).await.unwrap();
    assert!(matches!(next(&mut b).await, Some(Message::Binary(p)) if p.len() == 100));
    b.close(Some(CloseFrame {
        code: TCode::from(4001),
        reason: "done".into(),
    }))
    .await
    .unwrap();
    drain(&mut b).await;
    // Dropped without a close frame after one 3-byte text: 1006.
    let mut c = connect(addr, "/echo").await;
    send_text(&mut c, "abc").await;
    assert_eq!(next_text(&mut c).await, "abc");
    drop(c);

    let got = wait_for_metrics(
        addr,
        &[
            ("ws_sessions_opened_total", 3.0),
            ("ws_sessions_open", 0.0),
            ("ws_sessions_closed_total{code=\"1000\"}", 1.0),
            ("ws_sessions_closed_total{code=\"4001\"}", 1.0),
            ("ws_sessions_closed_total{code=\"1006\"}", 1.0),
            ("ws_handshakes_refused_total{reason=\"method\"}", 1.0),
            ("ws_handshakes_refused_total{reason=\"version\"}", 1.0),
            ("ws_handshakes_refused_total{reason=\"bad_request\"}", 1.0),
            ("ws_frames_received_total", 7.0),
            ("ws_received_bytes_total", 153.0),
        ],
    )
    .await;
    // Sent: the seven echoes, and a close frame each for `a` and `b`, counted as the
    // sessions queued them when their handlers returned (1000, no reason: 2 bytes).
    assert_eq!(got.get("ws_frames_sent_total"), Some(&9.0), "{got:#?}");
    assert_eq!(got.get("ws_sent_bytes_total"), Some(&157.0), "{got:#?}");
    assert!(
        got.get("ws_outgoing_queue_high_water")
            .is_some_and(|v| *v >= 1.0),
        "{got:#?}"
    );
}

#[tokio::test]
async fn chat_example_counts_guard_refusals_and_broadcast_bytes() {
    let server = start_with("chat", &["--token", "t0ken"], None);
    let refused = RawClient::handshake(server.addr, upgrade_request("/chat", "").as_bytes()).await;
    assert_eq!(refused.reply.status, 401);
    let mut first = connect(server.addr, "/chat?token=t0ken").await;
    assert!(
        next_text(&mut first)
            .await
            .starts_with("You are connected!")
    );
    let mut second = connect(server.addr, "/chat?token=t0ken").await;
    assert!(
        next_text(&mut second)
            .await
            .starts_with("You are connected!")
    );
    wait_for_metrics(
        server.addr,
        &[
            ("ws_handshakes_refused_total{reason=\"guard\"}", 1.0),
            ("ws_sessions_open", 2.0),
            ("ws_sessions_opened_total", 2.0),
        ],
    )
    .await;
    send_text(&mut second, "hi").await;
    let line = next_text(&mut first).await;
    assert_eq!(next_text(&mut second).await, line);
    // Received: "hi". Sent: two greetings and the broadcast line to both.
    let greetings = "You are connected! There are 1 users here.".len()
        + "You are connected! There are 2 users here.".len();
    wait_for_metrics(
        server.addr,
        &[
            ("ws_received_bytes_total", 2.0),
            ("ws_frames_sent_total", 4.0),
            ("ws_sent_bytes_total", (greetings + 2 * line.len()) as f64),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_default_log_shows_the_session_span() {
    let (server, log) = start_logged("lifecycle", &[], &[("RUST_LOG", "debug")]);
    let mut client = connect(server.addr, "/echo").await;
    let local = match client.get_ref() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().unwrap(),
        _ => unreachable!("plain ws://"),
    };
    send_text(&mut client, "hello").await;
    assert_eq!(next_text(&mut client).await, "hello");
    let remote = format!("remote={local}");
    // The handler's own line, inside the session's span.
    let line = log.wait_for_line(&["onMessage", "session{"]);
    for field in ["id=", "route=/echo handler=echo", &remote] {
        assert!(line.contains(field), "no `{field}` in {line:?}");
    }
    // No extension negotiated: the span has no `extensions` field.
    assert!(!line.contains("extensions="), "{line:?}");
    // The server's lines about the session, in the same span.
    log.wait_for_line(&["session opened", &remote]);
    client.close(None).await.unwrap();
    drain(&mut client).await;
    let closed = log.wait_for_line(&["session closed", &remote]);
    // tokio-tungstenite's `close(None)` sends no code: 1005 (RFC 6455 §7.1.5).
    assert!(closed.contains("code=1005"), "{closed:?}");

    // Negotiated extensions are in the span too.
    let (deflate, log) = start_logged("deflate", &[], &[("RUST_LOG", "ws_runtime=debug")]);
    let offer = upgrade_request("/echo", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let raw = RawClient::connect_with(deflate.addr, offer).await;
    assert!(raw.reply.header("sec-websocket-extensions").is_some());
    log.wait_for_line(&["session opened", "extensions=permessage-deflate"]);
}

#[tokio::test]
async fn a_handler_error_is_in_the_default_log_with_its_span() {
    // No RUST_LOG, no subscriber in the example: `start()` installed the default log.
    let (server, log) = start_logged("lifecycle", &[], &[]);
    let mut client = connect(server.addr, "/echo").await;
    send_text(&mut client, "fail").await;
    match next(&mut client).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, TCode::Error),
        other => panic!("expected 1011, got {other:?}"),
    }
    let line = log.wait_for_line(&["the client asked to fail"]);
    for part in [
        "ERROR",
        "WebSocket handler failed",
        "session{",
        "route=/echo handler=echo",
    ] {
        assert!(line.contains(part), "no `{part}` in {line:?}");
    }
    // The default filter is `info`: no debug lines.
    assert!(!log.text().contains("DEBUG"), "{}", log.text());
}

#[tokio::test]
async fn log_false_installs_no_log() {
    let (mut server, log) = start_logged("lifecycle", &["--quiet"], &[]);
    let mut client = connect(server.addr, "/echo").await;
    send_text(&mut client, "fail").await;
    match next(&mut client).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, TCode::Error),
        other => panic!("expected 1011, got {other:?}"),
    }
    drain(&mut client).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the example did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = log.wait_for_end();
    assert!(
        !text.contains("asked to fail") && !text.contains("INFO"),
        "{text}"
    );
}
