//! `ws::test::TestApp`: the application in-process over in-memory connections, with
//! the client's API, under tokio's paused clock where timers matter (these tests
//! would take minutes of real time; each takes a fraction of a second).

use std::time::{Duration, Instant as WallClock};

use tokio::time::Instant;
use ws::client::{ClientError, ClientRequest};
use ws::extension::Deflate;
use ws::http::{Method, Request, StatusCode};
use ws::prelude::*;
use ws::test::TestApp;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

/// Answers nothing, pings included: raw sessions answer nothing by themselves.
#[web_socket_raw("/deaf")]
async fn deaf(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        if let Frame::Close(_) = frame {
            break;
        }
    }
    Ok(())
}

#[web_socket("/rooms/{room}")]
async fn room(
    session: WebSocketSession,
    Path(room): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<()> {
    let user = query.get("user").cloned().unwrap_or_default();
    session.send(format!("{user} joined {room}")).await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_servers_ping_timeout_in_paused_time() {
    let app = TestApp::new(|app| {
        install!(app, WebSockets { ping_period = 5s, timeout = 10s });
        routing!(app, echo);
    });
    // A raw client session: it receives the pings and answers none.
    let session = app
        .connect(ClientRequest::new("/echo").raw(true))
        .await
        .unwrap();
    let (started, wall) = (Instant::now(), WallClock::now());
    let mut pings = 0;
    let close = loop {
        match session.incoming.recv().await {
            Some(Frame::Ping(_)) => pings += 1,
            Some(Frame::Close(reason)) => break reason,
            other => panic!("unexpected {other:?}"),
        }
    };
    // The first ping at 5 s, no pong by 15 s.
    assert_eq!(
        close,
        Some(CloseReason::new(Codes::INTERNAL_ERROR, "Ping timeout"))
    );
    assert!(pings >= 1);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(15) && waited < Duration::from_secs(16),
        "{waited:?}"
    );
    assert!(
        wall.elapsed() < Duration::from_secs(2),
        "{:?} of real time",
        wall.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn the_clients_ping_timeout_in_paused_time() {
    let mut app = TestApp::new(|app| routing!(app, deaf));
    install!(app.client(), WebSockets { ping_period = 20s, timeout = 15s });
    let (started, wall) = (Instant::now(), WallClock::now());
    let reason = app
        .web_socket("/deaf", |session| async move {
            while session.incoming.recv().await.is_some() {}
            Ok::<_, ws::Error>(session.close_reason().await)
        })
        .await
        .unwrap();
    assert_eq!(
        reason,
        Some(CloseReason::new(Codes::INTERNAL_ERROR, "Ping timeout"))
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(35), "{waited:?}");
    assert!(wall.elapsed() < Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn pongs_keep_a_session_alive_past_many_timeouts() {
    let app = TestApp::new(|app| {
        install!(app, WebSockets { ping_period = 5s, timeout = 10s, idle_timeout = None });
        routing!(app, echo);
    });
    let session = app.connect("/echo").await.unwrap();
    // Ten minutes of paused time: the client's engine answers every ping.
    tokio::time::sleep(Duration::from_secs(600)).await;
    session.send("still here").await.unwrap();
    assert_eq!(
        session.incoming.recv().await,
        Some(Frame::text("still here"))
    );
}

#[tokio::test(start_paused = true)]
async fn the_servers_idle_timeout_in_paused_time() {
    let app = TestApp::new(|app| {
        install!(app, WebSockets { idle_timeout = 5m });
        routing!(app, echo);
    });
    let session = app.connect("/echo").await.unwrap();
    session.send("one").await.unwrap();
    assert_eq!(session.incoming.recv().await, Some(Frame::text("one")));
    let (started, wall) = (Instant::now(), WallClock::now());
    assert_eq!(session.incoming.recv().await, None);
    assert_eq!(
        session.close_reason().await,
        Some(CloseReason::new(Codes::GOING_AWAY, "Idle timeout"))
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(300) && waited <= Duration::from_secs(302),
        "{waited:?}"
    );
    assert!(wall.elapsed() < Duration::from_secs(2));
    assert_eq!(app.sessions(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_clients_idle_timeout_in_paused_time() {
    let mut app = TestApp::new(|app| {
        install!(app, WebSockets { idle_timeout = None });
        routing!(app, echo);
    });
    install!(app.client(), WebSockets { idle_timeout = 30s });
    let session = app.connect("/echo").await.unwrap();
    let started = Instant::now();
    assert_eq!(session.incoming.recv().await, None);
    assert_eq!(
        session.close_reason().await,
        Some(CloseReason::new(Codes::GOING_AWAY, "Idle timeout"))
    );
    assert!(started.elapsed() >= Duration::from_secs(30));
}

#[tokio::test]
async fn path_and_query_reach_the_handler() {
    let app = TestApp::new(|app| routing!(app, room));
    let session = app.connect("/rooms/lobby?user=ann").await.unwrap();
    assert_eq!(
        session.incoming.recv().await,
        Some(Frame::text("ann joined lobby"))
    );
    assert_eq!(session.incoming.recv().await, None);
    assert_eq!(
        session.close_reason().await.map(|r| r.code()),
        Some(Codes::NORMAL)
    );
    assert_eq!(session.uri(), "ws://localhost/rooms/lobby?user=ann");
}

#[tokio::test]
async fn http_routes_answer_with_status_headers_and_body() {
    let app = TestApp::new(|app| {
        routing!(app, echo);
        app.get("/health", |_| async { HttpResponse::text("ok") });
        app.get("/items", |req| async move {
            let query = req.uri.query().unwrap_or("").to_owned();
            HttpResponse::text(format!("items {query}")).header(
                ws::http::header::CACHE_CONTROL,
                ws::http::HeaderValue::from_static("no-store"),
            )
        });
    });
    let health = app.get("/health").await.unwrap();
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.text(), "ok");
    let item = app.get("/items?id=7").await.unwrap();
    assert_eq!(item.text(), "items id=7");
    assert_eq!(item.headers["cache-control"], "no-store");
    assert_eq!(
        app.get("/nowhere").await.unwrap().status,
        StatusCode::NOT_FOUND
    );
    let post = Request::builder()
        .method(Method::POST)
        .uri("/health")
        .body(ws::Bytes::from_static(b"x"))
        .unwrap();
    let refused = app.request(post).await.unwrap();
    assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.headers["allow"], "GET");
    // A plain GET on the WebSocket route: 400 with the reason.
    let plain = app.get("/echo").await.unwrap();
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert!(plain.text().contains("Upgrade"), "{}", plain.text());
}

#[tokio::test]
async fn refusals_and_deflate_through_the_test_host() {
    let mut app = TestApp::new(|app| {
        install!(app, WebSockets { extensions { Deflate } });
        routing!(app, echo);
    });
    let e = app.connect("/missing").await.unwrap_err();
    assert_eq!(
        e.handshake().map(|h| h.status()),
        Some(StatusCode::NOT_FOUND)
    );
    app.client()
        .install(WebSocketOptions::new().extension(Deflate::new()));
    let text = "deflate over a duplex ".repeat(1000);
    let expected = text.clone();
    let (extensions, back) = app
        .web_socket("/echo", |session| async move {
            session.send(text).await?;
            Ok::<_, ws::Error>((session.extensions().to_vec(), session.incoming.recv().await))
        })
        .await
        .unwrap();
    assert_eq!(extensions, ["permessage-deflate"]);
    assert_eq!(back, Some(Frame::text(expected)));
    let failed = app
        .web_socket("/echo", |_| async { Err::<(), _>("handler error") })
        .await;
    assert!(matches!(failed, Err(ClientError::Handler(_))));
}

#[tokio::test(start_paused = true)]
async fn shutdown_says_going_away_to_every_session() {
    let app = TestApp::from_server(embedded_server!(grace_period = 2s, |app| routing!(
        app, echo
    )));
    let sessions = [
        app.connect("/echo").await.unwrap(),
        app.connect("/echo").await.unwrap(),
    ];
    assert_eq!(app.sessions(), 2);
    app.shutdown().await;
    for session in &sessions {
        assert_eq!(session.incoming.recv().await, None);
        assert_eq!(
            session.close_reason().await.map(|r| r.code()),
            Some(Codes::GOING_AWAY)
        );
    }
    assert_eq!(app.sessions(), 0);
}

#[test]
fn a_bad_configuration_is_an_error_or_a_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let zero = || WebSocketOptions::new().timeout(Duration::ZERO);
    let e = TestApp::try_from_server(EmbeddedServer::new().configure(|app| {
        app.install(zero());
    }))
    .unwrap_err();
    assert!(e.to_string().contains("timeout"), "{e}");
    let panic = std::panic::catch_unwind(|| {
        TestApp::new(|app| {
            app.install(zero());
        })
    });
    assert!(panic.is_err());
}
