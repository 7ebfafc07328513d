//! `[api]`: where the command centre listens, and its limits.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};

/// The HTTP service: the command centre (API and web console) and snapshot push.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port to listen on. Default `127.0.0.1:8080` (this machine only).
    pub listen: String,
    /// Largest snapshot a push camera may upload, in bytes. Default 8 MiB.
    pub max_snapshot_bytes: usize,
    /// Largest snapshot width or height, in pixels. Default 8192.
    pub max_snapshot_side: u32,
    /// A console session unused this long ends, in minutes. Default 30.
    pub session_idle_minutes: u32,
    /// Mark the session cookie `Secure` (serve over HTTPS, e.g. behind a reverse proxy). Default false; always on with `tls_cert`.
    pub secure_cookie: bool,
    /// PEM certificate chain: with `tls_key`, the service speaks HTTPS only. Default none.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of `tls_cert`. Default none.
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve plain HTTP on an address other machines can reach (only behind
    /// a TLS-terminating proxy). Default false: such a `listen` without
    /// `tls_cert` is refused.
    pub allow_plaintext: bool,
    /// Reverse proxies (IP addresses) whose `X-Forwarded-For` header names
    /// the client for login throttling. Default none: the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            max_snapshot_bytes: 8 << 20,
            max_snapshot_side: 8192,
            session_idle_minutes: 30,
            secure_cookie: false,
            tls_cert: None,
            tls_key: None,
            allow_plaintext: false,
            trusted_proxies: Vec::new(),
        }
    }
}

impl ApiConfig {
    /// Whether the service speaks HTTPS itself.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Whether plain HTTP is served where other machines can reach it
    /// (allowed with `allow_plaintext`, and warned of at start).
    pub fn plaintext_on_network(&self) -> bool {
        !self.tls()
            && self
                .listen
                .parse::<std::net::SocketAddr>()
                .is_ok_and(|a| !a.ip().is_loopback())
    }

    pub fn validate(&self) -> Result<()> {
        let Ok(addr) = self.listen.parse::<std::net::SocketAddr>() else {
            return bad(
                "api.listen",
                format!("{:?} is not an address:port", self.listen),
            );
        };
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return bad("api.tls_key", "is required with tls_cert".into()),
            (None, Some(_)) => return bad("api.tls_cert", "is required with tls_key".into()),
            _ => {}
        }
        if !addr.ip().is_loopback() && !self.tls() && !self.allow_plaintext {
            let why = "is reachable from other machines, and names, faces and passwords would cross the network in clear: set tls_cert and tls_key (HTTPS), or allow_plaintext = true behind a TLS-terminating proxy";
            return bad("api.listen", format!("{} {why}", self.listen));
        }
        if self.max_snapshot_bytes < 1024 {
            return bad("api.max_snapshot_bytes", "must be at least 1024".into());
        }
        if !(1..=24 * 60).contains(&self.session_idle_minutes) {
            return bad("api.session_idle_minutes", "must be within 1..1440".into());
        }
        if !(16..=32768).contains(&self.max_snapshot_side) {
            return bad("api.max_snapshot_side", "must be within 16..32768".into());
        }
        Ok(())
    }
}
