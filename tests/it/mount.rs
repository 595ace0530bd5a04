//! A `ws` application mounted in axum (feature `axum`), over loopback: an axum server
//! in the test and the `axum` example, each talked to by tokio-tungstenite.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as TCode;
use ws::{
    AppService, Application, HttpResponse, Route, RouterExt, WebSocketOptions, WebSocketSession,
};

use crate::support::*;

/// A blocking HTTP GET off the runtime's thread (the server runs on it): status line
/// and body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || crate::support::http_get_status(addr, &path))
        .await
        .expect("the request thread")
}

fn app() -> AppService {
    let mut app = Application::new();
    app.install(WebSocketOptions::new().max_frame_size(1024));
    app.route(Route::new(
        "/echo",
        |session: WebSocketSession| async move {
            while let Some(frame) = session.incoming.recv().await {
                session.send(frame).await?;
            }
            Ok::<(), ws::Error>(())
        },
    ));
    app.route(Route::new(
        "/whoami",
        |session: WebSocketSession| async move {
            session.send(session.remote_addr().ip().to_string()).await?;
            session.incoming.recv().await;
            Ok::<(), ws::Error>(())
        },
    ));
    app.get("/health", |_| async { HttpResponse::text("ok") });
    app.into_service().expect("the application is valid")
}

/// An axum server on a free loopback port with the application nested under `/ws`
/// and routed at its own paths.
async fn serve_axum(service: AppService) -> SocketAddr {
    let router = axum::Router::new()
        .route("/", axum::routing::get(|| async { "axum" }))
        .nest_service("/ws", service.clone())
        .web_sockets(service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

#[tokio::test]
async fn an_app_nested_in_axum_serves_sessions_on_its_engine() {
    let service = app();
    let addr = serve_axum(service.clone()).await;

    // Nested under /ws (axum strips the prefix) and at its own path.
    for path in ["/ws/echo", "/echo"] {
        let mut client = connect(addr, path).await;
        send_text(&mut client, "hi").await;
        assert_eq!(next_text(&mut client).await, "hi");
        client.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
        assert_eq!(
            next(&mut client).await,
            Some(Message::binary(vec![1u8, 2, 3]))
        );
        // The app's own limits hold: a frame over max_frame_size closes with 1009.
        client.send(Message::binary(vec![0u8; 4096])).await.unwrap();
        match next(&mut client).await {
            Some(Message::Close(Some(frame))) => assert_eq!(frame.code, TCode::Size),
            other => panic!("expected a 1009 close, got {other:?}"),
        }
    }

    // The client's address comes from axum's ConnectInfo.
    let mut client = connect(addr, "/ws/whoami").await;
    assert_eq!(next_text(&mut client).await, "127.0.0.1");
    drop(client);

    // HTTP: the app's route, its answers for a bad handshake and an unknown path, and
    // axum's own routes beside it.
    assert_eq!(
        get(addr, "/ws/health").await,
        ("HTTP/1.1 200 OK".into(), "ok".into())
    );
    assert_eq!(get(addr, "/health").await.1, "ok");
    let (status, body) = get(addr, "/ws/echo").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("this is a WebSocket endpoint"), "{body}");
    assert_eq!(get(addr, "/ws/nope").await.0, "HTTP/1.1 404 Not Found");
    assert_eq!(get(addr, "/").await.1, "axum");
    // A path the app does not route is axum's 404 (an empty body), not the app's.
    assert_eq!(
        get(addr, "/nope").await,
        ("HTTP/1.1 404 Not Found".into(), String::new())
    );
}

#[tokio::test]
async fn the_handle_shuts_mounted_sessions_down_with_1001() {
    let service = app();
    let addr = serve_axum(service.clone()).await;
    let mut client = connect(addr, "/ws/echo").await;
    send_text(&mut client, "hi").await;
    assert_eq!(next_text(&mut client).await, "hi");
    assert_eq!(service.handle().sessions(), 1);
    let handle = service.handle();
    let shutdown = tokio::spawn(async move { handle.shutdown().await });
    match next(&mut client).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, TCode::Away),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    drop(client);
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown ends once the session has closed")
        .unwrap();
    assert_eq!(service.handle().sessions(), 0);
    // After shutdown, a new request is refused with 503.
    assert_eq!(
        get(addr, "/ws/echo").await.0,
        "HTTP/1.1 503 Service Unavailable"
    );
}

#[tokio::test]
async fn axum_example_serves_ws_routes_and_shares_state() {
    let server = start("axum");
    let mut client = connect(server.addr, "/ws/room/lobby").await;
    assert_eq!(next_text(&mut client).await, "Welcome to lobby, visit 1");
    send_text(&mut client, "hello").await;
    assert_eq!(next_text(&mut client).await, "hello");
    // axum's handler reads the state the ws handler counted in.
    assert_eq!(http_get(server.addr, "/visits"), "1 visits\n");
    let mut echo = connect(server.addr, "/echo").await;
    echo.send(Message::text("x")).await.unwrap();
    assert_eq!(echo.next().await.unwrap().unwrap(), Message::text("x"));
    assert_eq!(http_get(server.addr, "/ws/health"), "ok");
    // An axum handler with axum's State and Path, upgraded by ws::WebSocketUpgrade.
    let mut greet = connect(server.addr, "/greet/ada").await;
    assert_eq!(next_text(&mut greet).await, "Hello ada, visit 2");
    send_text(&mut greet, "again").await;
    assert_eq!(next_text(&mut greet).await, "again");
    assert_eq!(http_get(server.addr, "/visits"), "2 visits\n");
    // Not an upgrade: the extractor refuses it with ws's 400.
    let refused = http_get(server.addr, "/greet/ada");
    assert!(
        refused.contains("this is a WebSocket endpoint"),
        "{refused}"
    );
}

/// `WebSocketUpgrade` in an in-test axum router: the app's options and limits apply,
/// a required subprotocol is negotiated, and a client without it gets 400.
#[tokio::test]
async fn an_axum_handler_upgrades_with_the_apps_options() {
    use axum::extract::{FromRef, Path};
    #[derive(Clone)]
    struct St(AppService);
    impl FromRef<St> for AppService {
        fn from_ref(state: &St) -> Self {
            state.0.clone()
        }
    }
    async fn chat(
        Path(room): Path<String>,
        upgrade: ws::WebSocketUpgrade,
    ) -> impl axum::response::IntoResponse {
        upgrade
            .protocol("chat.v1")
            .on_upgrade(move |session: WebSocketSession| async move {
                let protocol = session.protocol().unwrap_or("none").to_string();
                session.send(format!("{room} over {protocol}")).await?;
                while let Some(frame) = session.incoming.recv().await {
                    session.send(frame).await?;
                }
                Ok::<(), ws::Error>(())
            })
            .await
    }
    let service = app();
    let router = axum::Router::new()
        .route("/chat/{room}", axum::routing::get(chat))
        .with_state(St(service.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/chat/lobby")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "x, chat.v1".parse().unwrap());
    let (mut client, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
    assert_eq!(next_text(&mut client).await, "lobby over chat.v1");
    assert_eq!(service.handle().sessions(), 1);
    // max_frame_size of the app (1024): 1009.
    client.send(Message::binary(vec![0u8; 4096])).await.unwrap();
    match next(&mut client).await {
        Some(Message::Close(Some(frame))) => assert_eq!(frame.code, TCode::Size),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    // Without the subprotocol: 400, no session.
    match tokio_tungstenite::connect_async(format!("ws://{addr}/chat/lobby")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400)
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    // A target axum routes here but RFC 3986 does not allow (`{`, `}` raw): 400 from
    // the handshake.
    let bad = crate::raw::upgrade_request("/chat/lob{by}", "Sec-WebSocket-Protocol: chat.v1\r\n");
    let reply = crate::raw::RawClient::handshake(addr, bad.as_bytes())
        .await
        .reply;
    assert_eq!(reply.status, 400, "{}", reply.head);
    assert!(reply.body.contains("RFC 3986"), "{}", reply.body);
}
