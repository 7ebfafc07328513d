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
    /// Mark the session cookie `Secure` (serve over HTTPS, e.g. behind a reverse proxy). Default false.
    pub secure_cookie: bool,
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
            trusted_proxies: Vec::new(),
        }
    }
}

impl ApiConfig {
    pub fn validate(&self) -> Result<()> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "api.listen",
                format!("{:?} is not an address:port", self.listen),
            );
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
