//! The chat example over TLS: the page on `https://`, the chat on `wss://`, with
//! permessage-deflate. Certificates are rustls's, read from PEM files; they are read
//! again on SIGHUP (new connections get the new certificate, open ones keep theirs).
//!
//! Run it:
//!
//! ```text
//! cargo run --example tls -- --port 8443 --cert cert.pem --key key.pem
//! cargo run --example tls -- --port 8443      # makes a self-signed certificate for localhost
//! ```
//!
//! then open <https://localhost:8443/> in two browser tabs (with a self-signed
//! certificate, accept the browser's warning first), or connect a client that trusts
//! the certificate (Python's `websockets` takes an `ssl` context for it).
//!
//! `--test-ca DIR` (for tests) makes a certificate authority and a certificate for
//! `localhost` and `127.0.0.1` signed by it, and writes `ca.pem`, `cert.pem` and
//! `key.pem` into DIR: clients that trust `ca.pem` trust the server, and a test can
//! replace `cert.pem`/`key.pem` and send SIGHUP to see the reload.

// ws-new: template
// ws-new: deps rcgen
// ws-new: test /chat "You are connected!"
// ws-new: test-tls
mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ws::prelude::*;

const PAGE: &str = include_str!("chat.html");

static LAST_ID: AtomicUsize = AtomicUsize::new(0);

#[web_socket("/chat")]
async fn chat(
    session: WebSocketSession,
    State(connections): State<Connections<String>>,
) -> Result<()> {
    let name = format!("user{}", LAST_ID.fetch_add(1, Ordering::Relaxed));
    let me = connections.join(&session, name);
    session
        .send(format!(
            "You are connected! There are {} users here.",
            connections.len()
        ))
        .await?;
    for frame in session.incoming {
        let Frame::Text(text) = frame else { continue };
        connections.broadcast(format!("[{}]: {text}", *me));
    }
    Ok(())
}

/// A certificate for `localhost` and `127.0.0.1`: self-signed, or signed by a new CA
/// whose certificate is written to `ca_dir/ca.pem`. Returns the PEM files' paths.
fn make_certificate(dir: &Path, with_ca: bool) -> (PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let key = KeyPair::generate().expect("a key pair");
    let mut params = CertificateParams::new(names).expect("valid names");
    params
        .distinguished_name
        .push(DnType::CommonName, "ws tls example");
    let cert = if with_ca {
        let ca_key = KeyPair::generate().expect("a key pair");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ws test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("a CA certificate");
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("ca.pem is writable");
        let issuer = Issuer::new(ca_params, ca_key);
        params
            .signed_by(&key, &issuer)
            .expect("a signed certificate")
    } else {
        params.self_signed(&key).expect("a self-signed certificate")
    };
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).expect("cert.pem is writable");
    std::fs::write(&key_path, key.serialize_pem()).expect("key.pem is writable");
    (cert_path, key_path)
}

#[tokio::main]
async fn main() -> Result<(), ServerError> {
    let cert: Option<PathBuf> = common::option("cert");
    let key: Option<PathBuf> = common::option("key");
    let test_ca: Option<PathBuf> = common::option("test-ca");
    let (cert, key) = match (cert, key, test_ca) {
        (Some(cert), Some(key), None) => (cert, key),
        (None, None, Some(dir)) => {
            std::fs::create_dir_all(&dir)?;
            let files = make_certificate(&dir, true);
            println!(
                "Made a test CA and a certificate it signed in {}",
                dir.display()
            );
            files
        }
        (None, None, None) => {
            let dir = std::env::temp_dir().join(format!("ws-tls-example-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let files = make_certificate(&dir, false);
            println!(
                "No --cert/--key given: made a self-signed certificate for localhost in {}",
                dir.display()
            );
            files
        }
        _ => {
            eprintln!("usage: tls --port N [--cert FILE --key FILE | --test-ca DIR]");
            std::process::exit(2);
        }
    };
    embedded_server!(
        port = common::port(),
        host = "0.0.0.0",
        tls = Tls::pem_files(cert, key),
        |app| {
            install!(app, WebSockets {
                ping_period = 15s,
                timeout = 15s,
                max_frame_size = 64KiB,
                extensions { Deflate },
            });
            app.state(Connections::<String>::new());
            app.get("/", |_| async { HttpResponse::html(PAGE) });
            app.get("/health", |_| async { HttpResponse::text("ok") });
            //+metrics: app.prometheus_route("/metrics");
            routing!(app, chat);
        }
    )
    .start()
    .await
}
