use ws::prelude::*;

#[get("/rooms")]
async fn room(Path(id): Path<u32>) -> String {
    id.to_string()
}

fn main() {}
