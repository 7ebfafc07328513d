//! `[store]`: where the data and the audit key live.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where data is kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite database file. Default `var/civitas.db`. Unused when `url` is set.
    #[serde(default = "default_db")]
    pub path: PathBuf,
    /// A PostgreSQL server instead of the SQLite file:
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`. The store that
    /// `civitas serve`, every `civitas worker` and `civitas run` share at
    /// scale. Default: none (SQLite at `path`).
    #[serde(default)]
    pub url: Option<String>,
    /// The audit log's Ed25519 signing key (created by `civitas init`, mode 0600).
    /// Keep it off the database's disk if you can. Default `var/keys/audit-ed25519.key`.
    #[serde(default = "default_key")]
    pub audit_key: PathBuf,
    /// A witness file: every new signed head of the audit log is appended
    /// here as it is made (checked to extend the one before), so a log cut
    /// back or rewritten in the database is caught by `civitas audit verify
    /// --witness FILE`. Put it on another disk or mount than the database.
    /// Default: none.
    #[serde(default)]
    pub audit_witness: Option<PathBuf>,
    /// Lets `url` reach PostgreSQL on another machine without
    /// `sslmode=verify-full` (a private link the operator controls).
    /// Default false: such a URL is refused.
    #[serde(default)]
    pub allow_plaintext: bool,
}

fn default_db() -> PathBuf {
    PathBuf::from("var/civitas.db")
}

fn default_key() -> PathBuf {
    PathBuf::from("var/keys/audit-ed25519.key")
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_db(),
            url: None,
            audit_key: default_key(),
            audit_witness: None,
            allow_plaintext: false,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<()> {
        if let Some(url) = &self.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return bad(
                "store.url",
                "must start with postgres:// (or postgresql://); for SQLite set `path` instead"
                    .into(),
            );
        }
        if let Some(url) = &self.url
            && unverified_to_network(url)
            && !self.allow_plaintext
        {
            return bad(
                "store.url",
                "reaches PostgreSQL on another machine without sslmode=verify-full: add ?sslmode=verify-full (and sslrootcert=CA-FILE for a private CA), or set allow_plaintext = true on a link you control"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Whether a PostgreSQL URL reaches another machine without TLS that
/// verifies the server's certificate and name (`sslmode=verify-full`). A
/// Unix socket (no host, or a `host=/path` parameter) and loopback are this
/// machine. Read as the driver reads it, and refused when it cannot be read
/// one way only: a fragment (`#`), a parameter given twice or in another
/// case or spelling (`SSLMODE`, `ssl-mode`), and `hostaddr` count as
/// reaching another machine in clear; without a host in the URL, the
/// `PGHOST` and `PGSSLMODE` the driver would read decide.
pub fn unverified_to_network(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if rest.contains('#') {
        return true;
    }
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (k, _) in &pairs {
        let folded = k.to_ascii_lowercase().replace('-', "");
        let sensitive = ["sslmode", "host", "hostaddr"].contains(&folded.as_str());
        if sensitive && (!seen.insert(folded.clone()) || *k != folded || folded == "hostaddr") {
            return true;
        }
    }
    let param = |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let host = param("host")
        .map(str::to_owned)
        .or_else(|| crate::webhook::host_of(rest).map(str::to_owned))
        .or_else(|| env("PGHOST"));
    let local = match host.as_deref() {
        None => true,
        Some(h) => h.starts_with('/') || h.starts_with("%2F") || crate::webhook::is_loopback(h),
    };
    let mode = param("sslmode")
        .map(str::to_owned)
        .or_else(|| env("PGSSLMODE"));
    !local && mode.as_deref() != Some("verify-full")
}

#[cfg(test)]
mod tests {
    use super::unverified_to_network as unverified;

    #[test]
    fn postgres_on_another_machine_needs_verify_full() {
        for url in [
            "postgres://civitas:pw@db.example/civitas",
            "postgres://civitas@10.0.0.5:5432/civitas?sslmode=require",
            "postgresql://u:p@w@[2001:db8::5]/c?sslmode=verify-ca",
            "postgres://u@/c?host=db.example",
            // Read differently by the driver than at a glance.
            "postgres://u@db.example/c?SSLMODE=verify-full",
            "postgres://u@db.example/c?sslmode=verify-full&sslmode=disable",
            "postgres://u@db.example/c?sslmode=verify-full&ssl-mode=disable",
            "postgres://u@db.example/c#?sslmode=verify-full",
            "postgres://u@localhost/c?hostaddr=203.0.113.9",
            "postgres://u@localhost/c?HOST=db.example",
        ] {
            assert!(unverified(url), "{url}");
        }
        for url in [
            "postgres://civitas@db.example/civitas?sslmode=verify-full&sslrootcert=/etc/ca.crt",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@localhost/c?sslmode=disable",
            "postgres://u@[::1]/c",
            "postgres:///civitas",
            "postgres://u@%2Fvar%2Frun%2Fpostgresql/c",
            "postgres://u@/c?host=/var/run/postgresql",
        ] {
            assert!(!unverified(url), "{url}");
        }
    }
}
