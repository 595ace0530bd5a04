use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        extensions { Deflate { client_max_window_bits = 16 } },
    });
}
