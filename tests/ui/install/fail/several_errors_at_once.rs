use ws::prelude::*;

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        pingPeriod = 15s,
        timeout = 0s,
        max_frame_size = 5KiBs,
        masking = true,
        extensions { Deflat },
    });
}
