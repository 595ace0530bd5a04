use ws::prelude::*;

fn main() {
    let _server = embedded_server!(log = "off", |app| {
        let _ = app;
    });
}
