use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        extensions { Deflate, Deflate { compression_level = 9 } },
    });
}
