use ws::prelude::*;

#[get("/chat")]
async fn chat(session: WebSocketSession) -> HttpResponse {
    let _ = session;
    HttpResponse::text("")
}

fn main() {}
