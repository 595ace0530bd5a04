//! The README's HTTP routes sample.
#![deny(warnings)]
use std::sync::Mutex;
use ws::prelude::*;

#[derive(Default)]
struct Rooms(Mutex<Vec<String>>);

#[derive(serde::Deserialize)]
struct NewRoom {
    name: String,
}

#[get("/rooms")]
async fn list(State(rooms): State<Rooms>) -> HttpResponse {
    HttpResponse::json(&*rooms.0.lock().unwrap()) // 200, application/json
}

#[post("/rooms")]
async fn create(State(rooms): State<Rooms>, Json(new): Json<NewRoom>) -> (StatusCode, String) {
    rooms.0.lock().unwrap().push(new.name);
    (StatusCode::CREATED, "created".into())
}

#[get("/rooms/{index}")]
async fn room(Path(index): Path<usize>, State(rooms): State<Rooms>) -> Result<String, StatusCode> {
    rooms.0.lock().unwrap().get(index).cloned().ok_or(StatusCode::NOT_FOUND)
}

/// The README's `main`, compiled, not run (it would serve until killed).
#[allow(dead_code)]
async fn serve() -> Result<(), ServerError> {
    embedded_server!(port = 8080, |app| {
        app.state(Rooms::default());
        routing!(app, list, create, room);
    })
    .start()
    .await
}
// curl -d '{"name":"lobby"}' localhost:8080/rooms; curl localhost:8080/rooms

fn main() {}
