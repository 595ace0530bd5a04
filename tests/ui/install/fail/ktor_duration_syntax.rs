use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets { ping_period = 15.seconds });
}
