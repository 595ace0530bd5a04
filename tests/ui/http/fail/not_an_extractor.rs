use ws::prelude::*;

#[get("/count")]
async fn count(n: u32) -> String {
    n.to_string()
}

fn main() {}
