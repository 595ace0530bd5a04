//! Every HTTP extractor and return type, routed beside a WebSocket handler.
use ws::prelude::*;

struct Rooms;
struct User;

#[derive(serde::Deserialize)]
struct Page {
    limit: usize,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Msg {
    text: String,
}

async fn auth(_req: &HandshakeRequest<'_>) -> std::result::Result<User, Rejection> {
    Ok(User)
}

#[get("/rooms/{id}/{name}")]
async fn every(
    Path((id, name)): Path<(u32, String)>,
    page: Option<Query<Page>>,
    headers: Headers,
    State(rooms): State<Rooms>,
    addr: RemoteAddr,
    head: HttpRequest,
    Principal(user): Principal<User>,
) -> HttpResponse {
    let _ = (id, name, page.map(|p| p.limit), headers, rooms, addr, head.uri, user);
    HttpResponse::json(&[1, 2, 3])
}

#[post("/messages", guard = auth)]
async fn post_json(Json(msg): Json<Msg>) -> (StatusCode, Json<Msg>) {
    (StatusCode::CREATED, Json(msg))
}

#[put("/raw")]
async fn put_bytes(body: ws::Bytes) -> Result<String, StatusCode> {
    Ok(body.len().to_string())
}

#[patch("/text")]
async fn patch_text(body: String) -> String {
    body
}

#[delete("/all")]
async fn delete_all() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[get("/refuse")]
async fn refuse() -> Result<&'static str, Rejection> {
    Err(Rejection::forbidden("no"))
}

#[web_socket("/rooms/{id}/{name}")]
async fn live(session: WebSocketSession) -> Result<()> {
    session.send("hi").await?;
    Ok(())
}

fn main() {
    let _server = embedded_server!(port = 0, |app| {
        app.state(Rooms);
        routing!(
            app,
            authenticate(auth) { every },
            post_json,
            put_bytes,
            patch_text,
            delete_all,
            refuse,
            live
        );
    });
}
