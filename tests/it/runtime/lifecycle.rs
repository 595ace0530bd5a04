//! Many sessions: shutdown, terminate, overflow policies, slow consumers, flush.

use std::sync::atomic::Ordering;

use super::*;
use crate::raw::RawClient;

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
    // The readers' progress: the broadcaster stays at most 16 messages ahead of the
    // slowest reader, so a reader the machine descheduled for a while is not taken for
    // a slow consumer (the one that never reads falls behind by the whole run).
    let progress = Arc::new((
        [(); 3].map(|_| std::sync::atomic::AtomicUsize::new(0)),
        tokio::sync::Notify::new(),
    ));
    let pace = progress.clone();
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
            let pace = pace.clone();
            async move {
                let payload = "x".repeat(SIZE);
                let (mut delivered, mut dropped) = (0, 0);
                for i in 0..MESSAGES {
                    loop {
                        let notified = pace.1.notified();
                        let slowest = pace.0.iter().map(|p| p.load(Ordering::SeqCst)).min();
                        if slowest.unwrap_or(0) + 16 >= i {
                            break;
                        }
                        notified.await;
                    }
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
    for reader in 0..3 {
        let mut client = connect(addr, "/chat").await;
        assert_eq!(next_text(&mut client).await, "joined");
        let progress = progress.clone();
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
                        progress.0[reader].store(count, Ordering::SeqCst);
                        progress.1.notify_waiters();
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
