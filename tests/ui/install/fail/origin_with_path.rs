use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets { allowed_origins = ["https://app.example/"] });
}
