//! TLS for `wss://` and `https://`, with rustls (feature `tls`, on by default).
//!
//! - Certificates and keys are read from PEM (files or bytes) with `rustls-pki-types`.
//! - The crypto provider is chosen explicitly (ring) for this server's configuration,
//!   so a second provider elsewhere in the dependency graph cannot make rustls panic
//!   for want of a process-wide default.
//! - ALPN offers `http/1.1` (WebSockets upgrade from HTTP/1.1).
//! - The certificate can be replaced while the server runs ([`ServerHandle::reload_tls`]
//!   or SIGHUP): new handshakes use the new one, open sessions keep theirs.
//! - The TLS handshake counts as part of the connection's handshake: it falls under
//!   `handshake_timeout` and the server-wide connection limits.
//!
//! [`ServerHandle::reload_tls`]: crate::ServerHandle::reload_tls

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// Where a TLS listener's certificate chain and private key come from.
///
/// ```no_run
/// use ws_runtime::{EmbeddedServer, Tls};
/// let server = EmbeddedServer::new()
///     .port(8443)
///     .tls(Tls::pem_files("cert.pem", "key.pem"));
/// ```
#[derive(Clone)]
pub struct Tls {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    Pem { cert: Arc<[u8]>, key: Arc<[u8]> },
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Files { cert, key } => f
                .debug_struct("Tls")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            Source::Pem { .. } => f.debug_struct("Tls").field("pem", &"..").finish(),
        }
    }
}

impl Tls {
    /// A certificate chain (leaf first) and its private key, from PEM files. They are
    /// read when the server starts, and again on every reload.
    pub fn pem_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self {
            source: Source::Files {
                cert: cert.into(),
                key: key.into(),
            },
        }
    }

    /// A certificate chain and private key given as PEM text (a reload reads them
    /// again, unchanged).
    pub fn pem(cert: impl AsRef<[u8]>, key: impl AsRef<[u8]>) -> Self {
        Self {
            source: Source::Pem {
                cert: Arc::from(cert.as_ref()),
                key: Arc::from(key.as_ref()),
            },
        }
    }

    /// Reads the certificate chain and key and checks that they belong together.
    fn load(&self, provider: &CryptoProvider) -> io::Result<CertifiedKey> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        let (certs, key) = match &self.source {
            Source::Files { cert, key } => {
                let certs = CertificateDer::pem_file_iter(cert)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| invalid(format!("TLS certificate {}: {e}", cert.display())))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| invalid(format!("TLS private key {}: {e}", key.display())))?;
                (certs, key)
            }
            Source::Pem { cert, key } => {
                let certs = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid(format!("TLS certificate: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| invalid(format!("TLS private key: {e}")))?;
                (certs, key)
            }
        };
        if certs.is_empty() {
            return Err(invalid("TLS certificate: no certificate in the PEM".into()));
        }
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| invalid(format!("TLS private key: {e}")))?;
        let certified = CertifiedKey::new(certs, signing);
        certified
            .keys_match()
            .map_err(|e| invalid(format!("TLS certificate and key: {e}")))?;
        Ok(certified)
    }
}

/// The certificate new handshakes get; replaced on reload.
struct Current(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current")
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// A TLS listener's acceptor: the rustls configuration and its current certificate.
pub(crate) struct TlsAcceptor {
    tls: Tls,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl TlsAcceptor {
    /// Loads the certificate and builds the configuration (ring provider, ALPN
    /// `http/1.1`, no client certificates).
    pub(crate) fn new(tls: &Tls) -> io::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = tls.load(&provider)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(certified))));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: tls.clone(),
            provider,
            current,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads the certificate again; new handshakes use it. On an error the old one
    /// stays.
    pub(crate) fn reload(&self) -> io::Result<()> {
        let certified = self.tls.load(&self.provider)?;
        *self.current.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(certified);
        Ok(())
    }

    /// Runs the TLS handshake on an accepted connection.
    pub(crate) async fn accept(&self, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        self.acceptor.accept(tcp).await
    }
}
