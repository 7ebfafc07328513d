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
        Ok(())
    }
}
