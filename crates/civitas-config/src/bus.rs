//! `[bus]`: NATS JetStream between workers and the command centre, at scale.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The bus between workers and the store writer. `civitas run` (one
/// machine) always uses the in-process bus; `civitas worker` and
/// `civitas serve` use NATS JetStream with these settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// NATS server. Default `nats://127.0.0.1:4222`.
    pub nats_url: String,
    /// Prefix of this deployment's streams, buckets and subjects (letters,
    /// digits, `_`, `-`), so several deployments or test runs share a server
    /// without colliding. Default `civitas`.
    pub namespace: String,
    /// How often a worker says it is alive, in ms. Default 1000.
    pub heartbeat_ms: u64,
    /// A worker not heard from for this long is dead and its cameras move, in ms.
    /// Default 5000; at least three heartbeats.
    pub lease_ms: u64,
    /// CA certificate (PEM) the NATS server's certificate must chain to;
    /// set, TLS is required. Default none (with `tls://`: the system's roots).
    pub tls_ca: Option<PathBuf>,
    /// This process's user on the NATS server: a worker's or serve's, each
    /// with its role's permissions (`civitas bus permissions`). Default none.
    pub user: Option<String>,
    /// File holding `user`'s password (first line). Default none.
    pub password_file: Option<PathBuf>,
    /// Lets `nats_url` reach another machine without TLS or without a user
    /// (a private link the operator controls). Default false: refused.
    pub allow_plaintext: bool,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            nats_url: "nats://127.0.0.1:4222".into(),
            namespace: "civitas".into(),
            heartbeat_ms: 1000,
            lease_ms: 5000,
            tls_ca: None,
            user: None,
            password_file: None,
            allow_plaintext: false,
        }
    }
}

impl BusConfig {
    pub fn validate(&self) -> Result<()> {
        if self.namespace.is_empty()
            || !self
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad(
                "bus.namespace",
                format!(
                    "{:?}: use letters, digits, '_' and '-' only",
                    self.namespace
                ),
            );
        }
        let Some(rest) = ["nats://", "tls://"]
            .iter()
            .find_map(|s| self.nats_url.strip_prefix(s))
        else {
            return bad(
                "bus.nats_url",
                format!("{:?} must start with nats:// or tls://", self.nats_url),
            );
        };
        let token = |u: &str| {
            u.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if let Some(user) = &self.user
            && !((1..=64).contains(&user.len()) && token(user))
        {
            return bad(
                "bus.user",
                format!("{user:?}: 1 to 64 letters, digits, '_' and '-'"),
            );
        }
        if self.user.is_some() != self.password_file.is_some() {
            return bad(
                "bus.user",
                "set both user and password_file, or neither".into(),
            );
        }
        let remote = crate::webhook::host_of(rest).is_some_and(|h| !crate::webhook::is_loopback(h));
        let tls = self.tls_ca.is_some() || self.nats_url.starts_with("tls://");
        if remote && !(tls && self.user.is_some()) && !self.allow_plaintext {
            return bad(
                "bus.nats_url",
                format!(
                    "{} is another machine: use tls:// (or tls_ca) and a user with password_file, or allow_plaintext = true on a link you control",
                    self.nats_url
                ),
            );
        }
        if self.heartbeat_ms < 50 || self.lease_ms < 3 * self.heartbeat_ms {
            return bad(
                "bus.lease_ms",
                format!(
                    "{} ms with heartbeat_ms {}: the lease must be at least three heartbeats, and a heartbeat at least 50 ms",
                    self.lease_ms, self.heartbeat_ms
                ),
            );
        }
        Ok(())
    }
}

impl BusConfig {
    /// The password of `user`, from `password_file` (its first line).
    pub fn password(&self) -> Result<Option<String>> {
        let Some(file) = &self.password_file else {
            return Ok(None);
        };
        let bad = |why: String| {
            civitas_base::Error::invalid(format!("bus.password_file {}: {why}", file.display()))
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(m) = std::fs::metadata(file)
                && m.permissions().mode() & 0o077 != 0
            {
                let mode = m.permissions().mode() & 0o777;
                return Err(bad(format!(
                    "readable by group or others (mode {mode:o}); chmod 600 it"
                )));
            }
        }
        let text = std::fs::read_to_string(file).map_err(|e| bad(e.to_string()))?;
        Ok(Some(text.lines().next().unwrap_or("").to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::BusConfig;

    #[test]
    fn a_bus_on_another_machine_needs_tls_and_a_user() {
        let with = |url: &str, tls: bool, user: bool| BusConfig {
            nats_url: url.into(),
            tls_ca: tls.then(|| "ca.crt".into()),
            user: user.then(|| "worker".into()),
            password_file: user.then(|| "pw".into()),
            ..Default::default()
        };
        for (url, tls, user) in [
            ("nats://10.0.0.4:4222", false, false),
            ("nats://bus.example:4222", true, false),
            ("nats://bus.example:4222", false, true),
        ] {
            let e = with(url, tls, user).validate().unwrap_err().to_string();
            assert!(e.contains("bus.nats_url") && e.contains("tls://"), "{e}");
        }
        for (url, tls, user) in [
            ("nats://127.0.0.1:4222", false, false),
            ("tls://bus.example:4222", false, true),
            ("nats://bus.example:4222", true, true),
        ] {
            with(url, tls, user).validate().unwrap();
        }
        let mut open = with("nats://10.0.0.4:4222", false, false);
        open.allow_plaintext = true;
        open.validate().unwrap();
        let half = BusConfig {
            user: Some("worker".into()),
            ..Default::default()
        };
        assert!(
            half.validate()
                .unwrap_err()
                .to_string()
                .contains("password_file")
        );
        // The password file is the process's own: 0600 read, 0644 refused.
        use std::os::unix::fs::PermissionsExt;
        let file = std::env::temp_dir().join(format!("civitas-bus-pw-{}", std::process::id()));
        std::fs::write(&file, "a-long-bus-password\nignored\n").unwrap();
        let mut cfg = with("tls://bus.example:4222", false, true);
        cfg.password_file = Some(file.clone());
        for (mode, ok) in [(0o600, true), (0o644, false)] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            match cfg.password() {
                Ok(p) => assert!(ok && p.as_deref() == Some("a-long-bus-password")),
                Err(e) => assert!(!ok && e.to_string().contains("chmod 600"), "{e}"),
            }
        }
        let _ = std::fs::remove_file(file);
    }
}
