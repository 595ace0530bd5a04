//! Peer servers for the benchmark, written the way each crate's users write them (each
//! close to that crate's own echo/chat example).
//!
//! ```sh
//! peers NAME PORT     # NAME: tt-naive tt-batched axum fastwebsockets tokio-websockets
//! ```
//!
//! Each serves `/echo` (text back as text, binary as binary); `tt-*` and `axum` also serve
//! `/chat` (every text message goes to every connected `/chat` client, sender included).
//! Every peer sets `TCP_NODELAY` on accepted sockets, as `ws` does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // `peers NAME PORT` or `peers NAME --port PORT` (as ws's examples take it).
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--port").collect();
    let (Some(name), Some(port)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: peers NAME PORT (NAME: tt-naive tt-batched axum fastwebsockets tokio-websockets)"
        );
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT is a number");
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("Listening on http://{}", listener.local_addr()?);
    match name.as_str() {
        "tt-naive" => tt::serve(listener, false).await,
        "tt-batched" => tt::serve(listener, true).await,
        "axum" => axum_peer::serve(listener).await,
        "fastwebsockets" => fws::serve(listener).await,
        "tokio-websockets" => tws::serve(listener).await,
        other => {
            eprintln!("unknown peer {other:?}");
            std::process::exit(2);
        }
    }
}

async fn accept(listener: &TcpListener) -> std::io::Result<(TcpStream, SocketAddr)> {
    let (tcp, addr) = listener.accept().await?;
    tcp.set_nodelay(true)?;
    Ok((tcp, addr))
}

/// tokio-tungstenite, after its own `server.rs` / `echo-server.rs` examples.
///
/// Naive: `send` (write + flush) per message. Batched: `feed` every message that is
/// ready, then one `flush`.
mod tt {
    use super::*;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

    type Peers = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

    pub(crate) async fn serve(listener: TcpListener, batched: bool) -> std::io::Result<()> {
        let peers = Peers::default();
        let ids = Arc::new(AtomicU64::new(0));
        loop {
            let (tcp, _) = accept(&listener).await?;
            let peers = peers.clone();
            let id = ids.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut path = String::new();
                // The error type is tungstenite's, not ours to shrink.
                #[allow(clippy::result_large_err)]
                let callback = |request: &Request, response: Response| {
                    path = request.uri().path().to_owned();
                    Ok(response)
                };
                let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                    return;
                };
                match (path.as_str(), batched) {
                    ("/chat", _) => chat(ws, id, peers, batched).await,
                    (_, false) => echo_naive(ws).await,
                    (_, true) => echo_batched(ws).await,
                }
            });
        }
    }

    type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

    async fn echo_naive(mut ws: Ws) {
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    }

    async fn echo_batched(mut ws: Ws) {
        while let Some(Ok(msg)) = ws.next().await {
            let mut next = Some(msg);
            while let Some(msg) = next.take() {
                if (msg.is_text() || msg.is_binary()) && ws.feed(msg).await.is_err() {
                    return;
                }
                // Everything already received goes into the same flush.
                if let Some(Some(Ok(msg))) = ws.next().now_or_never() {
                    next = Some(msg);
                }
            }
            if ws.flush().await.is_err() {
                break;
            }
        }
    }

    fn broadcast(peers: &Peers, msg: Message) {
        for tx in peers.lock().unwrap().values() {
            let _ = tx.send(msg.clone());
        }
    }

    /// One unbounded channel and one writer task per client; the writer `send`s each
    /// message (naive) or `feed`s all that are queued and flushes once (batched).
    async fn chat(ws: Ws, id: u64, peers: Peers, batched: bool) {
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        peers.lock().unwrap().insert(id, tx);
        let writer = tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                if !batched {
                    if sink.send(msg).await.is_err() {
                        return;
                    }
                    continue;
                }
                if sink.feed(msg).await.is_err() {
                    return;
                }
                while let Ok(msg) = rx.try_recv() {
                    if sink.feed(msg).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        });
        while let Some(Ok(msg)) = stream.next().await {
            if msg.is_text() {
                broadcast(&peers, msg);
            }
        }
        peers.lock().unwrap().remove(&id);
        writer.abort();
    }
}

/// axum 0.8 `ws`, after axum's `websockets` and `chat` examples (the chat example's
/// `tokio::sync::broadcast` channel).
mod axum_peer {
    use super::*;
    use axum::Router;
    use axum::extract::State;
    use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
    use axum::response::Response;
    use axum::routing::any;
    use tokio::sync::broadcast;

    pub(crate) async fn serve(listener: TcpListener) -> std::io::Result<()> {
        let (tx, _) = broadcast::channel::<Utf8Bytes>(1024);
        let app = Router::new()
            .route("/echo", any(echo))
            .route("/chat", any(chat))
            .with_state(tx);
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await
    }

    async fn echo(ws: WebSocketUpgrade) -> Response {
        ws.on_upgrade(|mut socket: WebSocket| async move {
            while let Some(Ok(msg)) = socket.recv().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
                if matches!(msg, Message::Text(_) | Message::Binary(_))
                    && socket.send(msg).await.is_err()
                {
                    break;
                }
            }
        })
    }

    async fn chat(
        ws: WebSocketUpgrade,
        State(tx): State<broadcast::Sender<Utf8Bytes>>,
    ) -> Response {
        ws.on_upgrade(move |socket: WebSocket| async move {
            let (mut sender, mut receiver) = socket.split();
            let mut rx = tx.subscribe();
            let mut send_task = tokio::spawn(async move {
                while let Ok(msg) = rx.recv().await {
                    if sender.send(Message::Text(msg)).await.is_err() {
                        break;
                    }
                }
            });
            let mut recv_task = tokio::spawn(async move {
                while let Some(Ok(Message::Text(text))) = receiver.next().await {
                    let _ = tx.send(text);
                }
            });
            tokio::select! {
                _ = &mut send_task => recv_task.abort(),
                _ = &mut recv_task => send_task.abort(),
            }
        })
    }
}

/// fastwebsockets with its `upgrade` feature over hyper, after its `echo_server` example.
mod fws {
    use super::*;
    use bytes::Bytes;
    use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
    use http_body_util::Empty;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response, StatusCode};
    use hyper_util::rt::TokioIo;

    pub(crate) async fn serve(listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (tcp, _) = accept(&listener).await?;
            tokio::spawn(async move {
                let io = TokioIo::new(tcp);
                let _ = http1::Builder::new()
                    .serve_connection(io, service_fn(upgrade_echo))
                    .with_upgrades()
                    .await;
            });
        }
    }

    async fn upgrade_echo(
        mut req: Request<Incoming>,
    ) -> Result<Response<Empty<Bytes>>, WebSocketError> {
        if req.uri().path() != "/echo" {
            let mut response = Response::new(Empty::new());
            *response.status_mut() = StatusCode::NOT_FOUND;
            return Ok(response);
        }
        let (response, fut) = upgrade::upgrade(&mut req)?;
        tokio::spawn(async move {
            let _ = echo(fut).await;
        });
        Ok(response)
    }

    async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
        let mut ws = FragmentCollector::new(fut.await?);
        loop {
            let frame = ws.read_frame().await?;
            match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// tokio-websockets, after its `echo_server` example.
mod tws {
    use super::*;
    use tokio_websockets::ServerBuilder;

    pub(crate) async fn serve(listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (tcp, _) = accept(&listener).await?;
            tokio::spawn(async move {
                let Ok((_request, mut ws)) = ServerBuilder::new().accept(tcp).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    }
}
