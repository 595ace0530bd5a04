use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        timeout = 15s,
        ping_period = 5s,
        timeout = 30s,
    });
}
