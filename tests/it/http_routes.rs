//! Plain HTTP routes written with `#[get]`, `#[post]`, `#[delete]`: extractors, JSON
//! both ways, guards and their answers, over loopback with a raw HTTP/1.1 client.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use ws::prelude::*;

use crate::support::*;

/// One HTTP/1.1 request on a new connection (off the runtime's thread): the status
/// code, the headers (lowercase names) and the body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: Vec<u8>,
) -> (u16, String, String) {
    let (method, path, headers) = (method.to_string(), path.to_string(), headers.to_string());
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .expect("connects for HTTP");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("head");
        // The server may answer (413) before the whole body is written.
        let _ = stream.write_all(&body);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, head.to_ascii_lowercase(), body.to_string())
    })
    .await
    .expect("the request thread")
}

#[derive(Default)]
struct Rooms(Mutex<Vec<String>>);

#[derive(serde::Deserialize)]
struct NewRoom {
    name: String,
}

#[derive(serde::Serialize)]
struct Created {
    name: String,
    rooms: usize,
}

#[derive(serde::Deserialize)]
struct Page {
    limit: usize,
}

#[get("/rooms")]
async fn list(State(rooms): State<Rooms>, page: Option<Query<Page>>) -> HttpResponse {
    let rooms = rooms.0.lock().unwrap();
    let limit = page.map_or(usize::MAX, |p| p.limit);
    HttpResponse::json(&rooms.iter().take(limit).collect::<Vec<_>>())
}

#[post("/rooms")]
async fn create(
    State(rooms): State<Rooms>,
    Json(new): Json<NewRoom>,
) -> (StatusCode, Json<Created>) {
    let mut list = rooms.0.lock().unwrap();
    list.push(new.name.clone());
    (
        StatusCode::CREATED,
        Json(Created {
            name: new.name,
            rooms: list.len(),
        }),
    )
}

#[get("/rooms/{index}")]
async fn room(Path(index): Path<usize>, State(rooms): State<Rooms>) -> Result<String, StatusCode> {
    rooms
        .0
        .lock()
        .unwrap()
        .get(index)
        .cloned()
        .ok_or(StatusCode::NOT_FOUND)
}

struct Admin(String);

async fn admin_only(req: &HandshakeRequest<'_>) -> std::result::Result<Admin, Rejection> {
    match req.header("authorization") {
        Some("Bearer root") => Ok(Admin("root".into())),
        _ => Err(Rejection::unauthorized(
            "Bearer",
            "an admin token is needed",
        )),
    }
}

#[delete("/rooms")]
async fn clear(
    State(rooms): State<Rooms>,
    Principal(admin): Principal<Admin>,
    addr: RemoteAddr,
) -> String {
    rooms.0.lock().unwrap().clear();
    format!("cleared by {} from {}", admin.0, addr.0.ip())
}

/// The same path as a WebSocket route: an upgrade goes there, a plain GET to HTTP.
#[web_socket("/live")]
async fn live(session: WebSocketSession) -> Result<()> {
    session.send("live").await?;
    Ok(())
}

#[get("/live")]
async fn live_page(Query(q): Query<std::collections::HashMap<String, String>>) -> String {
    format!("live page {}", q.get("x").map_or("-", String::as_str))
}

#[tokio::test]
async fn http_handlers_take_extractors_and_answer_json() {
    let server = embedded_server!(host = "127.0.0.1", port = 0, |app| {
        app.state(Rooms::default());
        routing!(app, list, create, room, authenticate(admin_only) { clear }, live, live_page);
    })
    .bind()
    .await
    .expect("binds");
    let addr = server.local_addr();

    let (status, head, body) = request(addr, "GET", "/rooms", "", Vec::new()).await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    assert!(head.contains("content-type: application/json"), "{head}");

    for name in ["lobby", "games"] {
        let json = format!(r#"{{"name":"{name}"}}"#).into_bytes();
        let (status, head, body) = request(addr, "POST", "/rooms", "", json).await;
        assert_eq!(status, 201, "{body}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(
            body.starts_with(&format!(r#"{{"name":"{name}","rooms":"#)),
            "{body}"
        );
    }
    let (_, _, body) = request(addr, "GET", "/rooms", "", Vec::new()).await;
    assert_eq!(body, r#"["lobby","games"]"#);
    let (_, _, body) = request(addr, "GET", "/rooms?limit=1", "", Vec::new()).await;
    assert_eq!(body, r#"["lobby"]"#);
    assert_eq!(
        request(addr, "GET", "/rooms/1", "", Vec::new()).await.2,
        "games"
    );
    assert_eq!(
        request(addr, "GET", "/rooms/7", "", Vec::new()).await.0,
        404
    );

    // Bad input, each with its defined answer.
    let (status, _, body) = request(addr, "GET", "/rooms/abc", "", Vec::new()).await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = request(addr, "POST", "/rooms", "", b"{\"nom\":1}".to_vec()).await;
    assert_eq!(status, 400);
    assert!(body.contains("missing field `name`"), "{body}");
    let (status, _, _) = request(addr, "POST", "/rooms", "", vec![b' '; (1 << 20) + 1]).await;
    assert_eq!(status, 413);
    let (status, head, _) = request(addr, "PUT", "/rooms", "", Vec::new()).await;
    assert_eq!(status, 405);
    assert!(head.contains("allow: get, post, delete"), "{head}");

    // The guard answers for the route; its principal reaches the handler.
    let (status, head, _) = request(addr, "DELETE", "/rooms", "", Vec::new()).await;
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    let auth = "Authorization: Bearer root\r\n";
    let (status, _, body) = request(addr, "DELETE", "/rooms", auth, Vec::new()).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "cleared by root from 127.0.0.1")
    );
    assert_eq!(request(addr, "GET", "/rooms", "", Vec::new()).await.2, "[]");

    // One path, both kinds of route.
    assert_eq!(
        request(addr, "GET", "/live?x=1", "", Vec::new()).await.2,
        "live page 1"
    );
    let mut client = connect(addr, "/live").await;
    assert_eq!(next_text(&mut client).await, "live");
    drop(client);
    server.shutdown().await;
}

#[get("/needs-state")]
async fn needs_state(State(rooms): State<Rooms>) -> String {
    rooms.0.lock().unwrap().len().to_string()
}

#[tokio::test]
async fn an_http_handler_without_its_state_stops_the_server() {
    let err = embedded_server!(host = "127.0.0.1", port = 0, |app| {
        routing!(app, needs_state);
    })
    .bind()
    .await
    .expect_err("the state is missing");
    let message = err.to_string();
    assert!(message.contains("needs_state"), "{message}");
    assert!(message.contains("Rooms"), "{message}");
}

#[get("/count")]
async fn count_a() -> &'static str {
    "a"
}

#[get("/count")]
async fn count_b() -> &'static str {
    "b"
}

#[tokio::test]
async fn two_http_routes_for_one_method_and_path_stop_the_server() {
    let err = embedded_server!(host = "127.0.0.1", port = 0, |app| {
        routing!(app, count_a, count_b);
        // Another method on the same path is no duplicate.
        app.http(ws::http::Method::POST, "/count", |_| async {
            HttpResponse::text("posted")
        });
    })
    .bind()
    .await
    .expect_err("a duplicate route");
    let message = err.to_string();
    assert!(
        message.contains("two HTTP routes for `GET /count`"),
        "{message}"
    );
    assert!(
        message.contains("count_a") && message.contains("count_b"),
        "{message}"
    );
    assert!(!message.contains("POST"), "{message}");
}
