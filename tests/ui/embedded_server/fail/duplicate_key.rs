use ws::prelude::*;

fn main() {
    let _server = embedded_server!(port = 8080, host = "0.0.0.0", port = 9090, |app| {
        let _ = app;
    });
}
