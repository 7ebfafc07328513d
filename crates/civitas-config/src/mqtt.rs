//! `[mqtt]`: events published to an MQTT broker.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};

/// Events published to an MQTT broker (off by default) for home-automation
/// and VMS integrations. Payloads carry no names, entry ids or images: only
/// that a candidate occurred on a camera, its review status, and camera health.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Publish at all. Default false.
    pub enabled: bool,
    /// Broker host. Default `127.0.0.1` (keep it on the operator's network).
    pub host: String,
    /// Broker port. Default 1883.
    pub port: u16,
    /// Topic prefix, e.g. `civitas/quito-centro`. Default `civitas`.
    pub topic_prefix: String,
    /// MQTT client id. Default `civitas`.
    pub client_id: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 1883,
            topic_prefix: "civitas".into(),
            client_id: "civitas".into(),
        }
    }
}

impl MqttConfig {
    pub fn validate(&self) -> Result<()> {
        if self.enabled
            && (self.topic_prefix.trim().is_empty()
                || self.topic_prefix.contains(['#', '+'])
                || self.topic_prefix.ends_with('/'))
        {
            return bad(
                "mqtt.topic_prefix",
                format!(
                    "{:?} must be non-empty, without # or + and without a trailing /",
                    self.topic_prefix
                ),
            );
        }
        Ok(())
    }
}
