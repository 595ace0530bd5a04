use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    let _ = &mut app;
    install!(WebSockets { ping_period = 15s });
}
