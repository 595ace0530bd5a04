use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    let limit: u32 = 1024;
    install!(app, WebSockets { max_frame_size = limit });
}
