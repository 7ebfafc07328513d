//! HTTPS as a client meets it: the service speaks TLS with the operator's
//! certificate, marks every answer `Strict-Transport-Security` and (unless
//! the route says otherwise) `Cache-Control: no-store`, answers nothing to
//! plain HTTP on its TLS port, is not held up by a client that connects and
//! says nothing, and refuses a certificate and key that do not fit, naming
//! the file. Certificates are made by Debian's `openssl`.

mod common;

use common::certificate;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Starts the API (no command centre: enough for headers) over TLS.
async fn start(cert: &Path, key: &Path) -> std::net::SocketAddr {
    let cfg = civitas_api::tls::server_config(cert, key).unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener = civitas_api::tls::Listener::tls(tcp, cfg).unwrap();
    let addr = axum::serve::Listener::local_addr(&listener).unwrap();
    let (app, _) = civitas_api::router(civitas_api::ApiState::default());
    tokio::spawn(civitas_api::serve(listener, app, std::future::pending()));
    addr
}

/// One HTTP/1.1 request over TLS, trusting only `cert`; the answer's head.
async fn get_tls(addr: std::net::SocketAddr, cert: &Path, path: &str) -> String {
    try_tls(addr, cert, path)
        .await
        .expect("the TLS handshake succeeds with the operator's certificate")
}

/// The same, or the handshake's error.
async fn try_tls(addr: std::net::SocketAddr, cert: &Path, path: &str) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::from(addr.ip());
    let mut tls = tokio_rustls::TlsConnector::from(client_trusting(cert))
        .connect(name, tcp)
        .await?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_lowercase();
    Ok(text.split("\r\n\r\n").next().unwrap_or("").to_owned())
}

use rustls::pki_types::pem::PemObject;

/// A TLS client trusting only `cert`, offering h2 and HTTP/1.1 as browsers
/// do (the server must not pick a protocol it cannot speak).
fn client_trusting(cert: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(cfg)
}

#[tokio::test]
async fn https_is_served_with_hsts_and_no_store_and_plain_http_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "a");
    let addr = start(&cert, &key).await;

    // A client that connects and never speaks holds up no one.
    let _idle = TcpStream::connect(addr).await.unwrap();

    // (Handshakes wait up to 10 s; this answer must come well before.)
    let api = tokio::time::timeout(
        Duration::from_secs(5),
        get_tls(addr, &cert, "/api/v1/candidates"),
    )
    .await
    .expect("an idle client held up the next one");
    assert!(api.starts_with("http/1.1 "), "{api}");
    assert!(
        api.contains("strict-transport-security: max-age=31536000"),
        "{api}"
    );
    assert!(api.contains("cache-control: no-store"), "{api}");
    let page = get_tls(addr, &cert, "/").await;
    assert!(page.contains("strict-transport-security"), "{page}");

    // Plain HTTP on the TLS port: no HTTP answer at all.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"GET /api/v1/candidates HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(
        !String::from_utf8_lossy(&buf).contains("HTTP/1.1"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&buf)
    );

    // A client that trusts another certificate refuses this server.
    let (other, _) = certificate(dir.path(), "b");
    let e = try_tls(addr, &other, "/").await.unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
}

/// A client opening connections and saying nothing would hold the
/// service's file descriptors (the cameras and the database need them too):
/// one address holds at most `MAX_PER_ADDRESS`; past them a connection is
/// closed before its handshake, and once they close the next one gets in.
#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "a");
    let addr = start(&cert, &key).await;
    let mut idle = Vec::new();
    for _ in 0..civitas_api::tls::MAX_PER_ADDRESS {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = try_tls(addr, &cert, "/").await;
    assert!(
        refused.is_err(),
        "a connection past the limit was served: {refused:?}"
    );
    drop(idle);
    // The server notices the closes as they come (no fixed wait on a busy machine).
    let mut page = Err(std::io::Error::other("not tried"));
    for _ in 0..50 {
        page = try_tls(addr, &cert, "/").await;
        if page.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = page.expect("served once the idle connections closed");
    assert!(page.starts_with("http/1.1 200"), "{page}");
}

/// Plain HTTP has the same limits as HTTPS, and a connection of either
/// that goes quiet (after its handshake, or mid-request) is closed, while
/// one that keeps asking is served throughout.
#[tokio::test]
async fn quiet_connections_close_and_plain_http_has_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "a");
    let idle = Duration::from_millis(800);
    let listen = |tls: Option<std::sync::Arc<rustls::ServerConfig>>| async move {
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = civitas_api::tls::Listener::new(tcp, tls, idle, Vec::new()).unwrap();
        let addr = axum::serve::Listener::local_addr(&listener).unwrap();
        let (app, _) = civitas_api::router(civitas_api::ApiState::default());
        tokio::spawn(civitas_api::serve(listener, app, std::future::pending()));
        addr
    };
    let plain = listen(None).await;
    let tls = listen(Some(civitas_api::tls::server_config(&cert, &key).unwrap())).await;
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    // Half a request, then a byte every 300 ms (slowloris): closed after
    // `idle`, not held.
    let mut half = TcpStream::connect(plain).await.unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
    let mut buf = [0u8; 64];
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if half.write_all(b"x").await.is_err() {
                return true;
            }
            let peek = tokio::time::timeout(Duration::from_millis(1), half.peek(&mut buf)).await;
            if matches!(peek, Ok(Ok(0)) | Ok(Err(_))) {
                return true;
            }
        }
        false
    };
    assert!(
        trickle.await,
        "a trickled request held its connection for 6 s"
    );
    // A finished TLS handshake, then silence: closed too.
    let connector = tokio_rustls::TlsConnector::from(client_trusting(&cert));
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut quiet = connector
        .connect(name.clone(), TcpStream::connect(tls).await.unwrap())
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), quiet.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");

    // Talking keeps a connection open past `idle`: three requests, 500 ms apart.
    let mut busy = connector
        .connect(name, TcpStream::connect(tls).await.unwrap())
        .await
        .unwrap();
    for _ in 0..3 {
        busy.write_all(request).await.unwrap();
        let n = busy.read(&mut buf).await.unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        let mut rest = [0u8; 65536];
        let _ = tokio::time::timeout(Duration::from_millis(100), busy.read(&mut rest)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // One address holds at most MAX_PER_ADDRESS plain connections.
    let mut held = Vec::new();
    for _ in 0..civitas_api::tls::MAX_PER_ADDRESS {
        held.push(TcpStream::connect(plain).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut over = TcpStream::connect(plain).await.unwrap();
    let _ = over.write_all(request).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), over.read(&mut buf)).await;
    assert!(
        matches!(answer, Ok(Ok(0)) | Ok(Err(_))),
        "served past the limit: {answer:?}"
    );
}

#[test]
fn a_missing_or_mismatched_certificate_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = certificate(dir.path(), "a");
    let (_, other_key) = certificate(dir.path(), "b");
    let e = civitas_api::tls::server_config(&cert, &other_key).unwrap_err();
    assert!(e.message().contains("does not fit"), "{}", e.message());
    let missing = dir.path().join("nope.crt");
    let e = civitas_api::tls::server_config(&missing, &other_key).unwrap_err();
    assert!(
        e.message().contains("api.tls_cert") && e.message().contains("nope.crt"),
        "{}",
        e.message()
    );
    let e = civitas_api::tls::server_config(&other_key, &other_key).unwrap_err();
    assert!(e.message().contains("api.tls_cert"), "{}", e.message());
    // A key others on the machine can read is refused, as the audit key is.
    let (cert, key) = certificate(dir.path(), "c");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = civitas_api::tls::server_config(&cert, &key).unwrap_err();
    assert!(
        e.message().contains("readable by group or others"),
        "{}",
        e.message()
    );
}
