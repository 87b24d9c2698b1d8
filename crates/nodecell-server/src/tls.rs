//! TLS on both listeners (rustls, with the ring provider): a certificate chain and its key
//! from PEM files, and optionally a CA whose client certificates are then required (mTLS).
//! The files are read again on SIGHUP ([`crate::Server::reload_tls`]) and when they change
//! (looked at every [`WATCH_INTERVAL`]); a reload that fails keeps what was serving, and says
//! why in the log. Each connection's handshake happens in its own task, within the header
//! timeout, after the connection has been admitted under the caps.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

use crate::activity::ConnInfo;
use crate::connections::Conn;

/// How often the files are looked at for a change.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// The files TLS is served from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, clients must present a certificate this CA (PEM, one or more) signed.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// Which listener a configuration is for: they differ in the protocols offered (ALPN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// HTTP/2 and HTTP/1.1.
    Http,
    /// HTTP/2 only (gRPC).
    Grpc,
}

/// What both listeners serve, replaced whole by a reload.
struct Current {
    http: Arc<rustls::ServerConfig>,
    grpc: Arc<rustls::ServerConfig>,
    stamps: Vec<Stamp>,
}

/// The TLS of a server.
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Current>,
    /// One reload at a time (SIGHUP and the watcher): the last to finish is the newest.
    reloading: std::sync::Mutex<()>,
}

impl Tls {
    /// Reads the files; an error names the file and what is wrong with it.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsError> {
        let current = build(&files)?;
        Ok(Tls {
            files,
            current: RwLock::new(current),
            reloading: std::sync::Mutex::new(()),
        })
    }

    /// Reads the files again; on success new connections get what they hold.
    pub fn reload(&self) -> Result<(), TlsError> {
        let _one = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        self.reload_locked().map_err(|(e, _)| e)
    }

    /// A reload under `reloading`; a failure comes with the stamps the files had before it
    /// read them (a file finished after the failed read is then still seen as changed).
    fn reload_locked(&self) -> Result<(), (TlsError, Vec<Stamp>)> {
        let before = stamps(&self.files);
        let next = build(&self.files).map_err(|e| (e, before))?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }

    /// Whether a file changed (its modification time or size) since the last load.
    pub fn changed(&self) -> bool {
        let now = stamps(&self.files);
        now != self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .stamps
    }

    fn config(&self, listener: Listener) -> Arc<rustls::ServerConfig> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        match listener {
            Listener::Http => current.http.clone(),
            Listener::Grpc => current.grpc.clone(),
        }
    }

    /// `conn`'s handshake with what serves now, within `timeout`.
    pub async fn accept(
        &self,
        listener: Listener,
        conn: Conn,
        timeout: Duration,
    ) -> io::Result<MaybeTls> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config(listener));
        match tokio::time::timeout(timeout, acceptor.accept(conn)).await {
            Ok(stream) => {
                let stream = stream?;
                let (conn, session) = stream.get_ref();
                if session.alpn_protocol() == Some(b"h2") {
                    conn.info().activity.set_http2();
                }
                Ok(MaybeTls::Tls(Box::new(stream)))
            }
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no TLS handshake within header_timeout_ms",
            )),
        }
    }

    /// Reloads whenever a file changes, until dropped (the task is the caller's to abort).
    pub async fn watch(self: Arc<Self>) {
        loop {
            tokio::time::sleep(WATCH_INTERVAL).await;
            if self.changed() {
                self.reload_and_log("a file changed");
            }
        }
    }

    /// Reloads and says in the log how it went (a failed reload keeps what was serving).
    pub fn reload_and_log(&self, why: &str) {
        let _one = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        match self.reload_locked() {
            Ok(()) => tracing::info!(why, cert = %self.files.cert.display(), "TLS reloaded"),
            Err((e, before)) => {
                // Stamped as they were before the failed read: the same broken files are not
                // read again every interval, and a write that ends after the read is seen.
                let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
                current.stamps = before;
                tracing::error!(why, error = %e, "TLS not reloaded; still serving what it had")
            }
        }
    }
}

/// What tells one version of a file from another: its inode (a renamed or swapped-in file,
/// as Kubernetes updates a Secret), its change and modification times (a copy that kept its
/// mtime still changes ctime) and its size.
type Stamp = Option<(u64, i64, i64, SystemTime, u64)>;

fn stamps(files: &TlsFiles) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt;
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        let m = std::fs::metadata(p).ok()?;
        Some((
            m.ino(),
            m.ctime(),
            m.ctime_nsec(),
            m.modified().ok()?,
            m.len(),
        ))
    })
    .collect()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::File {
            path: path.to_path_buf(),
            why: format!("not PEM certificates: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: path.to_path_buf(),
            why: "holds no PEM certificate".into(),
        });
    }
    Ok(certs)
}

fn build(files: &TlsFiles) -> Result<Current, TlsError> {
    let stamps = stamps(files);
    let chain = certificates(&files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?).map_err(|e| TlsError::File {
        path: files.key.clone(),
        why: format!("no PEM private key: {e}"),
    })?;
    // ring: it builds with a C compiler alone (aws-lc-rs, rustls' default, needs CMake);
    // rustls deprecates it for having no post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|e| TlsError::File {
                    path: ca.clone(),
                    why: format!("not a CA certificate: {e}"),
                })?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::File {
            path: files.key.clone(),
            why: format!("does not fit the certificate: {e}"),
        })?;
    let with_alpn = |protocols: &[&[u8]]| {
        let mut c = config.clone();
        c.alpn_protocols = protocols.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    };
    Ok(Current {
        http: with_alpn(&[b"h2", b"http/1.1"]),
        grpc: with_alpn(&[b"h2"]),
        stamps,
    })
}

/// An admitted connection, in TLS or not: what both listeners serve.
pub enum MaybeTls {
    Plain(Conn),
    Tls(Box<TlsStream<Conn>>),
}

impl MaybeTls {
    /// The connection under TLS.
    pub fn conn(&self) -> &Conn {
        match self {
            MaybeTls::Plain(c) => c,
            MaybeTls::Tls(s) => s.get_ref().0,
        }
    }

    /// The connection as served, in TLS when `tls` is given.
    pub async fn accept(
        conn: Conn,
        tls: Option<Arc<Tls>>,
        listener: Listener,
        timeout: Duration,
    ) -> io::Result<MaybeTls> {
        match tls {
            None => Ok(MaybeTls::Plain(conn)),
            Some(tls) => tls.accept(listener, conn, timeout).await,
        }
    }
}

impl tonic::transport::server::Connected for MaybeTls {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        self.conn().info()
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(c) => Pin::new(c).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(c) => Pin::new(c).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(c) => Pin::new(c).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(c) => Pin::new(c).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(c) => Pin::new(c).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(c) => c.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }
}
