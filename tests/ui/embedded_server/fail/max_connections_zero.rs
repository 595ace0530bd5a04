use ws::prelude::*;

fn main() {
    let _server = embedded_server!(max_connections = 0, tcp_keepalive = 0s, |app| {
        let _ = app;
    });
}
