//! Test support: certificates made by Debian's `openssl` for the TLS tests
//! (the API over HTTPS, PostgreSQL and NATS over TLS). Not for production.
#![doc(hidden)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `cmd`, failing the test with its stderr if it fails.
pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .expect("the program is installed (scripts/setup)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed: {err}");
}

/// Extensions of a CA that signs certificates.
pub const CA: &[&str] = &[
    "basicConstraints=critical,CA:TRUE",
    "keyUsage=critical,keyCertSign",
];

/// Extensions of a server's certificate for `alt` (`DNS:localhost`, `IP:127.0.0.1`).
pub fn server(alt: &str) -> Vec<String> {
    vec![
        "basicConstraints=critical,CA:FALSE".into(),
        "extendedKeyUsage=serverAuth".into(),
        format!("subjectAltName={alt}"),
    ]
}

/// What a private server's TLS test needs, in `dir`: a CA (`ca.crt`), a
/// CA that signed nothing of this server's (`other-ca.crt`), and
/// `NAME.crt`/`NAME.key` for `localhost` signed by the first. Returns the
/// server's (certificate, key).
pub fn localhost_pki(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    certificate(dir, "ca", "/CN=civitas-test-ca", None, CA);
    certificate(dir, "other-ca", "/CN=someone-else", None, CA);
    certificate(
        dir,
        name,
        "/CN=localhost",
        Some("ca"),
        &server("DNS:localhost"),
    )
}

/// A TCP port free on loopback now (for a server a test starts).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port()
}

/// Waits up to 10 s for something to listen on loopback `port`.
pub fn wait_for_port(port: u16, what: &str) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{what} did not start listening on port {port}");
}

/// Makes `dir/NAME.key` (P-256) and `dir/NAME.crt` for `subject`, valid a
/// day, with extensions `ext`, signed by `dir/CA.key` when `ca` is given and
/// by itself otherwise. Returns (certificate, key).
pub fn certificate<S: AsRef<str>>(
    dir: &Path,
    name: &str,
    subject: &str,
    ca: Option<&str>,
    ext: &[S],
) -> (PathBuf, PathBuf) {
    let lines: Vec<&str> = ext.iter().map(|e| e.as_ref()).collect();
    std::fs::write(dir.join(format!("{name}.ext")), lines.join("\n") + "\n").unwrap();
    let openssl = || {
        let mut c = Command::new("openssl");
        c.current_dir(dir);
        c
    };
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    run(openssl()
        .args(["req", "-new", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-subj", subject])
        .args(["-keyout", &key, "-out", &csr]));
    let mut sign = openssl();
    sign.args(["x509", "-req", "-days", "1", "-in", &csr, "-out", &crt]);
    sign.args(["-extfile", &format!("{name}.ext")]);
    match ca {
        Some(ca) => sign.args(["-CA", &format!("{ca}.crt"), "-CAkey", &format!("{ca}.key")]),
        None => sign.args(["-key", &key]),
    };
    run(&mut sign);
    (dir.join(crt), dir.join(key))
}
