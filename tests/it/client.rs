//! `ws::client` against our own server over 127.0.0.1, and against a hand-written
//! peer on a raw socket for what no correct server sends (bad handshakes, masked or
//! invalid frames, a deflate bomb, silence).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use ws::client::{Client, ClientError, ClientRequest, HandshakeFailure, Reconnect, ReconnectCause};
use ws::extension::Deflate;
use ws::prelude::*;
use ws::{EmbeddedServer, Route, Tls};

use crate::support::serve;

/// A bound on every wait of these tests.
const STEP: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(STEP, f).await.expect("within 10 s")
}

fn echo_route(path: &str) -> Route {
    Route::new(path, |session: WebSocketSession| async move {
        while let Some(frame) = session.incoming.recv().await {
            session.send(frame).await?;
        }
        Ok::<(), ws::Error>(())
    })
}

#[tokio::test]
async fn echoes_text_binary_and_large_messages_with_our_server() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let url = format!("ws://{}/echo", server.local_addr());
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    let expected = big.clone();
    let got = within(
        Client::new().web_socket(url.as_str(), |session| async move {
            assert!(session.extensions().is_empty());
            let mut got = Vec::new();
            for frame in [
                Frame::text("héllo"),
                Frame::binary(vec![1, 2, 3]),
                Frame::text(""),
                Frame::binary(big),
            ] {
                session.send(frame).await?;
                got.push(session.incoming.recv().await);
            }
            Ok::<_, ws::Error>(got)
        }),
    )
    .await
    .unwrap();
    assert_eq!(got[0], Some(Frame::text("héllo")));
    assert_eq!(got[1], Some(Frame::binary(vec![1, 2, 3])));
    assert_eq!(got[2], Some(Frame::text("")));
    assert_eq!(got[3].as_ref().map(|f| f.read_bytes().len()), Some(3 << 20));
    assert_eq!(got[3], Some(Frame::binary(expected)));
    server.shutdown().await;
}

#[tokio::test]
async fn close_reasons_cross_both_ways() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve(move |app| {
        app.route(Route::new(
            "/closer",
            |session: WebSocketSession| async move {
                session.send("closing").await?;
                session
                    .close(CloseReason::new(CloseCode::new(4001), "server says bye"))
                    .await
            },
        ));
        app.route(Route::new("/listener", move |session: WebSocketSession| {
            let tx = tx.clone();
            async move {
                while session.incoming.recv().await.is_some() {}
                let _ = tx.send(session.close_reason().await);
                Ok::<(), ws::Error>(())
            }
        }));
    })
    .await;
    let client = Client::new();
    let base = format!("ws://{}", server.local_addr());
    // The server closes: the client reads the greeting, then `incoming` ends.
    let (first, end, reason) =
        within(client.web_socket(format!("{base}/closer"), |s| async move {
            let first = s.incoming.recv().await;
            let end = s.incoming.recv().await;
            Ok::<_, ws::Error>((first, end, s.close_reason().await))
        }))
        .await
        .unwrap();
    assert_eq!(first, Some(Frame::text("closing")));
    assert_eq!(end, None);
    assert_eq!(
        reason,
        Some(CloseReason::new(CloseCode::new(4001), "server says bye"))
    );
    // The client closes: the server's handler sees our code and reason.
    within(
        client.web_socket(format!("{base}/listener"), |s| async move {
            s.close(CloseReason::new(CloseCode::new(4002), "client says bye"))
                .await
        }),
    )
    .await
    .unwrap();
    let seen = within(rx.recv()).await.unwrap();
    assert_eq!(
        seen,
        Some(CloseReason::new(CloseCode::new(4002), "client says bye"))
    );
    // A handler that returns closes with 1000; one that fails with 1011 and the
    // error comes back.
    within(client.web_socket(format!("{base}/listener"), |_| async {}))
        .await
        .unwrap();
    assert_eq!(
        within(rx.recv()).await.unwrap().map(|r| r.code()),
        Some(Codes::NORMAL)
    );
    let failed = within(client.web_socket(format!("{base}/listener"), |_| async {
        Err::<(), _>("no luck")
    }))
    .await;
    assert!(
        matches!(&failed, Err(ClientError::Handler(e)) if e.to_string() == "no luck"),
        "{failed:?}"
    );
    assert_eq!(
        within(rx.recv()).await.unwrap().map(|r| r.code()),
        Some(Codes::INTERNAL_ERROR)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn deflate_negotiates_with_our_server_and_compresses_both_ways() {
    let server = serve(|app| {
        app.install(WebSocketOptions::new().extension(Deflate::new()));
        app.route(echo_route("/echo"));
    })
    .await;
    let mut client = Client::new();
    install!(client, WebSockets {
        extensions { Deflate { client_max_window_bits = 10, client_no_context_takeover = true } },
    });
    let url = format!("ws://{}/echo", server.local_addr());
    let text = "compress me, compress me again; ".repeat(20_000);
    let sent = text.clone();
    let (extensions, back) = within(client.web_socket(url.as_str(), |s| async move {
        let extensions = s.extensions().to_vec();
        let mut back = Vec::new();
        for _ in 0..3 {
            s.send(sent.as_str()).await?;
            back.push(s.incoming.recv().await);
        }
        Ok::<_, ws::Error>((extensions, back))
    }))
    .await
    .unwrap();
    assert_eq!(extensions, ["permessage-deflate"]);
    for frame in back {
        assert_eq!(
            frame.as_ref().and_then(Frame::read_text),
            Some(text.as_str())
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn subprotocols_headers_and_the_response_headers() {
    let server = serve(|app| {
        app.route(
            Route::new("/chat", |session: WebSocketSession| async move {
                let token = session
                    .headers()
                    .get("x-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned();
                session.send(token).await?;
                session.close(CloseReason::new(Codes::NORMAL, "")).await
            })
            .protocol("chat.v1"),
        );
    })
    .await;
    let request = ClientRequest::new(format!("ws://{}/chat", server.local_addr()))
        .header("X-Token", "s3cret")
        .protocol("chat.v2")
        .protocol("chat.v1");
    let (protocol, token, accept) = within(Client::new().web_socket(request, |s| async move {
        let accept = s.headers().get("sec-websocket-accept").is_some();
        Ok::<_, ws::Error>((
            s.protocol().map(str::to_owned),
            s.incoming.recv().await,
            accept,
        ))
    }))
    .await
    .unwrap();
    assert_eq!(protocol.as_deref(), Some("chat.v1"));
    assert_eq!(token, Some(Frame::text("s3cret")));
    assert!(accept, "the session's headers are the 101's");
    // Offering nothing the route serves: refused with 400 and the reason.
    let refused = within(
        Client::new().web_socket(format!("ws://{}/chat", server.local_addr()), |_| async {}),
    )
    .await
    .unwrap_err();
    let e = refused.handshake().expect("a handshake error");
    assert_eq!(e.status().as_u16(), 400);
    assert!(String::from_utf8_lossy(e.body()).contains("chat.v1"), "{e}");
    server.shutdown().await;
}

#[tokio::test]
async fn refusals_are_typed_errors_with_status_headers_and_body() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let client = Client::new();
    let missing = client
        .connect(format!("ws://{}/nowhere", server.local_addr()))
        .await
        .unwrap_err();
    let e = missing.handshake().expect("a handshake error");
    assert_eq!(e.failure(), &HandshakeFailure::Status);
    assert_eq!(e.status().as_u16(), 404);
    assert_eq!(e.body().as_ref(), b"not found\n");
    assert_eq!(e.headers()["x-content-type-options"], "nosniff");
    assert!(missing.to_string().contains("404"), "{missing}");
    for (url, what) in [
        ("ftp://127.0.0.1/", "the scheme must be"),
        ("/echo", "no scheme"),
        ("127.0.0.1:80/echo", "invalid WebSocket URL"),
    ] {
        let e = client.connect(url).await.unwrap_err();
        assert!(matches!(e, ClientError::InvalidUrl { .. }), "{url}: {e}");
        assert!(e.to_string().contains(what), "{e}");
    }
    // Nothing listens there: an I/O error.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let e = client
        .connect(format!("ws://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Io(_)), "{e}");
    server.shutdown().await;
}

/// A peer on a raw socket: reads one request head, answers as told, then is driven
/// by the test byte by byte.
struct RawPeer {
    tcp: TcpStream,
    request: String,
}

impl RawPeer {
    /// Listens, and hands the accepted connection to `serve` once the request head is
    /// read; returns the URL to connect to.
    async fn spawn<F, Fut>(serve: F) -> String
    where
        F: FnOnce(RawPeer) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                if tcp.read(&mut byte).await.unwrap() == 0 {
                    return;
                }
                head.push(byte[0]);
            }
            serve(RawPeer {
                tcp,
                request: String::from_utf8(head).unwrap(),
            })
            .await;
        });
        url
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.request.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn accept(&self) -> String {
        derive_accept_key(self.header("sec-websocket-key").unwrap().as_bytes())
    }

    /// A 101 with the right accept and these extra header lines.
    async fn upgrade(&mut self, extra: &str) {
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extra}\r\n",
            self.accept()
        );
        self.tcp.write_all(response.as_bytes()).await.unwrap();
    }

    /// The next frame from the client: (first byte, mask key, unmasked payload).
    async fn frame(&mut self) -> Option<(u8, Option<[u8; 4]>, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.tcp.read_exact(&mut head).await.ok()?;
        let len = match head[1] & 0x7f {
            126 => u64::from(self.tcp.read_u16().await.ok()?),
            127 => self.tcp.read_u64().await.ok()?,
            n => u64::from(n),
        };
        let key = if head[1] & 0x80 != 0 {
            let mut key = [0u8; 4];
            self.tcp.read_exact(&mut key).await.ok()?;
            Some(key)
        } else {
            None
        };
        let mut payload = vec![0u8; len as usize];
        self.tcp.read_exact(&mut payload).await.ok()?;
        if let Some(key) = key {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        Some((head[0], key, payload))
    }

    /// Frames until a close frame: its code.
    async fn close_code(&mut self) -> Option<u16> {
        while let Some((first, _, payload)) = self.frame().await {
            if first & 0x0f == 0x8 {
                return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            }
        }
        None
    }
}

/// A server frame (unmasked unless `key`).
fn frame(first: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match key {
        None => out.extend_from_slice(payload),
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
    }
    out
}

#[tokio::test]
async fn bad_handshake_answers_fail_with_what_was_wrong() {
    type Answer = fn(&RawPeer) -> String;
    let cases: [(&str, Answer, HandshakeFailure); 5] = [
        (
            "wrong accept",
            |_| {
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".into()
            },
            HandshakeFailure::BadAccept,
        ),
        (
            "no upgrade",
            |p| {
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    p.accept()
                )
            },
            HandshakeFailure::NotUpgraded,
        ),
        (
            "unoffered extension",
            |p| {
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n",
                    p.accept()
                )
            },
            HandshakeFailure::Extension(String::new()),
        ),
        (
            "unoffered protocol",
            |p| {
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: chat.v9\r\n\r\n",
                    p.accept()
                )
            },
            HandshakeFailure::Protocol("chat.v9".into()),
        ),
        (
            "a 403 with a body",
            |_| {
                "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Why: token\r\nContent-Length: 13\r\n\r\nno entry here".into()
            },
            HandshakeFailure::Status,
        ),
    ];
    for (name, answer, expected) in cases {
        let url = RawPeer::spawn(move |mut peer| async move {
            let answer = answer(&peer);
            peer.tcp.write_all(answer.as_bytes()).await.unwrap();
            let _ = peer.tcp.read(&mut [0u8; 64]).await;
        })
        .await;
        let request = ClientRequest::new(url).protocol("chat.v1");
        let e = within(Client::new().connect(request)).await.unwrap_err();
        let refused = e.handshake().unwrap_or_else(|| panic!("{name}: {e}"));
        match (&expected, refused.failure()) {
            (HandshakeFailure::Extension(_), HandshakeFailure::Extension(why)) => {
                assert!(why.contains("x-webkit-deflate-frame"), "{name}: {why}");
            }
            (expected, got) => assert_eq!(expected, got, "{name}"),
        }
        if name == "a 403 with a body" {
            assert_eq!(refused.status().as_u16(), 403);
            assert_eq!(refused.headers()["x-why"], "token");
            assert_eq!(refused.body().as_ref(), b"no entry here");
            assert_eq!(
                e.to_string(),
                "the server answered 403 Forbidden instead of 101 Switching Protocols: no entry here"
            );
        }
    }
}

#[tokio::test]
async fn deflate_answers_we_cannot_honour_fail_the_handshake() {
    for (answer, why) in [
        (
            "permessage-deflate; client_max_window_bits",
            "client_max_window_bits",
        ),
        (
            "permessage-deflate; server_max_window_bits=16",
            "server_max_window_bits",
        ),
        ("permessage-deflate; mystery", "mystery"),
        ("permessage-deflate, permessage-deflate", "twice"),
    ] {
        let url = RawPeer::spawn(move |mut peer| async move {
            peer.upgrade(&format!("Sec-WebSocket-Extensions: {answer}\r\n"))
                .await;
            let _ = peer.tcp.read(&mut [0u8; 64]).await;
        })
        .await;
        let mut client = Client::new();
        client.install(WebSocketOptions::new().extension(Deflate::new()));
        let e = within(client.connect(url)).await.unwrap_err();
        assert!(
            matches!(e.handshake().map(|h| h.failure()), Some(HandshakeFailure::Extension(w)) if w.contains(why)),
            "{answer}: {e}"
        );
    }
}

#[tokio::test]
async fn frames_are_masked_with_fresh_keys_and_deflate_follows_the_answer() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let url = RawPeer::spawn(move |mut peer| async move {
        let offer = peer.header("sec-websocket-extensions").map(str::to_owned);
        peer.upgrade("Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_max_window_bits=9\r\n")
            .await;
        let mut frames = Vec::new();
        for _ in 0..4 {
            frames.push(peer.frame().await.unwrap());
        }
        let _ = tx.send((offer, frames));
        let _ = peer.tcp.write_all(&frame(0x88, &1000u16.to_be_bytes(), None)).await;
        let _ = peer.close_code().await;
    })
    .await;
    let mut client = Client::new();
    client.install(WebSocketOptions::new().extension(Deflate::new()));
    let repeated = "abcdefghij".repeat(100);
    let message = repeated.clone();
    let session = within(client.connect(url)).await.unwrap();
    for _ in 0..2 {
        session.send(message.as_str()).await.unwrap();
    }
    session.send(Frame::binary(vec![7u8; 600])).await.unwrap();
    session.send(Frame::ping(b"p".to_vec())).await.unwrap();
    let (offer, frames) = within(rx.recv()).await.unwrap();
    assert_eq!(
        offer.as_deref(),
        Some("permessage-deflate; client_max_window_bits")
    );
    let keys: Vec<_> = frames
        .iter()
        .map(|(_, key, _)| key.expect("masked"))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] != w[1]), "{keys:?}");
    // Both copies compressed alike: no context carried from one to the next.
    assert_eq!(frames[0].0, 0xc1, "RSV1, text");
    assert_eq!(frames[0].2, frames[1].2, "no context takeover");
    let mut input = frames[0].2.clone();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut inflated = Vec::with_capacity(4096);
    flate2::Decompress::new_with_window_bits(false, 9)
        .decompress_vec(&input, &mut inflated, flate2::FlushDecompress::Sync)
        .expect("inflates within a 9-bit window");
    assert_eq!(inflated, repeated.as_bytes());
    assert_eq!(frames[2].0, 0xc2, "RSV1, binary");
    assert_eq!((frames[3].0, frames[3].2.as_slice()), (0x89, &b"p"[..]));
    assert_eq!(
        within(session.close_reason()).await.map(|r| r.code()),
        Some(Codes::NORMAL)
    );
}

/// What the client answers to one kind of bad input: the close code it sends and the
/// reason its session reports.
async fn answer_to(
    install: WebSocketOptions,
    extension_header: &str,
    bytes: Vec<u8>,
) -> (Option<u16>, Option<CloseReason>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let header = extension_header.to_owned();
    let url = RawPeer::spawn(move |mut peer| async move {
        peer.upgrade(&header).await;
        peer.tcp.write_all(&bytes).await.unwrap();
        let _ = tx.send(peer.close_code().await);
    })
    .await;
    let mut client = Client::new();
    client.install(install);
    let reason = within(client.web_socket(url, |s| async move {
        while s.incoming.recv().await.is_some() {}
        Ok::<_, ws::Error>(s.close_reason().await)
    }))
    .await
    .unwrap();
    (within(rx.recv()).await.unwrap(), reason)
}

#[tokio::test]
async fn bad_input_from_a_server_gets_the_servers_answers() {
    // A masked frame: 1002.
    let (sent, reason) = answer_to(
        WebSocketOptions::new(),
        "",
        frame(0x81, b"hi", Some([1, 2, 3, 4])),
    )
    .await;
    assert_eq!(sent, Some(1002));
    assert_eq!(reason.map(|r| r.code()), Some(Codes::PROTOCOL_ERROR));
    // Invalid UTF-8: 1007.
    let (sent, _) = answer_to(
        WebSocketOptions::new(),
        "",
        frame(0x81, &[0x68, 0xff, 0x69], None),
    )
    .await;
    assert_eq!(sent, Some(1007));
    // Over the limit: 1009.
    let (sent, _) = answer_to(
        WebSocketOptions::new().max_frame_size(1024),
        "",
        frame(0x82, &[0u8; 2048], None),
    )
    .await;
    assert_eq!(sent, Some(1009));
    // An RSV bit nothing negotiated: 1002.
    let (sent, _) = answer_to(WebSocketOptions::new(), "", frame(0xc1, b"x", None)).await;
    assert_eq!(sent, Some(1002));
}

#[tokio::test]
async fn a_deflate_bomb_from_a_server_is_cut_at_the_limit() {
    // 64 MiB of zeros compress to about 64 KiB; the client's limit is 1 MiB.
    let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
    let zeros = vec![0u8; 64 << 20];
    let mut bomb = Vec::with_capacity(1 << 20);
    compress
        .compress_vec(&zeros, &mut bomb, flate2::FlushCompress::Sync)
        .unwrap();
    drop(zeros);
    bomb.truncate(bomb.len() - 4);
    let (sent, reason) = answer_to(
        WebSocketOptions::new()
            .max_message_size(1 << 20)
            .extension(Deflate::new()),
        "Sec-WebSocket-Extensions: permessage-deflate\r\n",
        frame(0xc2, &bomb, None),
    )
    .await;
    assert_eq!(sent, Some(1009));
    assert_eq!(reason.map(|r| r.code()), Some(Codes::TOO_BIG));
}

#[tokio::test]
async fn the_clients_pings_time_out_a_silent_server() {
    let url = RawPeer::spawn(|mut peer| async move {
        peer.upgrade("").await;
        // Reads (and answers) nothing for longer than the timeout, then goes.
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(peer);
    })
    .await;
    let mut client = Client::new();
    install!(client, WebSockets { ping_period = 100ms, timeout = 300ms });
    let started = std::time::Instant::now();
    let reason = within(client.web_socket(url, |s| async move {
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
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_connected_session_is_usable_anywhere_and_closes_when_dropped() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = serve(move |app| {
        app.route(Route::new("/echo", move |session: WebSocketSession| {
            let tx = tx.clone();
            async move {
                while let Some(frame) = session.incoming.recv().await {
                    session.send(frame).await?;
                }
                let _ = tx.send(session.close_reason().await);
                Ok::<(), ws::Error>(())
            }
        }));
    })
    .await;
    let session = within(Client::new().connect(format!("ws://{}/echo", server.local_addr())))
        .await
        .unwrap();
    let outgoing = session.outgoing.clone();
    tokio::spawn(async move { outgoing.send("from another task").await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        within(session.incoming.recv()).await,
        Some(Frame::text("from another task"))
    );
    assert_eq!(session.remote_addr(), server.local_addr());
    drop(session);
    let reason = within(rx.recv()).await.unwrap();
    assert_eq!(reason.map(|r| r.code()), Some(Codes::NORMAL));
    server.shutdown().await;
}

#[web_socket_client]
async fn count_until_closed(session: WebSocketSession) -> Result<usize> {
    session.send("go").await?;
    let mut texts = 0;
    for Frame::Text(_) in session.incoming {
        texts += 1;
    }
    Ok(texts)
}

#[tokio::test]
async fn a_web_socket_client_function_reads_like_a_handler() {
    let server = serve(|app| {
        app.route(Route::new(
            "/three",
            |session: WebSocketSession| async move {
                session.incoming.recv().await;
                for i in 0..3 {
                    session.send(format!("{i}")).await?;
                    session.send(Frame::binary(vec![i])).await?;
                }
                session.close(CloseReason::new(Codes::NORMAL, "")).await
            },
        ));
    })
    .await;
    let texts = within(Client::new().web_socket(
        format!("ws://{}/three", server.local_addr()),
        count_until_closed,
    ))
    .await
    .unwrap();
    assert_eq!(texts, 3);
    server.shutdown().await;
}

#[tokio::test]
async fn reconnects_with_backoff_and_calls_the_hook() {
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let server = serve(move |app| {
        app.route(Route::new("/flaky", move |session: WebSocketSession| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    // The first two sessions: "restarting, come back".
                    return session
                        .close(CloseReason::new(Codes::SERVICE_RESTART, "restarting"))
                        .await;
                }
                session.send(format!("welcome #{n}")).await?;
                session.close(CloseReason::new(Codes::NORMAL, "done")).await
            }
        }));
    })
    .await;
    let hooks = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = hooks.clone();
    let reconnect = Reconnect::new()
        .min_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
        .on_reconnect(move |attempt| {
            let cause = match attempt.cause {
                ReconnectCause::Closed(reason) => reason.map(|r| r.code().code()),
                ReconnectCause::Failed(_) => None,
            };
            seen.lock()
                .unwrap()
                .push((attempt.attempt, attempt.delay, cause));
        });
    let sessions = Arc::new(AtomicUsize::new(0));
    let runs = sessions.clone();
    let last = within(Client::new().web_socket_reconnecting(
        format!("ws://{}/flaky", server.local_addr()),
        reconnect,
        move |session| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move {
                let first = session.incoming.recv().await;
                Ok::<_, ws::Error>(first)
            }
        },
    ))
    .await
    .unwrap();
    assert_eq!(last, Some(Frame::text("welcome #2")));
    assert_eq!(sessions.load(Ordering::SeqCst), 3);
    let hooks = hooks.lock().unwrap().clone();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    for (attempt, delay, cause) in hooks {
        // Each session opened, so each reconnect is the first of its run.
        assert_eq!(attempt, 1);
        assert!(
            delay >= Duration::from_millis(10) && delay <= Duration::from_millis(20),
            "{delay:?}"
        );
        assert_eq!(cause, Some(1012));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn reconnecting_gives_up_after_max_attempts() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let attempts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let reconnect = Reconnect::new()
        .min_delay(Duration::from_millis(5))
        .max_attempts(3)
        .on_reconnect(move |attempt| {
            assert!(matches!(
                attempt.cause,
                ReconnectCause::Failed(ClientError::Io(_))
            ));
            seen.lock().unwrap().push(attempt.attempt);
        });
    let e = within(Client::new().web_socket_reconnecting(
        format!("ws://127.0.0.1:{port}/"),
        reconnect,
        |_| async {},
    ))
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::Io(_)), "{e}");
    assert_eq!(*attempts.lock().unwrap(), [1, 2, 3]);
    // A refusal that will not pass is not retried.
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let e = within(Client::new().web_socket_reconnecting(
        format!("ws://{}/missing", server.local_addr()),
        Reconnect::new().on_reconnect(|_| panic!("a 404 is not retried")),
        |_| async {},
    ))
    .await
    .unwrap_err();
    assert_eq!(e.handshake().map(|h| h.status().as_u16()), Some(404));
    server.shutdown().await;
}

#[tokio::test]
async fn wss_with_a_custom_ca_and_refused_without_it() {
    let ca = crate::tls::TestCa::new();
    let leaf = ca.leaf(false);
    let server = EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .tls(Tls::pem(&leaf.cert, &leaf.key))
        .configure(|app| {
            app.route(echo_route("/echo"));
        })
        .bind()
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/echo", server.local_addr().port());
    let mut client = Client::new();
    client.tls(ws::client::ClientTls::custom_ca(&ca.pem));
    let back = within(client.web_socket(url.as_str(), |s| async move {
        s.send("over tls").await?;
        Ok::<_, ws::Error>(s.incoming.recv().await)
    }))
    .await
    .unwrap();
    assert_eq!(back, Some(Frame::text("over tls")));
    // Mozilla's roots do not include the test CA.
    let e = within(Client::new().connect(url.as_str()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ClientError::Tls(m) if m.contains("certificate")),
        "{e}"
    );
    // A name the certificate does not have.
    let e = within(client.connect(format!(
        "wss://127.0.0.1:{}/echo",
        server.local_addr().port()
    )))
    .await
    .unwrap_err();
    assert!(matches!(&e, ClientError::Tls(_)), "{e}");
    server.shutdown().await;
}

#[tokio::test]
async fn handshake_timeout_bounds_a_server_that_never_answers() {
    let url = RawPeer::spawn(|peer| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(peer);
    })
    .await;
    let mut client = Client::new();
    install!(client, WebSockets { handshake_timeout = 200ms });
    let e = within(client.connect(url)).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Timeout(d) if d == Duration::from_millis(200)),
        "{e}"
    );
}
