//! Buffers: windows kept in flight, pipelined messages of every size.

use super::*;
use crate::raw::{self, RawClient};

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
