//! The DSL over loopback: handlers written with `#[web_socket]`, configured with
//! `install!`, added with `routing!` and served by `embedded_server!`, driven by
//! tokio-tungstenite clients. Each test pins one behaviour a reader of the handler
//! expects: what `break`, `continue`, labels, `?`, nested loops, patterns and
//! shadowing do inside `for ... in incoming`, and that the extractors, options and
//! routes the macros generate take effect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use ws::prelude::*;

use crate::support::*;

/// The close frame the server sends: `(code, reason)`; skips other messages.
async fn close_of(client: &mut Client) -> (u16, String) {
    loop {
        match next(client).await {
            Some(Message::Close(Some(frame))) => {
                return (u16::from(frame.code), frame.reason.to_string());
            }
            Some(Message::Close(None)) => panic!("close frame without a code"),
            Some(_) => continue,
            None => panic!("the stream ended without a close frame"),
        }
    }
}

async fn send_binary(client: &mut Client, bytes: &[u8]) {
    client
        .send(Message::binary(bytes.to_vec()))
        .await
        .expect("send");
}

// ----- Ktor's echo sample (examples/echo.rs) -----

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    session.send("Please enter your name").await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        if text.eq_ignore_ascii_case("bye") {
            session
                .close(CloseReason::new(Codes::NORMAL, "Client said BYE"))
                .await?;
        } else {
            session.send(Frame::text(format!("Hi, {text}!"))).await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn seed_echo_greets_answers_skips_binary_and_closes_on_bye() {
    let server = serve(|app| routing!(app, echo)).await;
    let mut client = connect(server.local_addr(), "/echo").await;
    assert_eq!(next_text(&mut client).await, "Please enter your name");
    send_text(&mut client, "Ann").await;
    assert_eq!(next_text(&mut client).await, "Hi, Ann!");
    // `let Frame::Text(text) = frame else { continue }` skips it: the next answer is Bob's.
    send_binary(&mut client, b"\x01\x02").await;
    send_text(&mut client, "Bob").await;
    assert_eq!(next_text(&mut client).await, "Hi, Bob!");
    send_text(&mut client, "ByE").await;
    assert_eq!(
        close_of(&mut client).await,
        (1000, "Client said BYE".to_string())
    );
    drop(client);
    server.shutdown().await;
}

// ----- break, continue, labels -----

#[web_socket("/break")]
async fn breaks(session: WebSocketSession) -> Result<()> {
    let mut seen = 0;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        if text == "stop" {
            break;
        }
        seen += 1;
    }
    session.send(format!("after the loop, {seen} seen")).await?;
    Ok(())
}

#[tokio::test]
async fn break_leaves_the_loop_and_the_code_after_it_runs() {
    let server = serve(|app| routing!(app, breaks)).await;
    let mut client = connect(server.local_addr(), "/break").await;
    for text in ["a", "b", "stop", "c"] {
        send_text(&mut client, text).await;
    }
    assert_eq!(next_text(&mut client).await, "after the loop, 2 seen");
    // The handler returned: the session closes normally.
    assert_eq!(close_of(&mut client).await.0, 1000);
    drop(client);
    server.shutdown().await;
}

#[web_socket("/continue")]
async fn continues(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        if text.starts_with('#') {
            continue;
        }
        session.send(text).await?;
    }
    Ok(())
}

#[tokio::test]
async fn continue_skips_the_rest_of_the_body_and_receives_the_next_frame() {
    let server = serve(|app| routing!(app, continues)).await;
    let mut client = connect(server.local_addr(), "/continue").await;
    for text in ["#comment", "one", "#another", "two"] {
        send_text(&mut client, text).await;
    }
    assert_eq!(next_text(&mut client).await, "one");
    assert_eq!(next_text(&mut client).await, "two");
    drop(client);
    server.shutdown().await;
}

#[web_socket("/labels")]
async fn labels(session: WebSocketSession) -> Result<()> {
    'frames: for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        // An ordinary loop inside: untouched, and the labels cross it.
        for word in text.split(' ') {
            if word == "skip" {
                continue 'frames;
            }
            if word == "quit" {
                break 'frames;
            }
        }
        session.send(format!("whole: {text}")).await?;
    }
    session.send("left 'frames").await?;
    Ok(())
}

#[tokio::test]
async fn labeled_continue_and_break_from_an_inner_loop_reach_the_receive_loop() {
    let server = serve(|app| routing!(app, labels)).await;
    let mut client = connect(server.local_addr(), "/labels").await;
    for text in ["a skip b", "c d", "e quit f", "never read"] {
        send_text(&mut client, text).await;
    }
    assert_eq!(next_text(&mut client).await, "whole: c d");
    assert_eq!(next_text(&mut client).await, "left 'frames");
    assert_eq!(close_of(&mut client).await.0, 1000);
    drop(client);
    server.shutdown().await;
}

// ----- `?` -----

#[web_socket("/double")]
async fn double(session: WebSocketSession) -> std::result::Result<(), String> {
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        let n: u32 = text.parse().map_err(|_| format!("not a number: {text}"))?;
        session
            .send((n * 2).to_string())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[tokio::test]
async fn question_mark_returns_the_error_from_the_handler_which_closes_1011() {
    let server = serve(|app| routing!(app, double)).await;
    let mut client = connect(server.local_addr(), "/double").await;
    send_text(&mut client, "21").await;
    assert_eq!(next_text(&mut client).await, "42");
    send_text(&mut client, "x").await;
    assert_eq!(close_of(&mut client).await.0, 1011);
    drop(client);
    server.shutdown().await;
}

// ----- nested receive loops, patterns, shadowing -----

#[web_socket("/nested")]
async fn nested(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        if text != "begin" {
            session.send(format!("single {text}")).await?;
            continue;
        }
        let mut parts = Vec::new();
        for Frame::Text(part) in session.incoming {
            if part == "end" {
                break; // leaves the inner loop only
            }
            parts.push(part.to_string());
        }
        session.send(format!("block {}", parts.join("+"))).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_nested_receive_loop_takes_the_next_frames_and_its_break_is_its_own() {
    let server = serve(|app| routing!(app, nested)).await;
    let mut client = connect(server.local_addr(), "/nested").await;
    for text in ["x", "begin", "a", "b", "end", "y"] {
        send_text(&mut client, text).await;
    }
    assert_eq!(next_text(&mut client).await, "single x");
    assert_eq!(next_text(&mut client).await, "block a+b");
    assert_eq!(next_text(&mut client).await, "single y");
    drop(client);
    server.shutdown().await;
}

#[web_socket("/texts")]
async fn texts_only(session: WebSocketSession) -> Result<()> {
    // A refutable pattern: frames that do not match are skipped.
    for Frame::Text(text) in session.incoming {
        session.send(format!("text {text}")).await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_refutable_pattern_skips_the_frames_it_does_not_match() {
    let server = serve(|app| routing!(app, texts_only)).await;
    let mut client = connect(server.local_addr(), "/texts").await;
    send_binary(&mut client, b"not text").await;
    send_text(&mut client, "t").await;
    assert_eq!(next_text(&mut client).await, "text t");
    drop(client);
    server.shutdown().await;
}

#[web_socket("/shadow")]
async fn shadow(session: WebSocketSession) -> Result<()> {
    let frame = "outer frame";
    let text = 7;
    for frame in session.incoming {
        let Frame::Text(t) = frame else { continue };
        let frame = format!("inner {t}");
        session.send(frame).await?;
        break;
    }
    // The loop's bindings ended with the loop.
    session.send(format!("{frame} {text}")).await?;
    Ok(())
}

#[tokio::test]
async fn loop_bindings_shadow_outer_names_only_inside_the_loop() {
    let server = serve(|app| routing!(app, shadow)).await;
    let mut client = connect(server.local_addr(), "/shadow").await;
    send_text(&mut client, "a").await;
    assert_eq!(next_text(&mut client).await, "inner a");
    assert_eq!(next_text(&mut client).await, "outer frame 7");
    drop(client);
    server.shutdown().await;
}

// ----- sources: parts, method calls, spawned tasks -----

#[web_socket("/parts")]
async fn parts(incoming: Incoming, outgoing: Outgoing) -> Result<()> {
    for mut frame in incoming {
        if let Frame::Text(text) = &frame {
            frame = Frame::text(text.to_uppercase());
        }
        outgoing.send(frame).await?;
    }
    Ok(())
}

#[tokio::test]
async fn incoming_and_outgoing_parts_echo_text_and_binary_as_they_came() {
    let server = serve(|app| routing!(app, parts)).await;
    let mut client = connect(server.local_addr(), "/parts").await;
    send_text(&mut client, "abc").await;
    assert_eq!(next_text(&mut client).await, "ABC");
    send_binary(&mut client, b"\x00\xff").await;
    match next(&mut client).await {
        Some(Message::Binary(bytes)) => assert_eq!(&bytes[..], b"\x00\xff"),
        other => panic!("expected the binary message back, got {other:?}"),
    }
    drop(client);
    server.shutdown().await;
}

struct Conversation {
    session: WebSocketSession,
    prefix: &'static str,
}

impl Conversation {
    fn incoming(&self) -> &Incoming {
        &self.session.incoming
    }
}

#[web_socket("/method")]
async fn method_source(session: WebSocketSession) -> Result<()> {
    let conversation = Conversation {
        session,
        prefix: "via method",
    };
    for frame in conversation.incoming() {
        let Frame::Text(text) = frame else { continue };
        conversation
            .session
            .send(format!("{} {text}", conversation.prefix))
            .await?;
    }
    Ok(())
}

#[web_socket("/spawned")]
async fn spawned(incoming: Incoming, outgoing: Outgoing) -> Result<()> {
    // The loop works in an async block moved to another task.
    let reader = tokio::spawn(async move {
        let mut count = 0;
        for Frame::Text(text) in incoming {
            count += 1;
            if text == "done" {
                break;
            }
        }
        count
    });
    let count = reader
        .await
        .map_err(|e| Error::Convert(ws::ConvertError::new(e.to_string())))?;
    outgoing.send(format!("{count} texts")).await
}

#[tokio::test]
async fn the_source_may_be_a_method_call_or_live_in_a_spawned_task() {
    let server = serve(|app| routing!(app, method_source, spawned)).await;
    let mut client = connect(server.local_addr(), "/method").await;
    send_text(&mut client, "hi").await;
    assert_eq!(next_text(&mut client).await, "via method hi");
    drop(client);

    let mut client = connect(server.local_addr(), "/spawned").await;
    for text in ["a", "b", "done"] {
        send_text(&mut client, text).await;
    }
    assert_eq!(next_text(&mut client).await, "3 texts");
    drop(client);
    server.shutdown().await;
}

// ----- the chat sample: State<Connections<_>> -----

static LAST_ID: AtomicUsize = AtomicUsize::new(0);

#[web_socket("/chat")]
async fn chat(
    session: WebSocketSession,
    State(connections): State<Connections<String>>,
) -> Result<()> {
    let name = format!("user{}", LAST_ID.fetch_add(1, Ordering::Relaxed));
    let me = connections.join(&session, name);
    session
        .send(format!(
            "You are connected! There are {} users here.",
            connections.len()
        ))
        .await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        connections.broadcast(format!("[{}]: {text}", *me));
    }
    Ok(())
}

#[tokio::test]
async fn chat_counts_users_and_broadcasts_to_everyone() {
    let server = serve(|app| {
        app.state(Connections::<String>::new());
        routing!(app, chat);
    })
    .await;
    let mut first = connect(server.local_addr(), "/chat").await;
    assert_eq!(
        next_text(&mut first).await,
        "You are connected! There are 1 users here."
    );
    let mut second = connect(server.local_addr(), "/chat").await;
    assert_eq!(
        next_text(&mut second).await,
        "You are connected! There are 2 users here."
    );
    send_text(&mut second, "hello").await;
    assert_eq!(next_text(&mut first).await, "[user1]: hello");
    assert_eq!(next_text(&mut second).await, "[user1]: hello");
    drop((first, second));
    server.shutdown().await;
}

// ----- request extractors, subprotocols, raw routes -----

#[web_socket("/rooms/{room}/users/{id}")]
async fn room_user(
    Path((room, id)): Path<(String, u32)>,
    Query(query): Query<HashMap<String, String>>,
    outgoing: Outgoing,
) -> Result<()> {
    let name = query.get("name").map_or("nobody", String::as_str);
    outgoing.send(format!("{room} #{id} {name}")).await
}

#[tokio::test]
async fn path_and_query_extractors_read_the_request_and_refuse_bad_values() {
    let server = serve(|app| routing!(app, room_user)).await;
    let mut client = connect(server.local_addr(), "/rooms/lobby%20one/users/7?name=ann").await;
    assert_eq!(next_text(&mut client).await, "lobby one #7 ann");

    let refused = tokio_tungstenite::connect_async(format!(
        "ws://{}/rooms/lobby/users/x",
        server.local_addr()
    ))
    .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected 400 for a non-numeric id, got {other:?}"),
    }
    drop(client);
    server.shutdown().await;
}

#[web_socket("/proto", protocol = "chat.v1")]
async fn proto_v1(session: WebSocketSession) -> Result<()> {
    session
        .send(format!("v1 handler, agreed {:?}", session.protocol()))
        .await
}

#[web_socket("/proto", protocol = "chat.v2")]
async fn proto_v2(session: WebSocketSession) -> Result<()> {
    session
        .send(format!("v2 handler, agreed {:?}", session.protocol()))
        .await
}

#[tokio::test]
async fn the_protocol_option_picks_the_handler_by_subprotocol() {
    let server = serve(|app| routing!(app, proto_v1, proto_v2)).await;
    let mut request = format!("ws://{}/proto", server.local_addr())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "chat.v2".parse().expect("header value"),
    );
    let (mut client, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connects");
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "chat.v2");
    assert_eq!(
        next_text(&mut client).await,
        "v2 handler, agreed Some(\"chat.v2\")"
    );
    drop(client);
    server.shutdown().await;
}

#[web_socket_raw("/raw")]
async fn raw(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session
            .send(format!("got {:?}", frame.frame_type()))
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn a_raw_handler_receives_control_frames() {
    let server = serve(|app| routing!(app, raw)).await;
    let mut client = connect(server.local_addr(), "/raw").await;
    client
        .send(Message::Ping(b"p".to_vec().into()))
        .await
        .expect("ping");
    // Nothing answers the ping for the handler: the first message is the handler's.
    assert_eq!(next_text(&mut client).await, "got Ping");
    drop(client);
    server.shutdown().await;
}

// ----- install!, routing!, embedded_server! -----

#[tokio::test]
async fn install_limits_take_effect() {
    let server = serve(|app| {
        install!(app, WebSockets { max_frame_size = 16, outgoing_capacity = 8 });
        routing!(app, continues);
    })
    .await;
    let mut client = connect(server.local_addr(), "/continue").await;
    send_text(&mut client, "sixteen bytes ok").await;
    assert_eq!(next_text(&mut client).await, "sixteen bytes ok");
    send_text(&mut client, "seventeen bytes!!").await;
    assert_eq!(close_of(&mut client).await.0, 1009);
    drop(client);
    server.shutdown().await;
}

#[test]
fn install_literals_become_the_builder_values() {
    use std::time::Duration;
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        ping_period = 1.5s,
        timeout = 2m,
        handshake_timeout = 500ms,
        max_frame_size = 1KiB,
        max_message_size = 64MiB,
        read_buffer_size = 2KB,
        write_buffer_size = 0,
        outgoing_capacity = 3,
        incoming_capacity = 4,
        outgoing_overflow = Close,
        masking = false,
        allowed_origins = ["https://a.example"],
        extensions { Deflate { compression_level = 1, server_max_window_bits = 10 } },
    });
    let expected = WebSocketOptions::new()
        .ping_period(Duration::from_millis(1500))
        .timeout(Duration::from_secs(120))
        .handshake_timeout(Duration::from_millis(500))
        .max_frame_size(1024)
        .max_message_size(64 << 20)
        .read_buffer_size(2000)
        .write_buffer_size(0)
        .outgoing_capacity(3)
        .incoming_capacity(4)
        .outgoing_overflow(ChannelOverflow::Close)
        .masking(false)
        .allowed_origins(["https://a.example"])
        .extension(
            Deflate::new()
                .compression_level(1)
                .server_max_window_bits(10),
        );
    assert_eq!(format!("{:?}", app.options()), format!("{expected:?}"));

    let mut plain = ws::Application::new();
    install!(plain, WebSockets);
    assert_eq!(
        format!("{:?}", plain.options()),
        format!("{:?}", WebSocketOptions::new())
    );
}

#[web_socket("/same")]
async fn first_same(session: WebSocketSession) {
    let _ = session;
}

#[web_socket("/same")]
async fn second_same(session: WebSocketSession) {
    let _ = session;
}

#[tokio::test]
async fn two_handlers_on_one_path_are_a_startup_error_naming_both_and_where_they_are() {
    let error = embedded_server!(host = "127.0.0.1", port = 0, |app| routing!(
        app,
        first_same,
        second_same
    ))
    .bind()
    .await
    .expect_err("the server refuses to start");
    let message = error.to_string();
    assert!(
        message.contains("handler `first_same` (tests/it/dsl.rs:"),
        "{message}"
    );
    assert!(
        message.contains("handler `second_same` (tests/it/dsl.rs:"),
        "{message}"
    );
}

struct Missing;

#[web_socket("/needs-state")]
async fn needs_state(State(missing): State<Missing>) {
    let _ = missing;
}

#[tokio::test]
async fn state_that_was_never_installed_is_a_startup_error_naming_the_handler() {
    let error = embedded_server!(host = "127.0.0.1", port = 0, |app| routing!(
        app,
        needs_state
    ))
    .bind()
    .await
    .expect_err("the server refuses to start");
    let message = error.to_string();
    assert!(message.contains("handler `needs_state`"), "{message}");
    assert!(message.contains("Missing"), "{message}");
}

#[tokio::test]
async fn embedded_server_applies_its_keys_and_runs_the_closure() {
    let server = embedded_server!(host = "127.0.0.1", port = 0, grace_period = 1s, |app| {
        install!(app, WebSockets { ping_period = 15s });
        routing!(app, echo);
    });
    assert_eq!(server.application().routes()[0].handler_name(), "echo");
    assert!(
        server.application().routes()[0]
            .location()
            .starts_with("tests/it/dsl.rs:")
    );
    let server = server.bind().await.expect("binds");
    assert!(server.local_addr().ip().is_loopback());
    let mut client = connect(server.local_addr(), "/echo").await;
    assert_eq!(next_text(&mut client).await, "Please enter your name");
    drop(client);
    server.shutdown().await;
}
