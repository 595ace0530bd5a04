use ws::prelude::*;

#[get("/health")]
fn health() -> &'static str {
    "ok"
}

fn main() {}
