//! `wss://` with rustls: Mozilla's roots by default (`webpki-roots`, compiled in, so a
//! client trusts the same CAs on every machine), a CA of your own instead or as well,
//! a client certificate on request; the ring provider chosen explicitly, as the
//! server's; ALPN `http/1.1`; the server name from the URL (SNI and the certificate
//! check).

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::ClientError;

/// PEM text, or a file of it (read when the first `wss://` connection needs it).
#[derive(Clone)]
enum Pem {
    File(PathBuf),
    Bytes(Arc<[u8]>),
}

impl Pem {
    fn read(&self, what: &str) -> Result<Arc<[u8]>, ClientError> {
        match self {
            Pem::Bytes(bytes) => Ok(bytes.clone()),
            Pem::File(path) => std::fs::read(path)
                .map(Arc::from)
                .map_err(|e| ClientError::Tls(format!("{what} {}: {e}", path.display()))),
        }
    }
}

/// The TLS settings of a [`Client`](super::Client)'s `wss://` connections.
///
/// ```no_run
/// use ws::client::{Client, ClientTls};
///
/// let mut client = Client::new();
/// // A private CA, and a certificate of ours for servers that ask for one.
/// client.tls(
///     ClientTls::custom_ca_file("ca.pem").client_cert_files("client.pem", "client-key.pem"),
/// );
/// ```
#[derive(Clone, Default)]
pub struct ClientTls {
    /// Only these CAs (`None`: Mozilla's).
    custom: Option<Vec<Pem>>,
    /// These CAs besides.
    extra: Vec<Pem>,
    identity: Option<(Pem, Pem)>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("webpki_roots", &self.custom.is_none())
            .field(
                "cas",
                &(self.custom.iter().flatten().count() + self.extra.len()),
            )
            .field("client_cert", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// Trusts Mozilla's root CAs (the `webpki-roots` crate), as a browser would. The
    /// default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts only the CA certificates in this PEM text (a private or test CA).
    pub fn custom_ca(pem: impl AsRef<[u8]>) -> Self {
        Self {
            custom: Some(vec![Pem::Bytes(Arc::from(pem.as_ref()))]),
            ..Self::default()
        }
    }

    /// Trusts only the CA certificates in this PEM file.
    pub fn custom_ca_file(path: impl Into<PathBuf>) -> Self {
        Self {
            custom: Some(vec![Pem::File(path.into())]),
            ..Self::default()
        }
    }

    /// Trusts the CA certificates in this PEM text too.
    pub fn add_ca(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.extra.push(Pem::Bytes(Arc::from(pem.as_ref())));
        self
    }

    /// Trusts the CA certificates in this PEM file too.
    pub fn add_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra.push(Pem::File(path.into()));
        self
    }

    /// Presents this certificate chain (leaf first) and private key, PEM text, to a
    /// server that asks for a client certificate.
    pub fn client_cert(mut self, cert: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Self {
        self.identity = Some((
            Pem::Bytes(Arc::from(cert.as_ref())),
            Pem::Bytes(Arc::from(key.as_ref())),
        ));
        self
    }

    /// Presents the certificate chain and key of these PEM files.
    pub fn client_cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity = Some((Pem::File(cert.into()), Pem::File(key.into())));
        self
    }

    /// The rustls configuration: roots, client certificate, ring, ALPN `http/1.1`.
    fn config(&self) -> Result<ClientConfig, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        if self.custom.is_none() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for pem in self.custom.iter().flatten().chain(&self.extra) {
            let text = pem.read("CA certificate")?;
            let mut any = false;
            for cert in CertificateDer::pem_slice_iter(&text) {
                let cert = cert.map_err(|e| ClientError::Tls(format!("CA certificate: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ClientError::Tls(format!("CA certificate: {e}")))?;
                any = true;
            }
            if !any {
                return Err(ClientError::Tls(
                    "CA certificate: no certificate in the PEM".into(),
                ));
            }
        }
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let certs = CertificateDer::pem_slice_iter(&cert.read("client certificate")?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ClientError::Tls(format!("client certificate: {e}")))?;
                if certs.is_empty() {
                    return Err(ClientError::Tls(
                        "client certificate: no certificate in the PEM".into(),
                    ));
                }
                let key = PrivateKeyDer::from_pem_slice(&key.read("client key")?)
                    .map_err(|e| ClientError::Tls(format!("client key: {e}")))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| ClientError::Tls(format!("client certificate and key: {e}")))?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A client's TLS settings and the configuration made from them on first use.
#[derive(Default)]
pub(crate) struct TlsSetup {
    settings: ClientTls,
    config: Mutex<Option<Arc<ClientConfig>>>,
}

impl TlsSetup {
    pub(crate) fn new(settings: ClientTls) -> Self {
        Self {
            settings,
            config: Mutex::new(None),
        }
    }

    /// Runs the TLS handshake with `host` (a name or an IP address) over `tcp`.
    pub(crate) async fn connect(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> Result<TlsStream<TcpStream>, ClientError> {
        let config = {
            let mut cached = self.config.lock().unwrap_or_else(|e| e.into_inner());
            match &*cached {
                Some(config) => config.clone(),
                None => {
                    let config = Arc::new(self.settings.config()?);
                    *cached = Some(config.clone());
                    config
                }
            }
        };
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| ClientError::Tls(format!("`{host}` as a TLS server name: {e}")))?;
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| ClientError::Tls(format!("handshake with `{host}`: {e}")))
    }
}
