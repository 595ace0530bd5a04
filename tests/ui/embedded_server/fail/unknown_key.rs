use ws::prelude::*;

fn main() {
    let _server = embedded_server!(prot = 8080, |app| {
        let _ = app;
    });
}
