//! The README's axum sample.
#![deny(warnings)]
use std::net::SocketAddr;
use ws::prelude::*;
use ws::{RouterExt, WebSocketUpgrade};

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

// An axum handler with axum's extractors; its session runs on ws's engine.
async fn greet(
    axum::extract::Path(name): axum::extract::Path<String>,
    upgrade: WebSocketUpgrade,
) -> impl axum::response::IntoResponse {
    upgrade
        .on_upgrade(move |session: WebSocketSession| async move {
            session.send(format!("Hello {name}")).await
        })
        .await
}

/// The README's `main`, compiled, not run (it would serve until killed).
#[allow(dead_code)]
async fn serve() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut app = Application::new();
    install!(app, WebSockets { ping_period = 15s, max_frame_size = 1MiB });
    routing!(app, echo);
    let ws = app.into_service()?;
    let router = axum::Router::new()
        .route("/greet/{name}", axum::routing::get(greet))
        .with_state(ws.clone()) // WebSocketUpgrade takes the AppService from the state
        .nest_service("/ws", ws.clone()) // ws://host/ws/echo
        .web_sockets(ws); // ws://host/echo: each of the app's paths as an axum route
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

fn main() {}
