//! A `ws` application inside an axum app (feature `axum`): axum serves its own routes
//! (`/`, `/visits`) and mounts the `ws` application twice over, nested under `/ws` and
//! at its own paths, with state the two share.
//!
//! - `ws://HOST/ws/echo` and `ws://HOST/echo`: the echo handler (`Router::nest_service`
//!   strips the `/ws` prefix; `RouterExt::web_sockets` routes each of the app's paths);
//! - `ws://HOST/ws/room/{name}`: greets the room, then echoes; every session counts as
//!   a visit in the state axum's `/visits` reads;
//! - `ws://HOST/greet/{name}`: an axum handler, with axum's `State` and `Path`
//!   extractors, that upgrades with `ws::WebSocketUpgrade` and runs its session on
//!   `ws`'s engine (the `AppService` in the router's state gives the options);
//! - `http://HOST/`: an axum handler; `http://HOST/ws/health`: a `ws` HTTP route.
//!
//! Run it and try it:
//!
//! ```text
//! cargo run --example axum                 # port 8080; or -- --port 9000, or PORT=9000
//! cargo run --example client -- ws://127.0.0.1:8080/ws/echo
//! cargo run --example client -- ws://127.0.0.1:8080/ws/room/lobby
//! cargo run --example client -- ws://127.0.0.1:8080/greet/ada
//! curl localhost:8080/visits               # 2 visits (axum reads the ws app's count)
//! ```
//!
//! The sessions run on `ws`'s engine (its options, limits and close codes), handed over
//! by axum through hyper's upgrade; axum owns the listener. Ctrl-C shuts axum down
//! gracefully and closes every session with 1001.

// ws-new: template
// ws-new: ws-features axum
// ws-new: deps axum
// ws-new: test /ws/room/lobby "Welcome to lobby"
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{FromRef, Path as AxumPath, State as AxumState};
use axum::response::IntoResponse;
use axum::routing::get;
use ws::prelude::*;
use ws::{AppService, RouterExt, WebSocketUpgrade};

/// What both sides share: axum's state and the `ws` application's.
#[derive(Default)]
struct Visits(AtomicU64);

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

#[web_socket("/room/{name}")]
async fn room(
    session: WebSocketSession,
    Path(name): Path<String>,
    State(visits): State<Visits>,
) -> Result<()> {
    let n = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
    session
        .send(format!("Welcome to {name}, visit {n}"))
        .await?;
    for frame in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

/// The router's state: the `ws` application (for `WebSocketUpgrade`) and the visits.
#[derive(Clone)]
struct AppState {
    ws: AppService,
    visits: Arc<Visits>,
}

impl FromRef<AppState> for AppService {
    fn from_ref(state: &AppState) -> Self {
        state.ws.clone()
    }
}

impl FromRef<AppState> for Arc<Visits> {
    fn from_ref(state: &AppState) -> Self {
        state.visits.clone()
    }
}

/// An axum handler with axum's extractors, whose session runs on `ws`'s engine.
async fn greet(
    AxumState(visits): AxumState<Arc<Visits>>,
    AxumPath(name): AxumPath<String>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    upgrade
        .on_upgrade(move |session: WebSocketSession| async move {
            let n = visits.0.fetch_add(1, Ordering::Relaxed) + 1;
            session.send(format!("Hello {name}, visit {n}")).await?;
            while let Some(frame) = session.incoming.recv().await {
                session.send(frame).await?;
            }
            Ok::<(), ws::Error>(())
        })
        .await
}

/// The `ws` application, as a tower service.
fn ws_app(visits: Arc<Visits>) -> std::result::Result<AppService, ServerError> {
    let mut app = Application::new();
    install!(app, WebSockets {
        ping_period = 15s,
        timeout = 15s,
        max_frame_size = 1MiB,
    });
    app.state_arc(visits);
    routing!(app, echo, room);
    app.get("/health", |_| async { HttpResponse::text("ok") });
    app.into_service()
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let visits = Arc::new(Visits::default());
    let service = ws_app(visits.clone())?;
    let router = Router::new()
        .route("/", get(|| async { "an axum app; WebSockets at /ws/echo" }))
        .route(
            "/visits",
            get(|AxumState(visits): AxumState<Arc<Visits>>| async move {
                format!("{} visits\n", visits.0.load(Ordering::Relaxed))
            }),
        )
        .route("/greet/{name}", get(greet))
        .with_state(AppState {
            ws: service.clone(),
            visits,
        })
        .nest_service("/ws", service.clone())
        .web_sockets(service.clone());

    let listener = tokio::net::TcpListener::bind(("0.0.0.0", common::port())).await?;
    println!("Listening on http://{}", listener.local_addr()?);
    let sessions = service.handle();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        // axum stops accepting; the upgraded sessions are ws's to close (1001).
        sessions.shutdown().await;
    })
    .await?;
    Ok(())
}
