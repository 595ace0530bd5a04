use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        extensions { Deflate { memory = "shared" } },
    });
}
