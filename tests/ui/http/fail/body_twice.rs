use ws::prelude::*;

#[derive(serde::Deserialize)]
struct Msg {
    text: String,
}

#[post("/messages")]
async fn post_message(Json(msg): Json<Msg>, raw: String) -> String {
    format!("{} {raw}", msg.text)
}

fn main() {}
