//! permessage-deflate broadcasts: members with different negotiated parameters (plain,
//! context takeover, none, small windows) each inflate the exact messages, in every
//! memory mode, with `ws::client` (which offers the parameters it is given).

use std::sync::Arc;
use std::time::Duration;

use ws::Route;
use ws::client::Client;
use ws::extension::{Deflate, DeflateMemory};
use ws::prelude::*;

use crate::support::serve;

const STEP: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(STEP, f).await.expect("within 10 s")
}

/// The offers of the members, by what they make the server do.
fn offers() -> Vec<(&'static str, Option<Deflate>)> {
    vec![
        ("plain", None),
        ("default offer", Some(Deflate::new())),
        (
            "server_no_context_takeover",
            Some(Deflate::new().server_no_context_takeover(true)),
        ),
        (
            "no takeover, 10-bit window",
            Some(
                Deflate::new()
                    .server_no_context_takeover(true)
                    .server_max_window_bits(10),
            ),
        ),
        (
            "takeover, 9-bit window, client resets",
            Some(
                Deflate::new()
                    .server_max_window_bits(9)
                    .client_no_context_takeover(true),
            ),
        ),
    ]
}

#[tokio::test]
async fn a_broadcast_reaches_members_of_every_parameter_set_exactly() {
    for memory in [
        DeflateMemory::Shared,
        DeflateMemory::Dedicated,
        DeflateMemory::Small,
    ] {
        let members = Arc::new(Connections::<()>::new());
        let room = members.clone();
        let server = serve(move |app| {
            app.install(WebSocketOptions::new().extension(Deflate::new().memory(memory)));
            app.route(Route::new("/room", move |session: WebSocketSession| {
                let room = room.clone();
                async move {
                    let _member = room.join(&session, ());
                    session.send("joined").await?;
                    while let Some(frame) = session.incoming.recv().await {
                        room.broadcast(frame);
                    }
                    Ok::<(), ws::Error>(())
                }
            }));
        })
        .await;
        let url = format!("ws://{}/room", server.local_addr());
        let mut sessions = Vec::new();
        for (name, offer) in offers() {
            let mut client = Client::new();
            if let Some(deflate) = offer {
                client.install(WebSocketOptions::new().extension(deflate));
            }
            let session = within(client.connect(url.as_str())).await.unwrap();
            let joined = within(session.incoming.recv()).await;
            assert_eq!(joined.as_ref().and_then(Frame::read_text), Some("joined"));
            sessions.push((name, session));
        }
        assert_eq!(members.len(), sessions.len());
        // Every header length (7-bit, 16-bit, 64-bit), repeated content (context
        // takeover matters on the second and third), an empty message.
        let messages: Vec<String> = vec![
            "hi".into(),
            format!(
                r#"{{"seq":1,"text":"{}"}}"#,
                "the same words again ".repeat(100)
            ),
            format!(
                r#"{{"seq":2,"text":"{}"}}"#,
                "the same words again ".repeat(100)
            ),
            (0..120_000u32)
                .map(|i| char::from(b'a' + (i * 31 % 26) as u8))
                .collect(),
            String::new(),
        ];
        // The plain member and a compressing one (the server inflates it) send, one
        // message at a time (two senders' messages have no order between them).
        for (i, message) in messages.iter().enumerate() {
            within(sessions[i % 2].1.send(message.as_str()))
                .await
                .unwrap();
            for (name, session) in &sessions {
                let got = within(session.incoming.recv()).await;
                assert_eq!(
                    got.as_ref().and_then(Frame::read_text),
                    Some(message.as_str()),
                    "{name} in {memory:?}"
                );
            }
        }
        drop(sessions);
        server.shutdown().await;
    }
}
