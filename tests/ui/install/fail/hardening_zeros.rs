use ws::prelude::*;

fn main() {
    let _ = embedded_server!(|app| {
        install!(app, WebSockets {
            idle_timeout = 0s,
            max_messages_per_second = 0,
            outgoing_capacity_bytes = 0,
        });
    });
}
