//! `Rooms` in one process (the in-memory broker) and two nodes in this process over a
//! real `redis-server` (presence events), against tokio-tungstenite clients.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use ws::{
    Frame, JsonConverter, PresenceKind, Rooms, Route, SessionId, WebSocketOptions, WebSocketSession,
};

use crate::support::{Client, RedisServer, connect, eventually, next_text, send_text, serve};

/// The commands a test client sends: `join R`, `leave R`, `say R TEXT`, `others R TEXT`,
/// `to ID TEXT`, `all TEXT`, `json R`, `id`, `churn R N`.
async fn handler(session: WebSocketSession, rooms: Rooms<String>) -> ws::Result<()> {
    let name = session.query_param("name").unwrap_or_default();
    let me = rooms.enter(&session, name);
    session.send(format!("id {}", me.id())).await?;
    while let Some(frame) = session.incoming.recv().await {
        let Frame::Text(text) = frame else { continue };
        let mut words = text.splitn(3, ' ');
        let (verb, a, b) = (words.next(), words.next(), words.next().unwrap_or(""));
        match (verb, a) {
            (Some("join"), Some(room)) => {
                me.join(room);
                session.send(format!("joined {room}")).await?;
            }
            (Some("leave"), Some(room)) => {
                me.leave(room);
                session.send(format!("left {room}")).await?;
            }
            (Some("say"), Some(room)) => {
                rooms.to(room).publish(format!("{room}: {b}"));
            }
            (Some("others"), Some(room)) => {
                rooms.to(room).except(&me).publish(format!("{room}: {b}"));
            }
            (Some("to"), Some(id)) => {
                let id: SessionId = id.parse().expect("an id");
                rooms.to_session(id).publish(format!("direct: {b}"));
            }
            (Some("all"), Some(first)) => {
                rooms.to_all().publish(format!("all: {first} {b}"));
            }
            (Some("json"), Some(room)) => {
                let value = serde_json::json!({"room": room, "from": *me});
                rooms.to(room).publish_serialized(&value)?;
            }
            (Some("churn"), Some(room)) => {
                // Join and leave as fast as possible; every time in, a publish must find
                // at least this member: it never joined a room being removed.
                let n: usize = b.parse().unwrap_or(100);
                let mut missed = 0;
                for _ in 0..n {
                    me.join(room);
                    if rooms.to(room).publish(Frame::binary(vec![0u8])).delivered == 0 {
                        missed += 1;
                    }
                    me.leave(room);
                }
                session.send(format!("churned {missed}")).await?;
            }
            _ => session.send(format!("? {text}")).await?,
        }
    }
    Ok(())
}

async fn rooms_server(rooms: Rooms<String>) -> ws::RunningServer {
    rooms_server_with(rooms, 64).await
}

async fn rooms_server_with(rooms: Rooms<String>, capacity: usize) -> ws::RunningServer {
    serve(move |app| {
        app.install(
            WebSocketOptions::new()
                .content_converter(JsonConverter)
                .outgoing_capacity(capacity),
        );
        let rooms = rooms.clone();
        app.route(Route::new("/rooms", move |session| {
            handler(session, rooms.clone())
        }));
    })
    .await
}

/// A client: its session id.
async fn client(server: &ws::RunningServer, name: &str) -> (Client, SessionId) {
    let mut client = connect(server.local_addr(), &format!("/rooms?name={name}")).await;
    let line = next_text(&mut client).await;
    let id = line
        .strip_prefix("id ")
        .expect("id line")
        .parse()
        .expect("id");
    (client, id)
}

async fn command(client: &mut Client, text: &str, answer: &str) {
    send_text(client, text).await;
    assert_eq!(next_text(client).await, answer);
}

/// Text messages until none comes for 300 ms (binary ones are skipped).
async fn drain(client: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(300), client.next()).await
    {
        if let Message::Text(text) = message {
            out.push(text.to_string());
        }
    }
    out
}

#[tokio::test]
async fn rooms_in_one_process() {
    let rooms = Rooms::<String>::new();
    let server = rooms_server(rooms.clone()).await;
    let (mut alice, alice_id) = client(&server, "alice").await;
    let (mut bob, _) = client(&server, "bob").await;
    let (mut carol, carol_id) = client(&server, "carol").await;
    command(&mut alice, "join lobby", "joined lobby").await;
    command(&mut alice, "join games", "joined games").await;
    command(&mut bob, "join lobby", "joined lobby").await;
    command(&mut carol, "join games", "joined games").await;
    assert_eq!(rooms.stats().rooms, 2);

    // A room, a room but the sender, one session, everyone.
    send_text(&mut alice, "say lobby hi").await;
    send_text(&mut alice, "others games psst").await;
    send_text(&mut bob, &format!("to {carol_id} only you")).await;
    send_text(&mut bob, "all hello everyone").await;
    send_text(&mut carol, "json lobby").await;
    // (Sessions publish from their own tasks: the order between publishers is free.)
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let lobby = [
        "all: hello everyone",
        "lobby: hi",
        r#"{"from":"carol","room":"lobby"}"#,
    ];
    assert_eq!(sorted(drain(&mut alice).await), lobby);
    assert_eq!(sorted(drain(&mut bob).await), lobby);
    assert_eq!(
        sorted(drain(&mut carol).await),
        ["all: hello everyone", "direct: only you", "games: psst"]
    );

    // Presence carries the metadata; leaving empties and removes a room.
    let mut names: Vec<_> = rooms
        .presence("lobby")
        .await
        .into_iter()
        .map(|e| e.meta.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    command(&mut carol, "leave games", "left games").await;
    command(&mut alice, "leave games", "left games").await;
    assert_eq!(rooms.stats().rooms, 1, "an empty room goes away");
    assert!(rooms.local_presence("games").is_empty());

    // A session that ends, however it ends, leaves every room.
    let mut events = rooms.presence_events();
    drop(alice);
    let leave = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("a leave")
        .expect("event");
    assert_eq!(
        (leave.kind, leave.id, &*leave.room),
        (PresenceKind::Leave, alice_id, "lobby")
    );
    eventually("alice gone", Duration::from_secs(5), || {
        rooms.stats().sessions == 2
    })
    .await;
    assert_eq!(rooms.local_presence("lobby").len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_and_leaving_races_never_lose_a_room() {
    let rooms = Rooms::<String>::new();
    // Room for every frame the churners send each other (read at the end).
    let server = rooms_server_with(rooms.clone(), 100_000).await;
    let mut clients = Vec::new();
    for i in 0..8 {
        clients.push(client(&server, &format!("c{i}")).await.0);
    }
    for c in &mut clients {
        send_text(c, "churn hot 2000").await;
    }
    for c in &mut clients {
        let answer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(message) = c.next().await {
                if let Ok(Message::Text(text)) = message {
                    return text.to_string();
                }
            }
            "the connection ended".to_owned()
        })
        .await
        .expect("churn done");
        assert_eq!(
            answer, "churned 0",
            "a member joined a room that was being removed"
        );
    }
    assert_eq!(
        rooms.stats().rooms,
        0,
        "the room went away with its last member"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_closes_that_member_with_1008() {
    let rooms = Rooms::<()>::new();
    let for_route = rooms.clone();
    let server = serve(move |app| {
        app.install(WebSocketOptions::new().outgoing_capacity(4));
        let rooms = for_route.clone();
        app.route(Route::new("/slow", move |session: WebSocketSession| {
            let rooms = rooms.clone();
            async move {
                let _me = rooms.join(&session, "r", ());
                session.send("in").await?;
                while session.incoming.recv().await.is_some() {}
                Ok::<(), ws::Error>(())
            }
        }));
    })
    .await;
    let mut slow = connect(server.local_addr(), "/slow").await;
    assert_eq!(next_text(&mut slow).await, "in");
    // The client reads nothing: a big enough burst fills its queue, never waiting.
    let payload = "x".repeat(64 * 1024);
    let mut closed = 0;
    for _ in 0..2000 {
        closed += rooms.publish("r", payload.as_str()).dropped_slow;
        if closed > 0 {
            break;
        }
    }
    assert_eq!(closed, 1);
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(u16::from(reason.expect("a reason").code), 1008);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_across_two_nodes_over_redis() {
    let redis = RedisServer::start();
    let build = || {
        Rooms::<String>::redis(redis.url())
            .prefix("inproc")
            .heartbeat(Duration::from_millis(200))
            .build()
            .expect("rooms")
    };
    let (one, two) = (build(), build());
    assert_ne!(one.node(), two.node());
    let server_one = rooms_server(one.clone()).await;
    let server_two = rooms_server(two.clone()).await;
    for rooms in [&one, &two] {
        eventually("connected", Duration::from_secs(10), || {
            rooms.stats().broker == ws::BrokerState::Connected
        })
        .await;
    }
    let mut events = one.presence_events();
    let (mut dave, dave_id) = client(&server_two, "dave").await;
    command(&mut dave, "join lobby", "joined lobby").await;
    let join = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("a join from the other node")
        .expect("event");
    assert_eq!(join.kind, PresenceKind::Join);
    assert_eq!((join.id, &*join.room), (dave_id, "lobby"));
    assert_eq!(join.meta, serde_json::json!("dave"));
    let (mut erin, _) = client(&server_one, "erin").await;
    command(&mut erin, "join lobby", "joined lobby").await;
    let seen = Arc::new(one.clone());
    let everyone = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let list = seen.presence("lobby").await;
            if list.len() == 2 {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("both in presence");
    assert!(everyone.iter().any(|e| e.id == dave_id));
    // A session on one node addressed from the other.
    send_text(&mut erin, &format!("to {dave_id} over redis")).await;
    assert_eq!(next_text(&mut dave).await, "direct: over redis");
    drop(dave);
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("dave's leave")
            .expect("event");
        if event.kind == PresenceKind::Leave && event.id == dave_id {
            break;
        }
    }
    server_one.shutdown().await;
    server_two.shutdown().await;
}
