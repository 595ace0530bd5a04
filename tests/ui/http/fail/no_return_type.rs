use ws::prelude::*;

#[get("/health")]
async fn health() {}

fn main() {}
