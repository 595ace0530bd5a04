use ws::prelude::*;

fn main() {
    let _server = embedded_server!(port = 8080);
}
