//! Raw sessions (Ktor's `webSocketRaw`): control frames and fragments reach the handler.

use super::*;
use crate::raw::{self, RawClient};

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
