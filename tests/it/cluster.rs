//! The `chat_cluster` example: several server processes sharing one real `redis-server`
//! that each test starts on its own port (and kills with -9, restarts, pauses).
//! Clients are tokio-tungstenite over 127.0.0.1; every wait is bounded.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::{
    Client, Example, RedisServer, connect, eventually, http_get, send_text, start_with,
};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

/// Starts a `chat_cluster` node on a free port.
fn node(redis: &RedisServer, prefix: &str, extra: &[&str]) -> Example {
    let url = redis.url();
    let mut args = vec![
        "--redis",
        url.as_str(),
        "--prefix",
        prefix,
        "--heartbeat-ms",
        "200",
    ];
    args.extend_from_slice(extra);
    start_with("chat_cluster", &args, None)
}

/// The next text message within `limit`, or `None`.
async fn text_within(client: &mut Client, limit: Duration) -> Option<String> {
    match tokio::time::timeout(limit, client.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => Some(text.to_string()),
        Ok(Some(Ok(_))) => Some(String::new()),
        _ => None,
    }
}

/// Reads until a message containing `needle` arrives (others are passed over); `None`
/// if none does within `limit`.
async fn wait_for(client: &mut Client, needle: &str, limit: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let text = text_within(client, left).await?;
        if text.contains(needle) {
            return Some(text);
        }
    }
}

/// A client on `addr` past its greeting.
async fn chat_client(addr: SocketAddr, path: &str) -> Client {
    try_chat_client(addr, path).await.expect("the greeting")
}

/// A client on `addr` past its greeting; `None` if the connection ends (or the
/// greeting does not come) first.
async fn try_chat_client(addr: SocketAddr, path: &str) -> Option<Client> {
    let mut client = connect(addr, path).await;
    // The greeting counts the room's members, which asks Redis (up to its 500 ms
    // command timeout while Redis is paused): generous, for a loaded machine.
    wait_for(&mut client, "You are connected!", Duration::from_secs(15)).await?;
    Some(client)
}

/// Sends probes from `from` until every client in `to` got one: the nodes are
/// connected and subscribed (at most 100 probes, 200 ms each).
async fn synced(from: &mut Client, to: &mut [&mut Client]) {
    assert!(
        try_synced(from, to, 100).await,
        "the nodes never passed a message within 100 probes"
    );
}

/// [`synced`] with at most `probes` probes: whether every client in `to` got one.
async fn try_synced(from: &mut Client, to: &mut [&mut Client], probes: usize) -> bool {
    for k in 0..probes {
        let probe = format!("<probe-{k}>");
        send_text(from, &probe).await;
        let mut all = true;
        for client in to.iter_mut() {
            if wait_for(client, &probe, Duration::from_millis(200))
                .await
                .is_none()
            {
                all = false;
                break;
            }
        }
        if all {
            return true;
        }
    }
    false
}

/// A node's `/stats` figure (a number) or state (`"broker"`).
fn stat(addr: SocketAddr, key: &str) -> String {
    let body = http_get(addr, "/stats");
    let start = body
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {body}"))
        + key.len()
        + 3;
    body[start..]
        .split([',', '}'])
        .next()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

fn number(addr: SocketAddr, key: &str) -> u64 {
    stat(addr, key).parse().expect("a number")
}

fn users(addr: SocketAddr) -> usize {
    http_get(addr, "/presence")
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

/// The numbers `n` of messages `TAG n` that `client` gets, until `count` arrived or
/// `limit` passed.
async fn collect(client: &mut Client, tag: &str, count: usize, limit: Duration) -> Vec<u32> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    while got.len() < count {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(text) = text_within(client, left).await else {
            break;
        };
        if let Some(at) = text.find(tag) {
            let digits: String = text[at + tag.len()..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                got.push(n);
            }
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_one_chat() {
    let redis = RedisServer::start();
    let nodes: Vec<Example> = (0..3).map(|_| node(&redis, "three", &[])).collect();
    let mut a = chat_client(nodes[0].addr, "/chat").await;
    let mut b = chat_client(nodes[1].addr, "/chat").await;
    let mut c = chat_client(nodes[2].addr, "/chat").await;
    synced(&mut b, &mut [&mut a, &mut c]).await;
    synced(&mut c, &mut [&mut a, &mut b]).await;
    // 30 each: the senders read nothing meanwhile, and a member whose queue (64
    // frames) fills is closed with 1008 by design.
    for i in 0..30 {
        send_text(&mut b, &format!("from-b {i}")).await;
        send_text(&mut c, &format!("from-c {i}")).await;
    }
    // A gets everything published on B and C, in each publisher's order.
    let mut from_b = Vec::new();
    let mut from_c = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while from_b.len() < 30 || from_c.len() < 30 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let text = text_within(&mut a, left)
            .await
            .unwrap_or_else(|| panic!("A got {} from B and {} from C", from_b.len(), from_c.len()));
        for (tag, list) in [("from-b ", &mut from_b), ("from-c ", &mut from_c)] {
            if let Some(at) = text.find(tag) {
                list.push(text[at + tag.len()..].parse::<u32>().expect("a number"));
            }
        }
    }
    assert_eq!(from_b, (0..30).collect::<Vec<_>>(), "B's order");
    assert_eq!(from_c, (0..30).collect::<Vec<_>>(), "C's order");
    // The text is the chat example's: `[name]: text`.
    send_text(&mut c, "hello A").await;
    let line = wait_for(&mut a, "hello A", Duration::from_secs(5))
        .await
        .expect("hello");
    assert!(
        line.starts_with("[user") && line.ends_with("]: hello A"),
        "{line}"
    );
    // Presence: every node sees the three users.
    for n in &nodes {
        eventually("three users in presence", Duration::from_secs(5), || {
            users(n.addr) == 3
        })
        .await;
    }
    // A fourth user's greeting counts everyone on every node.
    let mut d = connect(nodes[0].addr, "/chat").await;
    let greeting = wait_for(&mut d, "You are connected!", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(greeting, "You are connected! There are 4 users here.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_then_up() {
    let mut redis = RedisServer::unstarted();
    let a_node = node(&redis, "late", &[]);
    // The node serves its own users without Redis.
    let mut a1 = chat_client(a_node.addr, "/chat").await;
    let mut a2 = chat_client(a_node.addr, "/chat").await;
    send_text(&mut a1, "alone").await;
    assert!(
        wait_for(&mut a2, "alone", Duration::from_secs(5))
            .await
            .is_some()
    );
    assert_ne!(stat(a_node.addr, "broker"), "Connected");
    redis.restart();
    eventually(
        "A connects once Redis is up",
        Duration::from_secs(10),
        || stat(a_node.addr, "broker") == "Connected",
    )
    .await;
    let b_node = node(&redis, "late", &[]);
    let mut b = chat_client(b_node.addr, "/chat").await;
    synced(&mut b, &mut [&mut a1, &mut a2]).await;
    synced(&mut a1, &mut [&mut b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_and_restarted_mid_traffic() {
    let mut redis = RedisServer::start();
    let a_node = node(&redis, "restart", &[]);
    let b_node = node(&redis, "restart", &[]);
    let mut a1 = chat_client(a_node.addr, "/chat").await;
    let mut a2 = chat_client(a_node.addr, "/chat").await;
    let mut b = chat_client(b_node.addr, "/chat").await;
    synced(&mut a1, &mut [&mut a2, &mut b]).await;
    // a1 talks every 5 ms throughout; Redis is killed and restarted on the way.
    let sender = tokio::spawn(async move {
        for i in 0..400 {
            send_text(&mut a1, &format!("tick {i}")).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        a1
    });
    let mut local = collect(&mut a2, "tick ", 100, Duration::from_secs(10)).await;
    redis.kill();
    local.extend(collect(&mut a2, "tick ", 100, Duration::from_secs(10)).await);
    redis.restart();
    // Every tick reached the local member, in order, Redis or not.
    local.extend(collect(&mut a2, "tick ", 200, Duration::from_secs(10)).await);
    assert_eq!(local, (0..400).collect::<Vec<_>>());
    let mut a1 = sender.await.expect("sender");
    // Both nodes reconnected and resubscribed by themselves.
    for n in [&a_node, &b_node] {
        eventually("reconnected", Duration::from_secs(10), || {
            stat(n.addr, "broker") == "Connected" && number(n.addr, "reconnects") >= 1
        })
        .await;
    }
    // B got what A sent before the kill, and (at most once) some after the restart, in
    // order; what A sent while Redis was away is counted as dropped.
    let remote = collect(&mut b, "tick ", 400, Duration::from_millis(500)).await;
    assert!(
        remote.windows(2).all(|w| w[0] < w[1]),
        "in order: {remote:?}"
    );
    assert!(remote.contains(&0), "{remote:?}");
    assert!(number(a_node.addr, "remote_dropped") > 0);
    synced(&mut a1, &mut [&mut b]).await;
    synced(&mut b, &mut [&mut a1, &mut a2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_resume_what_is_published_during_the_outage_reaches_other_nodes() {
    let mut redis = RedisServer::start();
    let a_node = node(&redis, "outage", &["--resume", "1000"]);
    let b_node = node(&redis, "outage", &["--resume", "1000"]);
    let mut a1 = chat_client(a_node.addr, "/chat").await;
    let mut a2 = chat_client(a_node.addr, "/chat").await;
    let mut b = chat_client(b_node.addr, "/chat").await;
    synced(&mut a1, &mut [&mut a2, &mut b]).await;
    synced(&mut b, &mut [&mut a1]).await;
    redis.kill();
    eventually("A notices", Duration::from_secs(5), || {
        stat(a_node.addr, "broker") != "Connected"
    })
    .await;
    for i in 0..20 {
        send_text(&mut a1, &format!("outage {i}")).await;
    }
    // Local members get them at once (unstamped: there is no id without Redis).
    let local = collect(&mut a2, "outage ", 20, Duration::from_secs(5)).await;
    assert_eq!(local, (0..20).collect::<Vec<_>>());
    redis.restart();
    // After recovery, B gets them, in order.
    let remote = collect(&mut b, "outage ", 20, Duration::from_secs(15)).await;
    assert_eq!(remote, (0..20).collect::<Vec<_>>());
    // Live again both ways, stamped with ids.
    send_text(&mut b, "after").await;
    let line = wait_for(&mut a1, "]: after", Duration::from_secs(10))
        .await
        .expect("after");
    let id = line.split(' ').next().unwrap();
    assert!(id.parse::<ws::MessageId>().is_ok(), "stamped: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_redis_drops_for_other_nodes_and_never_for_local_ones() {
    let redis = RedisServer::start();
    let a_node = node(&redis, "slow", &[]);
    let b_node = node(&redis, "slow", &[]);
    let mut a1 = chat_client(a_node.addr, "/chat").await;
    let mut a2 = chat_client(a_node.addr, "/chat").await;
    let mut b = chat_client(b_node.addr, "/chat").await;
    synced(&mut a1, &mut [&mut a2, &mut b]).await;
    redis.pause(true);
    // Far more than the outbound buffer (4,096) holds, in bursts of 20 (a burst larger
    // than a reader's queue, 64 frames, would close that reader with 1008 by design).
    let (mut tx, mut rx) = a1.split();
    let drain = tokio::spawn(async move { while rx.next().await.is_some() {} });
    let sender = tokio::spawn(async move {
        use futures_util::SinkExt;
        for i in 0..6000 {
            tx.send(Message::text(format!("flood {i}")))
                .await
                .expect("send");
            if i % 20 == 19 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let local = collect(&mut a2, "flood ", 6000, Duration::from_secs(30)).await;
    assert_eq!(
        local.len(),
        6000,
        "every flood message reached the local member"
    );
    assert!(local.windows(2).all(|w| w[0] < w[1]));
    sender.await.expect("sender");
    drain.abort();
    let mut a3 = chat_client(a_node.addr, "/chat").await;
    eventually("drops counted", Duration::from_secs(10), || {
        number(a_node.addr, "remote_dropped") > 0
    })
    .await;
    redis.pause(false);
    eventually("A connected again", Duration::from_secs(15), || {
        stat(a_node.addr, "broker") == "Connected"
    })
    .await;
    eventually("B connected again", Duration::from_secs(15), || {
        stat(b_node.addr, "broker") == "Connected"
    })
    .await;
    // When Redis goes on, what it held for B comes in one burst, and a member whose
    // queue overflows is closed with 1008 by design: b, and a client that joins B while
    // the burst is still coming in, may be gone. A client that joins after it is
    // served: a few attempts, each with its own probes.
    drop(b);
    let stats: Vec<String> = [&a_node, &b_node]
        .iter()
        .map(|n| http_get(n.addr, "/stats"))
        .collect();
    for _ in 0..10 {
        // Closed by the burst before its greeting (1008): the next one.
        let Some(mut b2) = try_chat_client(b_node.addr, "/chat").await else {
            continue;
        };
        if try_synced(&mut a3, &mut [&mut b2], 20).await {
            return;
        }
    }
    panic!("no client on B got a message from A after Redis went on (at first: {stats:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_leaves_presence_everywhere() {
    let redis = RedisServer::start();
    let a_node = node(&redis, "presence", &[]);
    let b_node = node(&redis, "presence", &[]);
    let mut a = chat_client(a_node.addr, "/chat").await;
    let mut b = chat_client(b_node.addr, "/chat").await;
    let _b2 = chat_client(b_node.addr, "/chat").await;
    synced(&mut b, &mut [&mut a]).await;
    eventually("three users", Duration::from_secs(5), || {
        users(a_node.addr) == 3
    })
    .await;
    // kill -9: B says nothing; its heartbeat (200 ms, expiring after 600 ms) stops.
    drop(b_node);
    let started = std::time::Instant::now();
    eventually("B's users removed", Duration::from_secs(5), || {
        users(a_node.addr) == 1
    })
    .await;
    eprintln!("presence cleaned up {:?} after the kill", started.elapsed());
    assert_eq!(http_get(a_node.addr, "/presence").lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_another_node() {
    let redis = RedisServer::start();
    let nodes: Vec<Example> = (0..3)
        .map(|_| node(&redis, "resume", &["--resume", "5"]))
        .collect();
    let mut x = chat_client(nodes[0].addr, "/chat").await;
    let mut p = chat_client(nodes[1].addr, "/chat").await;
    synced(&mut p, &mut [&mut x]).await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        send_text(&mut p, &format!("m{i}")).await;
        let line = wait_for(&mut x, &format!("]: m{i}"), Duration::from_secs(5))
            .await
            .unwrap();
        ids.push(line.split(' ').next().unwrap().to_owned());
    }
    x.close(None).await.expect("close");
    for i in 4..=5 {
        send_text(&mut p, &format!("m{i}")).await;
    }
    // Stored once the publisher sees its own, stamped.
    wait_for(&mut p, "]: m5", Duration::from_secs(5))
        .await
        .unwrap();
    // Back on another node with the last id it got: exactly what it missed, in order,
    // before anything else.
    let mut x = connect(nodes[2].addr, &format!("/chat?last_id={}", ids[2])).await;
    let first = text_within(&mut x, Duration::from_secs(5)).await.unwrap();
    let second = text_within(&mut x, Duration::from_secs(5)).await.unwrap();
    assert!(
        first.ends_with("]: m4") && second.ends_with("]: m5"),
        "{first} / {second}"
    );
    let third = text_within(&mut x, Duration::from_secs(5)).await.unwrap();
    assert!(third.starts_with("You are connected!"), "{third}");
    // More than the retention (5) later: told so, and given what is kept.
    for i in 6..=15 {
        send_text(&mut p, &format!("m{i}")).await;
    }
    wait_for(&mut p, "]: m15", Duration::from_secs(5))
        .await
        .unwrap();
    let mut y = connect(nodes[0].addr, &format!("/chat?last_id={}", ids[0])).await;
    let kept = collect(&mut y, "]: m", 5, Duration::from_secs(5)).await;
    assert_eq!(kept, vec![11, 12, 13, 14, 15]);
    let notice = text_within(&mut y, Duration::from_secs(5)).await.unwrap();
    assert_eq!(notice, "You missed more messages than this chat keeps.");
}
