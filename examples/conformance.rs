//! A plain echo on `/echo` for conformance suites and benchmarks: every text and
//! binary message comes back as it came, with the default limits.
//!
//! Run it:
//!
//! ```text
//! cargo run --release --example conformance              # port 8080; or -- --port 9000, or PORT=9000
//! cargo run --release --example conformance -- --deflate # also offer permessage-deflate
//! cargo run --example client -- ws://127.0.0.1:8080/echo
//! ```
//!
//! The Autobahn|Testsuite fuzzing client can point at `ws://HOST:8080/echo`; its
//! permessage-deflate cases (12.x, 13.x) need `--deflate`.
//!
//! `--ping-period-ms N` turns on pings every N ms and `--timeout-ms N` sets how long a
//! pong (and a close handshake) may take (default 15 s): the interop suites use short
//! values to test ping timeouts quickly.
//!
//! `--prometheus` installs a metrics recorder and serves it at `/metrics` (what
//! `ws-bench/profile.sh` measures the metrics' cost with).

mod common;

use std::time::Duration;

use ws::prelude::*;

#[web_socket("/echo")]
async fn echo(session: WebSocketSession) -> Result<()> {
    // Control frames are answered by the session and never reach this loop; the
    // pattern keeps data frames only.
    for frame @ (Frame::Text(_) | Frame::Binary(_)) in session.incoming {
        session.send(frame).await?;
    }
    Ok(())
}

/// The value of `--NAME N` in milliseconds, if given.
fn millis(name: &str) -> Option<Duration> {
    let mut args = std::env::args().skip_while(|arg| arg != name).skip(1);
    let value = args.next()?;
    match value.parse() {
        Ok(ms) => Some(Duration::from_millis(ms)),
        Err(_) => {
            eprintln!("invalid {name} `{value}`: expected a number of milliseconds");
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    let deflate = std::env::args().any(|arg| arg == "--deflate");
    let prometheus = std::env::args().any(|arg| arg == "--prometheus");
    let ping_period = millis("--ping-period-ms");
    let timeout = millis("--timeout-ms").unwrap_or(Duration::from_secs(15));
    // Benchmarks and soak tests hold tens of thousands of connections from one
    // address: the server-wide limits are raised past what they use.
    embedded_server!(
        port = common::port(),
        host = "0.0.0.0",
        max_connections = 1_000_000,
        max_handshakes = 100_000,
        |app| {
            if deflate {
                install!(app, WebSockets {
                    ping_period = ping_period,
                    timeout = timeout,
                    extensions { Deflate },
                });
            } else {
                install!(app, WebSockets { ping_period = ping_period, timeout = timeout });
            }
            if prometheus {
                app.prometheus_route("/metrics");
            }
            routing!(app, echo);
        }
    )
    .start()
    .await
}
