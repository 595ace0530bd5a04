//! `ws::client` against servers nobody here wrote: Python `websockets`
//! (`tests/interop/python/peer_server.py`) and Node `ws`
//! (`tests/interop/node/peer-server.mjs`), started by `scripts/test-interop.sh`
//! (suites `client-py` and `client-node`), which runs these tests with the servers'
//! addresses in `WS_PEER_ADDR`, `WS_PEER_STRICT_ADDR` and (Python only)
//! `WS_PEER_TLS_ADDR` / `WS_PEER_TLS_DIR`. Without them there is nothing to connect
//! to: the tests are `#[ignore]`d in a plain `cargo test`.
//!
//! By hand: `python tests/interop/python/peer_server.py /tmp/peer` (or `node
//! tests/interop/node/peer-server.mjs`), then `WS_PEER_ADDR=.. WS_PEER_STRICT_ADDR=..
//! cargo test --test it -- --ignored peer::`.

use std::time::Duration;

use ws::client::{Client, ClientError, ClientRequest, ClientTls, HandshakeFailure};
use ws::prelude::*;

fn addr(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run through scripts/test-interop.sh"))
}

fn url(path: &str) -> String {
    format!("ws://{}{path}", addr("WS_PEER_ADDR"))
}

/// A client offering permessage-deflate, with room for the large messages.
fn deflating() -> Client {
    let mut client = Client::new();
    install!(client, WebSockets {
        max_message_size = 4MiB,
        extensions { Deflate },
    });
    client
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("within 20 s")
}

/// A unique id for the server's close records.
fn id(name: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// What the server recorded as the close the client sent under `id`.
async fn server_saw_close(id: &str) -> String {
    within(
        Client::new().web_socket(url(&format!("/last-close?id={id}")), |s| async move {
            Ok::<_, ws::Error>(s.incoming.recv().await)
        }),
    )
    .await
    .unwrap()
    .and_then(|f| f.read_text().map(str::to_owned))
    .expect("a text answer")
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py, client-node)"]
async fn echo_whole_and_large_with_deflate() {
    let big_text = "the quick brown fox jumps over the lazy dog. ".repeat(25_000);
    let big_binary: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (text, binary) = (big_text.clone(), big_binary.clone());
    let (extensions, back) = within(deflating().web_socket(url("/echo"), |s| async move {
        let extensions = s.extensions().to_vec();
        let mut back = Vec::new();
        for frame in [
            Frame::text("hello"),
            Frame::text("héllo wörld ✓"),
            Frame::binary(vec![0, 1, 2, 255]),
            Frame::text(""),
            Frame::text(text),
            Frame::binary(binary),
        ] {
            s.send(frame).await?;
            back.push(s.incoming.recv().await);
        }
        s.close(CloseReason::new(Codes::NORMAL, "")).await?;
        Ok::<_, ws::Error>((extensions, back))
    }))
    .await
    .unwrap();
    assert_eq!(extensions, ["permessage-deflate"]);
    assert_eq!(back[0], Some(Frame::text("hello")));
    assert_eq!(back[1], Some(Frame::text("héllo wörld ✓")));
    assert_eq!(back[2], Some(Frame::binary(vec![0, 1, 2, 255])));
    assert_eq!(back[3], Some(Frame::text("")));
    assert_eq!(
        back[4].as_ref().and_then(Frame::read_text),
        Some(big_text.as_str())
    );
    assert_eq!(back[5], Some(Frame::binary(big_binary)));
}

/// 4 KiB of letters with no repeat to refer to within 512 bytes (splitmix64).
fn random_block() -> String {
    (0..4096u64)
        .map(|i| {
            let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            char::from(b'a' + ((z ^ (z >> 31)) % 26) as u8)
        })
        .collect()
}

/// Sends `message` three times to `/echo` at `addr`: the answer's
/// `Sec-WebSocket-Extensions` and whether every echo came back whole.
async fn three_echoes(addr: &str, message: &str) -> (String, Vec<bool>) {
    let url = format!("ws://{addr}/echo?id={}", id("deflate"));
    let sent = message.to_owned();
    let expected = message.to_owned();
    within(deflating().web_socket(url, |s| async move {
        let answer = s
            .headers()
            .get("sec-websocket-extensions")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut whole = Vec::new();
        for _ in 0..3 {
            s.send(sent.as_str()).await?;
            let back = s.incoming.recv().await;
            whole.push(back.as_ref().and_then(Frame::read_text) == Some(expected.as_str()));
        }
        Ok::<_, ws::Error>((answer, whole))
    }))
    .await
    .unwrap()
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py, client-node)"]
async fn the_servers_deflate_parameters_are_honoured() {
    // Sent again, a random block compresses to references to the copy in the message
    // before: an inflater that resets after each message (`client_no_context_takeover`)
    // no longer has it, and one with a 512-byte window (`client_max_window_bits=9`)
    // cannot reach 4 KiB back. Either mistake fails the session with 1007.
    let block = random_block();
    let (answer, whole) = three_echoes(&addr("WS_PEER_STRICT_ADDR"), &block).await;
    for param in [
        "client_no_context_takeover",
        "server_no_context_takeover",
        "server_max_window_bits=10",
    ] {
        assert!(answer.contains(param), "{param} in {answer}");
    }
    assert_eq!(whole, [true; 3], "no context takeover honoured ({answer})");
    let (answer, whole) = three_echoes(&addr("WS_PEER_WINDOW_ADDR"), &block).await;
    assert!(answer.contains("client_max_window_bits=9"), "{answer}");
    assert_eq!(whole, [true; 3], "a 9-bit window honoured ({answer})");
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py, client-node)"]
async fn headers_and_subprotocols_reach_the_server() {
    let request = ClientRequest::new(url("/headers"))
        .header("X-Token", "t0ken")
        .protocol("chat.v2")
        .protocol("chat.v1");
    let (protocol, seen) = within(deflating().web_socket(request, |s| async move {
        let seen = s.incoming.recv().await;
        Ok::<_, ws::Error>((s.protocol().map(str::to_owned), seen))
    }))
    .await
    .unwrap();
    assert_eq!(protocol.as_deref(), Some("chat.v1"));
    let seen: serde_json::Value =
        serde_json::from_str(seen.as_ref().and_then(Frame::read_text).unwrap()).unwrap();
    assert_eq!(seen["x-token"], "t0ken");
    assert_eq!(seen["protocol"], "chat.v1");
    assert!(
        seen["extensions"]
            .as_str()
            .unwrap()
            .contains("permessage-deflate"),
        "{seen}"
    );
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py, client-node)"]
async fn close_reasons_both_ways() {
    let (first, end, reason) = within(deflating().web_socket(url("/close/4001"), |s| async move {
        s.send("close please").await?;
        let first = s.incoming.recv().await;
        Ok::<_, ws::Error>((first, s.incoming.recv().await, s.close_reason().await))
    }))
    .await
    .unwrap();
    assert_eq!((first, end), (None, None));
    let reason = reason.expect("a close reason");
    assert_eq!(reason.code(), CloseCode::new(4001));
    assert!(reason.message().starts_with("bye from "), "{reason}");

    let ident = id("close");
    within(
        deflating().web_socket(url(&format!("/echo?id={ident}")), |s| async move {
            s.send("before closing").await?;
            assert_eq!(s.incoming.recv().await, Some(Frame::text("before closing")));
            s.close(CloseReason::new(CloseCode::new(4002), "bye from rust"))
                .await
        }),
    )
    .await
    .unwrap();
    assert_eq!(server_saw_close(&ident).await, "4002 bye from rust");

    // A handler that returns closes with 1000.
    let ident = id("return");
    within(deflating().web_socket(url(&format!("/echo?id={ident}")), |_| async {}))
        .await
        .unwrap();
    assert_eq!(server_saw_close(&ident).await, "1000 ");
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py, client-node)"]
async fn the_servers_pings_are_answered_and_silence_times_out() {
    let answer = within(deflating().web_socket(url("/ping"), |s| async move {
        Ok::<_, ws::Error>(s.incoming.recv().await)
    }))
    .await
    .unwrap();
    assert_eq!(answer, Some(Frame::text("pong received")));

    let mut client = Client::new();
    install!(client, WebSockets { ping_period = 200ms, timeout = 600ms });
    let started = std::time::Instant::now();
    let reason = within(client.web_socket(url("/silent"), |s| async move {
        while s.incoming.recv().await.is_some() {}
        Ok::<_, ws::Error>(s.close_reason().await)
    }))
    .await
    .unwrap();
    assert_eq!(
        reason,
        Some(CloseReason::new(Codes::INTERNAL_ERROR, "Ping timeout"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py, client-node)"]
async fn bad_frames_from_the_server_get_the_servers_answers() {
    let mut client = Client::new();
    install!(client, WebSockets {
        max_message_size = 1MiB,
        extensions { Deflate },
    });
    for (kind, code) in [
        ("masked", 1002),
        ("utf8", 1007),
        ("rsv2", 1002),
        ("bomb", 1009),
    ] {
        let ident = id(kind);
        let reason = within(client.web_socket(
            url(&format!("/bad/{kind}?id={ident}")),
            |s| async move {
                while s.incoming.recv().await.is_some() {}
                Ok::<_, ws::Error>(s.close_reason().await)
            },
        ))
        .await
        .unwrap();
        assert_eq!(reason.map(|r| r.code().code()), Some(code), "{kind}");
        let seen = server_saw_close(&ident).await;
        assert!(
            seen.starts_with(&format!("{code} ")),
            "{kind}: the server saw {seen}"
        );
    }
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py, client-node)"]
async fn bad_handshake_answers_are_typed_errors() {
    let client = deflating();
    let e = within(client.connect(url("/reject"))).await.unwrap_err();
    let refused = e.handshake().unwrap_or_else(|| panic!("{e}"));
    assert_eq!(refused.failure(), &HandshakeFailure::Status);
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(refused.headers()["x-reason"], "no token");
    assert_eq!(refused.body().as_ref(), b"go away\n");

    let e = within(client.connect(url("/bad-accept")))
        .await
        .unwrap_err();
    assert_eq!(
        e.handshake().map(|h| h.failure()),
        Some(&HandshakeFailure::BadAccept),
        "{e}"
    );

    let e = within(client.connect(url("/extra-extension")))
        .await
        .unwrap_err();
    assert!(
        matches!(e.handshake().map(|h| h.failure()), Some(HandshakeFailure::Extension(why)) if why.contains("x-nobody-offered")),
        "{e}"
    );
}

#[tokio::test]
#[ignore = "needs a foreign server: run by scripts/test-interop.sh (client-py)"]
async fn tls_with_a_custom_ca_and_a_client_certificate() {
    let dir = std::path::PathBuf::from(addr("WS_PEER_TLS_DIR"));
    let port = addr("WS_PEER_TLS_ADDR")
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let url = format!("wss://localhost:{port}/whoami");
    let mut client = Client::new();
    client.tls(
        ClientTls::custom_ca_file(dir.join("ca.pem"))
            .client_cert_files(dir.join("client.pem"), dir.join("client-key.pem")),
    );
    let name = within(client.web_socket(url.as_str(), |s| async move {
        Ok::<_, ws::Error>(s.incoming.recv().await)
    }))
    .await
    .unwrap();
    assert_eq!(name, Some(Frame::text("ws-client-suite")));
    // By IP address: the certificate names 127.0.0.1 too.
    let by_ip = format!("wss://127.0.0.1:{port}/whoami");
    assert!(within(client.web_socket(by_ip, |_| async {})).await.is_ok());

    // Without a client certificate, the server refuses the TLS handshake.
    let mut anonymous = Client::new();
    anonymous.tls(ClientTls::custom_ca_file(dir.join("ca.pem")));
    let e = within(anonymous.connect(url.as_str())).await.unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Tls(_) | ClientError::Io(_) | ClientError::Http(_)
        ),
        "{e}"
    );
    // Mozilla's roots do not include the suite's CA.
    let e = within(Client::new().connect(url.as_str()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Tls(m) if m.contains("certificate")),
        "{e}"
    );
}
