//! The chat sample served by several processes sharing one Redis: a message sent to
//! any of them reaches the users of all of them. `/chat` speaks exactly as the `chat`
//! example does (text in, `[name]: text` out, a greeting first).
//!
//! Talk across two processes in two browser tabs:
//!
//! ```text
//! redis-server --port 6379 &                     # Debian: apt-get install redis-server
//! cargo run --example chat_cluster -- --port 8081 --redis redis://127.0.0.1:6379 &
//! cargo run --example chat_cluster -- --port 8082 --redis redis://127.0.0.1:6379 &
//! ```
//!
//! then open <http://localhost:8081/> in one tab and <http://localhost:8082/> in the
//! other. `PORT` and `REDIS_URL` work as well as the flags; Redis may start after the
//! servers (they serve their own users meanwhile, and connect when it comes).
//!
//! Options: `--prefix P` (Redis namespace, `chat` by default: one Redis can carry
//! several chats), `--resume N` (keep the room's last N messages: each message then
//! starts with its id, and a client opening `/chat?last_id=ID` is sent what it missed
//! after that id, or told it missed more than N), `--heartbeat-ms MS` (how often the
//! node says it is alive; a node silent for three periods has its users removed).
//!
//! `GET /stats` answers the rooms' figures (JSON: the broker's state, publishes sent,
//! dropped and received), `GET /presence` the users in the chat on every node.

// ws-new: template
// ws-new: ws-features redis
// ws-new: deps tracing-subscriber
// ws-new: test /chat "You are connected!"
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ws::prelude::*;
use ws::{MessageId, Resume};

/// The chat page: the `chat` example's.
const PAGE: &str = include_str!("chat.html");

/// The room everyone is in.
const ROOM: &str = "chat";

/// Names are handed out in connection order, followed by the node: `user0@3fa2`.
static LAST_ID: AtomicUsize = AtomicUsize::new(0);

/// This process's short name (part of its node id), for user names.
struct Node(String);

#[web_socket("/chat")]
async fn chat(
    session: WebSocketSession,
    State(rooms): State<Rooms<String>>,
    State(node): State<Node>,
) -> Result<()> {
    let name = format!("user{}@{}", LAST_ID.fetch_add(1, Ordering::Relaxed), node.0);
    println!("Adding {name}!");
    let me = rooms.enter(&session, name);
    match session
        .query_param("last_id")
        .map(|id| id.parse::<MessageId>())
    {
        Some(Ok(last)) => match me.resume(ROOM, last).await {
            Ok(resumed) if !resumed.complete => {
                session
                    .send("You missed more messages than this chat keeps.")
                    .await?
            }
            Ok(_) => {}
            Err(error) => session.send(format!("Could not resume: {error}.")).await?,
        },
        Some(Err(_)) => {
            me.join(ROOM);
            session.send("Could not resume: not a message id.").await?;
        }
        None => {
            me.join(ROOM);
        }
    }
    let here = rooms.presence(ROOM).await.len();
    session
        .send(format!("You are connected! There are {here} users here."))
        .await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        rooms.publish(ROOM, format!("[{}]: {text}", *me));
    }
    println!("Removing {}!", *me);
    Ok(())
}

/// The rooms' figures, as JSON.
#[get("/stats")]
async fn stats(State(rooms): State<Rooms<String>>) -> HttpResponse {
    HttpResponse::new(StatusCode::OK, "application/json", stats_json(&rooms))
}

/// The users in the chat on every node, one a line.
#[get("/presence")]
async fn presence(State(rooms): State<Rooms<String>>) -> String {
    let mut names: Vec<String> = rooms
        .presence(ROOM)
        .await
        .into_iter()
        .map(|entry| entry.meta.as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names.join("\n")
}

fn stats_json(rooms: &Rooms<String>) -> String {
    let s = rooms.stats();
    format!(
        r#"{{"broker":"{:?}","rooms":{},"sessions":{},"remote_sent":{},"remote_dropped":{},"remote_received":{},"reconnects":{}}}"#,
        s.broker,
        s.rooms,
        s.sessions,
        s.remote_sent,
        s.remote_dropped,
        s.remote_received,
        s.reconnects
    )
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let port = common::port();
    let url = common::option::<String>("redis")
        .or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    let prefix = common::option::<String>("prefix").unwrap_or_else(|| "chat".to_owned());
    let mut builder = Rooms::<String>::redis(url).prefix(prefix);
    if let Some(count) = common::option::<usize>("resume") {
        builder = builder.resume(Resume::last(count));
    }
    if let Some(ms) = common::option::<u64>("heartbeat-ms") {
        builder = builder.heartbeat(Duration::from_millis(ms));
    }
    let rooms = builder.build()?;
    // Joins and leaves on every node, as a handler can follow them.
    let mut events = rooms.presence_events();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            println!(
                "{:?} {} {} {}",
                event.kind, event.room, event.id, event.meta
            );
        }
    });
    embedded_server!(port = port, host = "0.0.0.0", |app| {
        install!(app, WebSockets {
            ping_period = 15s,
            timeout = 15s,
            max_frame_size = 64KiB,
        });
        let rooms_node = rooms.node();
        app.state(rooms);
        app.state(Node(format!("{:04x}", rooms_node & 0xffff)));
        app.get("/", |_| async { HttpResponse::html(PAGE) });
        app.get("/health", |_| async { HttpResponse::text("ok") });
        //+metrics: app.prometheus_route("/metrics");
        routing!(app, chat, stats, presence);
    })
    .start()
    .await
}
