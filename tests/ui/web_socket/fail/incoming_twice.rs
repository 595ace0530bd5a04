use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(first: Incoming, second: Incoming, outgoing: Outgoing) {
    let _ = (first, second, outgoing);
}

fn main() {}
