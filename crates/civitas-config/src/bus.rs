//! `[bus]`: NATS JetStream between workers and the command centre, at scale.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};

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
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            nats_url: "nats://127.0.0.1:4222".into(),
            namespace: "civitas".into(),
            heartbeat_ms: 1000,
            lease_ms: 5000,
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
        if !self.nats_url.starts_with("nats://") {
            return bad(
                "bus.nats_url",
                format!("{:?} must start with nats://", self.nats_url),
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
