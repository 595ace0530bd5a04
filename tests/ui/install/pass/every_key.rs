//! Every `install!` key and literal form.
#![deny(warnings)]
use std::time::Duration;

use ws::Rsv;
use ws::extension::{Extension, ExtensionFactory, ExtensionParams, Negotiated};
use ws::prelude::*;

const LIMIT: u64 = 1 << 20;

#[derive(Default)]
struct Marker {
    tag: String,
    period: Duration,
    size: u64,
}

impl Marker {
    fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_string();
        self
    }
    fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }
    fn size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }
}

struct NoOp;

impl Extension for NoOp {
    fn process_outgoing(&mut self, frame: ws::extension::ExtFrame) -> std::result::Result<ws::extension::ExtFrame, ws::extension::ExtensionError> {
        Ok(frame)
    }
    fn process_incoming(
        &mut self,
        frame: ws::extension::ExtFrame,
        _ctx: &ws::extension::IncomingContext,
    ) -> std::result::Result<ws::extension::ExtFrame, ws::extension::ExtensionError> {
        Ok(frame)
    }
}

impl ExtensionFactory for Marker {
    fn name(&self) -> &str {
        "x-marker"
    }
    fn rsv(&self) -> Rsv {
        Rsv::RSV3
    }
    fn negotiate(&self, _offers: &[ExtensionParams]) -> Option<Negotiated> {
        let _ = (&self.tag, self.period, self.size);
        Some(Negotiated::new(ExtensionParams::new("x-marker"), NoOp))
    }
}

fn main() {
    let origins = vec!["https://b.example".to_string()];
    let mut app = ws::Application::new();
    install!(app, WebSockets {
        ping_period = 1.5s,
        timeout = Duration::from_secs(20),
        max_frame_size = LIMIT,
        masking = false,
        max_message_size = 64MiB,
        outgoing_capacity = 128,
        outgoing_capacity_bytes = 2MiB,
        outgoing_overflow = Close,
        incoming_capacity = 16,
        handshake_timeout = 2m,
        idle_timeout = 90s,
        max_messages_per_second = 500,
        allowed_origins = origins,
        read_buffer_size = 4KiB,
        write_buffer_size = 64_000,
        content_converter = JsonConverter,
        extensions {
            Deflate {
                memory = Dedicated,
                compression_level = 9,
                compress_if_bigger_than = 1KB,
                compress_if = |frame: &Frame| frame.len() > 3,
                server_no_context_takeover = true,
                client_no_context_takeover = false,
                server_max_window_bits = 9,
                client_max_window_bits = 8,
                max_compressors = 1024,
            },
            Marker { tag = "m", period = 1h, size = 1GiB },
        },
    });
    let o = app.options();
    assert_eq!(o.ping_period, Some(Duration::from_millis(1500)));
    assert_eq!(o.timeout, Duration::from_secs(20));
    assert_eq!(o.max_frame_size, 1 << 20);
    assert_eq!(o.max_message_size, 64 << 20);
    assert_eq!(o.outgoing_overflow, ChannelOverflow::Close);
    assert_eq!(o.handshake_timeout, Duration::from_secs(120));
    assert_eq!(o.outgoing_capacity_bytes, 2 << 20);
    assert_eq!(o.idle_timeout, Some(Duration::from_secs(90)));
    assert_eq!(o.max_messages_per_second, Some(500));
    assert_eq!(o.read_buffer_size, 4096);
    assert_eq!(o.write_buffer_size, 64_000);
    assert_eq!(o.extension_names(), ["permessage-deflate", "x-marker"]);

    let mut plain = ws::Application::new();
    install!(plain, WebSockets);
    let mut empty = ws::Application::new();
    install!(empty, WebSockets {});
    let mut lists = ws::Application::new();
    install!(lists, WebSockets {
        allowed_origins = ["https://a.example", "http://localhost:8080"],
        max_frame_size = u64::MAX,
        outgoing_overflow = ChannelOverflow::Suspend,
        ping_period = None,
    });
    assert!(matches!(
        &lists.options().allowed_origins,
        ws::AllowedOrigins::List(list) if list.len() == 2
    ));
    let mut open = ws::Application::new();
    install!(open, WebSockets { allowed_origins = any });
    assert_eq!(open.options().allowed_origins, ws::AllowedOrigins::Any);
}
