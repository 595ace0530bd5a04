//! A command-line WebSocket client, like websocat: sends each line of its standard
//! input as a text message and prints every message that arrives, one per line.
//! End of input (Ctrl-D) closes the session with 1000; the close reason is printed on
//! standard error.
//!
//! ```text
//! cargo run --example echo                                   # in one terminal
//! cargo run --example client -- ws://127.0.0.1:8080/echo     # in another: type a name, then `bye`
//! ```
//!
//! Options (after the URL or before it):
//!
//! - `--protocol P` offers a subprotocol (repeat for more), `--header 'Name: value'`
//!   adds a header (repeat for more);
//! - `--no-deflate` offers no permessage-deflate (offered by default);
//! - `--ca FILE` trusts only this CA for `wss://` (Mozilla's roots otherwise),
//!   `--cert FILE --key FILE` presents a client certificate;
//! - `--ping-period-ms N` pings every N ms, `--timeout-ms N` sets the pong and close
//!   timeout (15 s);
//! - `--binary` sends each line as a binary message.
//!
//! Binary messages print as `[binary N bytes]`. On standard error: `connected`
//! (with the subprotocol and extensions agreed), then `closed: CODE REASON`. The exit
//! status is 0 after a 1000 close, 1 otherwise.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc;
use ws::client::{Client, ClientRequest};
use ws::extension::Deflate;
use ws::prelude::*;

struct Args {
    url: String,
    protocols: Vec<String>,
    headers: Vec<(String, String)>,
    deflate: bool,
    binary: bool,
    ca: Option<String>,
    cert: Option<(String, String)>,
    ping_period: Option<Duration>,
    timeout: Option<Duration>,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: client ws://HOST:PORT/PATH [--protocol P] [--header 'Name: value'] [--no-deflate] [--binary] [--ca FILE] [--cert FILE --key FILE] [--ping-period-ms N] [--timeout-ms N]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut url = None;
    let mut parsed = Args {
        url: String::new(),
        protocols: Vec::new(),
        headers: Vec::new(),
        deflate: true,
        binary: false,
        ca: None,
        cert: None,
        ping_period: None,
        timeout: None,
    };
    let (mut cert, mut key) = (None, None);
    let millis = |name: &str, value: Option<String>| -> Duration {
        let value = value.unwrap_or_else(|| usage(&format!("{name} needs a value")));
        Duration::from_millis(
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("{name} `{value}` is not a number"))),
        )
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--protocol" => parsed.protocols.push(value("--protocol")),
            "--header" => {
                let header = value("--header");
                let Some((name, value)) = header.split_once(':') else {
                    usage(&format!("--header `{header}`: write `Name: value`"));
                };
                parsed
                    .headers
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "--no-deflate" => parsed.deflate = false,
            "--binary" => parsed.binary = true,
            "--ca" => parsed.ca = Some(value("--ca")),
            "--cert" => cert = Some(value("--cert")),
            "--key" => key = Some(value("--key")),
            "--ping-period-ms" => parsed.ping_period = Some(millis(&arg, args.next())),
            "--timeout-ms" => parsed.timeout = Some(millis(&arg, args.next())),
            other if other.starts_with("--") => usage(&format!("unknown option {other}")),
            other if url.is_none() => url = Some(other.to_owned()),
            other => usage(&format!("unexpected argument {other}")),
        }
    }
    parsed.url = url.unwrap_or_else(|| usage("no URL"));
    parsed.cert = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => usage("--cert and --key go together"),
    };
    parsed
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = parse_args();
    let mut options = WebSocketOptions::new().ping_period(args.ping_period);
    if let Some(timeout) = args.timeout {
        options = options.timeout(timeout);
    }
    if args.deflate {
        options = options.extension(Deflate::new());
    }
    let mut client = Client::new();
    client.install(options);
    let tls = match (&args.ca, &args.cert) {
        (None, None) => None,
        (Some(ca), _) => Some(ws::client::ClientTls::custom_ca_file(ca)),
        (None, Some(_)) => Some(ws::client::ClientTls::new()),
    };
    if let Some(mut tls) = tls {
        if let Some((cert, key)) = &args.cert {
            tls = tls.client_cert_files(cert, key);
        }
        client.tls(tls);
    }
    let mut request = ClientRequest::new(args.url.as_str());
    for protocol in &args.protocols {
        request = request.protocol(protocol);
    }
    for (name, value) in &args.headers {
        request = request.header(name, value);
    }

    // Standard input is read by a thread of its own, line by line.
    let (lines_tx, mut lines) = mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });

    let binary = args.binary;
    let outcome = client
        .web_socket(request, move |session| async move {
            let extensions = session.extensions().join(", ");
            eprintln!(
                "connected (subprotocol: {}, extensions: {})",
                session.protocol().unwrap_or("none"),
                if extensions.is_empty() { "none" } else { &extensions }
            );
            let mut input_open = true;
            loop {
                tokio::select! {
                    frame = session.incoming.recv() => match frame {
                        Some(Frame::Text(text)) => println!("{text}"),
                        Some(Frame::Binary(data)) => println!("[binary {} bytes]", data.len()),
                        Some(_) => {}
                        None => break,
                    },
                    line = lines.recv(), if input_open => match line {
                        Some(line) if binary => session.send(Frame::binary(line.into_bytes())).await?,
                        Some(line) => session.send(line).await?,
                        None => {
                            input_open = false;
                            session.close(CloseReason::new(Codes::NORMAL, "")).await?;
                        }
                    },
                }
            }
            Ok::<_, ws::Error>(session.close_reason().await)
        })
        .await;
    match outcome {
        Ok(Some(reason)) => {
            eprintln!("closed: {} {}", reason.code().code(), reason.message());
            if reason.code() == Codes::NORMAL {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Ok(None) => {
            eprintln!("closed: the connection dropped without a close frame");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
