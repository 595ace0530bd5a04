use ws::prelude::*;

#[get("/count")]
async fn count() -> u32 {
    42
}

fn main() {}
