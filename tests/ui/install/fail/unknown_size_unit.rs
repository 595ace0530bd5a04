use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets { max_frame_size = 5KiBs });
}
