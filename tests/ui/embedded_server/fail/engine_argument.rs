use ws::prelude::*;

fn main() {
    let _server = embedded_server!(Netty, port = 8080, |app| {
        let _ = app;
    });
}
