use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSocket { ping_period = 15s });
}
