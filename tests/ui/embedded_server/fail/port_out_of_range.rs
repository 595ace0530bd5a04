use ws::prelude::*;

fn main() {
    let _server = embedded_server!(port = 80800, |app| {
        let _ = app;
    });
}
