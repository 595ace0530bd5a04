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
    pipelined_echo(server.local_addr(), messages, Duration::from_secs(10), "").await;
}

/// Sends `messages` on a new `/echo` connection, all before any reply is read (a
/// writer task feeds them), and checks that the replies are exactly those messages in
/// order, each within `limit`; `who` names the connection in a failure.
async fn pipelined_echo(
    addr: std::net::SocketAddr,
    messages: Vec<Message>,
    limit: Duration,
    who: &str,
) {
    let (mut sink, mut stream) = connect(addr, "/echo").await.split();
    let expected = messages.clone();
    let writer = tokio::spawn(async move {
        for message in messages {
            sink.feed(message).await.unwrap();
        }
        sink.flush().await.unwrap();
        sink
    });
    for (i, want) in expected.iter().enumerate() {
        let got = tokio::time::timeout(limit, stream.next())
            .await
            .expect("a reply in time")
            .expect("stream open")
            .expect("no protocol error");
        assert!(&got == want, "{who}message {i}: not the bytes sent");
    }
    drop(writer.await.unwrap());
}

/// Large messages on many connections at once: their buffers come from, and go back
/// to, one pool shared by every connection (and both worker threads). Each connection
/// sends payloads no other connection sends and must get exactly its own back, every
/// byte: a buffer handed to a second message while a first still held it, or reused
/// with stale bytes, would show here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_on_many_connections_each_get_their_own_bytes_back() {
    let server = serve(|app| {
        app.route(echo_route("/echo"));
    })
    .await;
    let addr = server.local_addr();
    let mut clients = Vec::new();
    for conn in 0..8u32 {
        clients.push(tokio::spawn(async move {
            let mut seed = 0x9e37_79b9_u32 ^ (conn << 24);
            let mut messages = Vec::new();
            for _ in 0..24 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                // 16 KiB to about 600 KiB: every pooled size class and a few above.
                let size = 16 * 1024 + (seed % (600 * 1024)) as usize;
                let payload: Vec<u8> = (0..size)
                    .map(|j| (j as u32).wrapping_mul(31) as u8 ^ (conn as u8) ^ (seed as u8))
                    .collect();
                messages.push(Message::binary(payload));
            }
            let who = format!("connection {conn}, ");
            pipelined_echo(addr, messages, Duration::from_secs(20), &who).await;
        }));
    }
    for client in clients {
        client
            .await
            .expect("every connection got its own bytes back");
    }
}
