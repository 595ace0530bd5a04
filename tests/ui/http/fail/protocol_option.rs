use ws::prelude::*;

#[get("/rooms", protocol = "chat.v1")]
async fn rooms() -> &'static str {
    "rooms"
}

fn main() {}
