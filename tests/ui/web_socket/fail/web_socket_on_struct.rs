use ws::prelude::*;

#[web_socket("/echo")]
struct Echo;

fn main() {
    let _ = Echo;
}
