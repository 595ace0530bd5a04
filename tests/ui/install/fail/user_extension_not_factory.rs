use ws::prelude::*;

#[derive(Default)]
struct Invert;

impl Invert {
    fn level(self, _level: u8) -> Self {
        self
    }
}

fn main() {
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        extensions { Invert { level = 3 } },
    });
}
