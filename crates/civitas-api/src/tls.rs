//! HTTPS: the command centre serves TLS itself (rustls with the ring
//! provider, TLS 1.2 and 1.3, HTTP/1.1), from a PEM certificate
//! chain and key the operator supplies. Handshakes run in their own tasks
//! with a deadline, so a client that connects and says nothing holds up no
//! one else; plain HTTP and HTTPS alike have connection limits and an idle
//! timeout ([`Listener`]). Civitas's own outgoing requests (webhooks, a remote audit
//! witness) speak HTTPS too, verifying the server against the operator's
//! CA file or, without one, the system's trusted roots.

use civitas_base::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Reads a PEM certificate chain and private key into a server config.
/// Errors name the file and what is wrong with it.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<std::result::Result<_, _>>())
        .map_err(|e| pem_error("api.tls_cert", cert, e))?;
    if chain.is_empty() {
        return Err(Error::invalid(format!(
            "api.tls_cert {}: holds no PEM certificate",
            cert.display()
        )));
    }
    refuse_readable_by_others(key)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error("api.tls_key", key, e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            Error::invalid(format!(
                "api.tls_cert and api.tls_key: the key does not fit the certificate or is unusable ({e})"
            ))
        })?;
    // HTTP/1.1 only: the service is built without HTTP/2, and a browser
    // offered h2 here would speak it to a server that cannot.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A private key others on the machine can read is refused, as the
/// audit key is.
fn refuse_readable_by_others(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path)
            && m.permissions().mode() & 0o077 != 0
        {
            return Err(Error::invalid(format!(
                "api.tls_key {}: readable by group or others (mode {:o}); chmod 600 it",
                path.display(),
                m.permissions().mode() & 0o777
            )));
        }
    }
    Ok(())
}

fn pem_error(field: &str, path: &Path, e: rustls::pki_types::pem::Error) -> Error {
    let why = match e {
        rustls::pki_types::pem::Error::Io(e) => format!("cannot read ({e})"),
        rustls::pki_types::pem::Error::NoItemsFound => {
            "holds no PEM item of the expected kind".into()
        }
        e => format!("is not valid PEM ({e:?})"),
    };
    Error::invalid(format!("{field} {}: {why}", path.display()))
}

/// Open connections at most, over all clients (each holds a file
/// descriptor the cameras and the database also need).
pub const MAX_CONNECTIONS: usize = 512;
/// Open connections at most from one address (a browser opens six or so).
pub const MAX_PER_ADDRESS: usize = 64;

/// What one "address" is for [`MAX_PER_ADDRESS`]: an IPv4 address, or an
/// IPv6 /64 (one host commonly holds a whole /64).
fn address_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.into(),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                std::net::Ipv6Addr::from(prefix).into()
            }
        },
        v4 => v4,
    }
}

/// Bytes a client must send to restart the idle clock by itself (a
/// response going out always restarts it): a header trickled a byte a
/// minute does not hold a place.
pub const READ_CREDIT: usize = 4096;

/// Open connections per client address; a [`Slot`] gives its place back on drop.
#[derive(Debug, Default)]
struct PerAddress(std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>);

impl PerAddress {
    fn take(self: &Arc<Self>, ip: std::net::IpAddr, proxy: bool) -> Option<Slot> {
        let ip = address_key(ip);
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_default();
        if *n >= MAX_PER_ADDRESS && !proxy {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

/// One connection's place in the limits, held as long as the connection.
#[derive(Debug)]
struct Slot(Arc<PerAddress>, std::net::IpAddr);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// How long a connection may go without an answer going out (or
/// [`READ_CREDIT`] bytes of request coming in) before it is closed: between
/// requests, a client that stops reading, or one that trickles its request.
/// The live stream sends a keep-alive every 15 s, so it stays open.
pub const IDLE: Duration = Duration::from_secs(60);

/// A connection's byte stream: TLS, or plain TCP on loopback or behind a proxy.
#[derive(Debug)]
enum Io {
    Tls(Box<TlsStream<TcpStream>>),
    Plain(TcpStream),
}

/// A connection holding its places in the connection limits, closed after
/// [`IDLE`] without a response byte going out or [`READ_CREDIT`] bytes
/// coming in.
#[derive(Debug)]
pub struct Connection {
    io: Io,
    idle: std::pin::Pin<Box<tokio::time::Sleep>>,
    quiet: Duration,
    /// Bytes read since the idle clock last restarted.
    read: usize,
    _slots: (Slot, tokio::sync::OwnedSemaphorePermit),
}

type Polled<T> = std::task::Poll<std::io::Result<T>>;

impl Connection {
    fn new(io: Io, slots: (Slot, tokio::sync::OwnedSemaphorePermit), idle: Duration) -> Connection {
        Connection {
            io,
            idle: Box::pin(tokio::time::sleep(idle)),
            quiet: idle,
            read: 0,
            _slots: slots,
        }
    }

    /// After a step of I/O: progress (a write, or enough read) restarts
    /// the idle clock; waiting past it ends the connection.
    fn after<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        r: Polled<T>,
        moved: bool,
    ) -> Polled<T> {
        use std::future::Future;
        use std::task::Poll;
        match r {
            Poll::Ready(r) => {
                if moved {
                    self.read = 0;
                    let next = tokio::time::Instant::now() + self.quiet;
                    self.idle.as_mut().reset(next);
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.idle.as_mut().poll(cx).is_ready() => {
                let idle = std::io::Error::new(std::io::ErrorKind::TimedOut, "connection idle");
                Poll::Ready(Err(idle))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

macro_rules! both {
    ($io:expr, $io_ref:ident => $e:expr) => {
        match $io {
            Io::Tls($io_ref) => {
                let $io_ref = std::pin::Pin::new(&mut **$io_ref);
                $e
            }
            Io::Plain($io_ref) => {
                let $io_ref = std::pin::Pin::new($io_ref);
                $e
            }
        }
    };
}

impl tokio::io::AsyncRead for Connection {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Polled<()> {
        let before = buf.filled().len();
        let r = both!(&mut self.io, io => io.poll_read(cx, buf));
        self.read += buf.filled().len() - before;
        let moved = self.read >= READ_CREDIT;
        self.after(cx, r, moved)
    }
}

impl tokio::io::AsyncWrite for Connection {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Polled<usize> {
        let r = both!(&mut self.io, io => io.poll_write(cx, buf));
        let moved = matches!(r, std::task::Poll::Ready(Ok(n)) if n > 0);
        self.after(cx, r, moved)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Polled<()> {
        let r = both!(&mut self.io, io => io.poll_flush(cx));
        self.after(cx, r, false)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Polled<()> {
        both!(&mut self.io, io => io.poll_shutdown(cx))
    }
}

/// The API's listener. It hands axum connections whose TLS handshake
/// succeeded (for [`Listener::tls`]) or plain ones ([`Listener::plain`]);
/// failed handshakes (a plain HTTP request, a scanner, a client that does
/// not trust the certificate) are logged at debug level and dropped. A
/// connection over [`MAX_CONNECTIONS`], or over [`MAX_PER_ADDRESS`] from
/// its address, is closed at once, before its handshake; one idle for
/// [`IDLE`] is closed.
#[derive(Debug)]
pub struct Listener {
    rx: mpsc::Receiver<(Connection, SocketAddr)>,
    local: SocketAddr,
}

impl Listener {
    /// HTTPS with `config`.
    pub fn tls(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        Self::new(tcp, Some(config), IDLE, Vec::new())
    }

    /// Plain HTTP (loopback, or a TLS proxy in front), with the same limits.
    pub fn plain(tcp: TcpListener) -> std::io::Result<Self> {
        Self::new(tcp, None, IDLE, Vec::new())
    }

    /// HTTPS with `config` or, without, plain HTTP; connections closed after
    /// `idle`. Connections from `proxies` (the trusted reverse proxies,
    /// through which every client comes) are held to [`MAX_CONNECTIONS`]
    /// only, not [`MAX_PER_ADDRESS`].
    pub fn new(
        tcp: TcpListener,
        config: Option<Arc<rustls::ServerConfig>>,
        idle: Duration,
        proxies: Vec<std::net::IpAddr>,
    ) -> std::io::Result<Self> {
        let acceptor = config.map(TlsAcceptor::from);
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let per_address = Arc::new(PerAddress::default());
        tokio::spawn(async move {
            loop {
                let (sock, peer) = tokio::select! {
                    c = tcp.accept() => match c {
                        Ok(c) => c,
                        Err(e) => {
                            // Out of file descriptors and the like: wait, do not spin.
                            tracing::warn!(error = %e, "accepting a connection");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    // The listener was dropped: free the port.
                    _ = tx.closed() => break,
                };
                let (Some(slot), Ok(permit)) = (
                    per_address.take(peer.ip(), proxies.contains(&peer.ip())),
                    open.clone().try_acquire_owned(),
                ) else {
                    tracing::debug!(%peer, "connection limit reached; closed");
                    continue;
                };
                let Some(acceptor) = acceptor.clone() else {
                    let c = Connection::new(Io::Plain(sock), (slot, permit), idle);
                    if tx.send((c, peer)).await.is_err() {
                        break;
                    }
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(sock)).await {
                        Ok(Ok(io)) => {
                            let c = Connection::new(Io::Tls(Box::new(io)), (slot, permit), idle);
                            let _ = tx.send((c, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Listener { rx, local })
    }
}

impl axum::serve::Listener for Listener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accepting task ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// What outgoing HTTPS trusts: the certificates in `ca_file` (PEM; a
/// private CA) or, without one, the system's roots. Errors name the file.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(f) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(f)
                .and_then(|it| it.collect::<std::result::Result<_, _>>())
                .map_err(|e| pem_error("ca_file", f, e))?;
            for c in certs {
                roots.add(c).map_err(|e| {
                    Error::invalid(format!(
                        "ca_file {}: not a usable CA certificate ({e})",
                        f.display()
                    ))
                })?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    match ca_file {
        Some(f) if roots.is_empty() => {
            return Err(Error::invalid(format!(
                "ca_file {}: holds no certificate",
                f.display()
            )));
        }
        // No system roots: plain `http://` still works, and `https://` is
        // refused at the handshake (see [`check_roots`] for start-up).
        _ => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // ALPN (HTTP/1.1) is set by the connector.
    Ok(Arc::new(cfg))
}

/// Refuses, in words, to go on with `https://` when nothing would be
/// trusted: no `ca_file` and no root certificates on this system.
pub fn check_roots(ca_file: Option<&Path>) -> Result<()> {
    if ca_file.is_none() && rustls_native_certs::load_native_certs().certs.is_empty() {
        return Err(Error::invalid(
            "no trusted root certificates on this system: install ca-certificates, or set ca_file",
        ));
    }
    client_config(ca_file).map(|_| ())
}

/// An error with its causes (`client error (Connect): invalid peer
/// certificate: UnknownIssuer`): a client's own message says only that it
/// failed.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}

/// An HTTP client for Civitas's own requests: `http://` as before, and
/// `https://` verified by `tls` (see [`client_config`]).
pub type Client<B> = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    B,
>;

/// A [`Client`] whose connections time out after `connect_timeout`.
pub fn client<B>(tls: Arc<rustls::ClientConfig>, connect_timeout: Duration) -> Client<B>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
{
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https)
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn an_ipv6_host_counts_as_its_64_and_a_mapped_v4_as_itself() {
        let k = |s: &str| address_key(s.parse().unwrap()).to_string();
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(k("10.0.0.1"), "10.0.0.1");
    }
}
