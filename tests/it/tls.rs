//! wss:// with rustls, against a client (tokio-rustls + tokio-tungstenite) that trusts
//! a certificate authority made at test time with rcgen.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use ws::{
    Connector, EmbeddedServer, Route, RunningServer, Tls, WebSocketOptions, WebSocketSession,
};

/// A test certificate authority, and certificates it signs.
pub(crate) struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pub(crate) pem: String,
}

/// A certificate and its key, PEM.
pub(crate) struct Leaf {
    pub(crate) cert: String,
    pub(crate) key: String,
    der: CertificateDer<'static>,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ws test CA");
        let pem = params.self_signed(&key).unwrap().pem();
        Self { params, key, pem }
    }

    /// A certificate for `localhost`, valid now (or, with `expired`, only in 2001).
    pub(crate) fn leaf(&self, expired: bool) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A TLS client that trusts only this CA.
    fn connector(&self) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        use rustls_pki_types::pem::PemObject;
        roots
            .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

type Client = WebSocketStream<TlsStream<TcpStream>>;

/// Connects over TLS and upgrades; returns the client and the certificate it was shown.
async fn connect_tls(
    ca: &TestCa,
    addr: std::net::SocketAddr,
) -> std::io::Result<(Client, CertificateDer<'static>)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let tls = ca.connector().connect(name, tcp).await?;
    let shown = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (client, _) =
        tokio_tungstenite::client_async(format!("wss://localhost:{}/echo", addr.port()), tls)
            .await
            .map_err(std::io::Error::other)?;
    Ok((client, shown))
}

async fn echo_once(client: &mut Client, text: &str) {
    client.send(Message::text(text)).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), client.next())
        .await
        .expect("an echo within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), text);
}

fn echo_route() -> Route {
    Route::new("/echo", |session: WebSocketSession| async move {
        while let Some(frame) = session.incoming.recv().await {
            session.send(frame).await?;
        }
        Ok::<(), ws::Error>(())
    })
}

async fn tls_server(leaf: &Leaf, options: WebSocketOptions) -> RunningServer {
    EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .tls(Tls::pem(&leaf.cert, &leaf.key))
        .configure(|app| {
            app.install(options);
            app.route(echo_route());
        })
        .bind()
        .await
        .expect("server binds")
}

#[tokio::test]
async fn a_client_trusting_the_ca_talks_over_wss() {
    let ca = TestCa::new();
    let leaf = ca.leaf(false);
    let server = tls_server(&leaf, WebSocketOptions::new()).await;
    let (mut client, shown) = connect_tls(&ca, server.local_addr()).await.unwrap();
    assert_eq!(shown, leaf.der);
    echo_once(&mut client, "over TLS").await;
}

#[tokio::test]
async fn a_reload_serves_new_handshakes_the_new_certificate_and_keeps_open_sessions() {
    let ca = TestCa::new();
    let dir = std::env::temp_dir().join(format!("ws-tls-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let first = ca.leaf(false);
    std::fs::write(&cert, &first.cert).unwrap();
    std::fs::write(&key, &first.key).unwrap();
    let server = EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .tls(Tls::pem_files(&cert, &key))
        .configure(|app| {
            app.route(echo_route());
        })
        .bind()
        .await
        .unwrap();
    let (mut old, shown) = connect_tls(&ca, server.local_addr()).await.unwrap();
    assert_eq!(shown, first.der);
    // Swap the files, reload.
    let second = ca.leaf(false);
    std::fs::write(&cert, &second.cert).unwrap();
    std::fs::write(&key, &second.key).unwrap();
    server.handle().reload_tls().unwrap();
    let (mut new, shown) = connect_tls(&ca, server.local_addr()).await.unwrap();
    assert_eq!(shown, second.der, "a new client sees the new certificate");
    echo_once(&mut new, "new").await;
    echo_once(&mut old, "the old session is still open").await;
    // A broken file keeps the current certificate.
    std::fs::write(&key, "not a key").unwrap();
    assert!(server.handle().reload_tls().is_err());
    let (_, shown) = connect_tls(&ca, server.local_addr()).await.unwrap();
    assert_eq!(shown, second.der);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn plaintext_on_the_tls_port_and_an_expired_certificate_fail_cleanly() {
    let ca = TestCa::new();
    let leaf = ca.leaf(false);
    let server = tls_server(&leaf, WebSocketOptions::new()).await;
    let addr = server.local_addr();
    // A client speaking plain WebSocket to the TLS port gets no upgrade.
    let plain = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(format!("ws://{addr}/echo")),
    )
    .await
    .expect("the plaintext client is answered or dropped within 5 s");
    assert!(
        plain.is_err(),
        "a plaintext handshake on the TLS port succeeded"
    );
    // The server still serves TLS clients.
    let (mut client, _) = connect_tls(&ca, addr).await.unwrap();
    echo_once(&mut client, "still serving").await;

    // A server whose certificate has expired: the client refuses it, the server lives.
    let expired = ca.leaf(true);
    let stale = tls_server(&expired, WebSocketOptions::new()).await;
    let Err(error) = connect_tls(&ca, stale.local_addr()).await else {
        panic!("a client must refuse an expired certificate");
    };
    assert!(
        error.to_string().to_lowercase().contains("expired"),
        "{error}"
    );
    let (mut client, _) = connect_tls(&ca, addr).await.unwrap();
    echo_once(&mut client, "the other server too").await;
}

#[tokio::test]
async fn plain_and_tls_listeners_serve_side_by_side() {
    let ca = TestCa::new();
    let leaf = ca.leaf(false);
    let server = EmbeddedServer::new()
        .host("127.0.0.1")
        .port(0)
        .connector(Connector::tls(0, Tls::pem(&leaf.cert, &leaf.key)).host("127.0.0.1"))
        .configure(|app| {
            app.route(echo_route());
        })
        .bind()
        .await
        .unwrap();
    let [plain, tls] = server.local_addrs() else {
        panic!("two listeners")
    };
    let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{plain}/echo"))
        .await
        .unwrap();
    client.send(Message::text("plain")).await.unwrap();
    assert_eq!(
        client
            .next()
            .await
            .unwrap()
            .unwrap()
            .into_text()
            .unwrap()
            .as_str(),
        "plain"
    );
    let (mut secure, _) = connect_tls(&ca, *tls).await.unwrap();
    echo_once(&mut secure, "tls").await;
}

#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_cut_off_by_the_handshake_timeout() {
    let ca = TestCa::new();
    let leaf = ca.leaf(false);
    let server = tls_server(
        &leaf,
        WebSocketOptions::new().handshake_timeout(Duration::from_millis(300)),
    )
    .await;
    let mut silent = TcpStream::connect(server.local_addr()).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    // The server closes the connection (EOF) once the timeout passes.
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf),
    )
    .await
    .expect("closed within 5 s");
    assert!(matches!(n, Ok(0) | Err(_)));
    assert!(started.elapsed() >= Duration::from_millis(250));
    let _ = silent.shutdown().await;
}
