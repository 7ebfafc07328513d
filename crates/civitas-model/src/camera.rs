//! A camera's state as operators see it: one definition for the ingest
//! layer's health, the bus, the store's camera events and the command centre.

use serde::{Deserialize, Serialize};

/// A camera's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Connecting for the first time.
    Connecting,
    /// Frames are arriving.
    Online,
    /// Connected but frames are failing to decode.
    Degraded,
    /// Not connected (retrying), or its source failed.
    Offline,
    /// Its source ended (a file's end, a bounded run).
    Stopped,
}

impl CameraState {
    pub fn as_str(self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Online => "online",
            CameraState::Degraded => "degraded",
            CameraState::Offline => "offline",
            CameraState::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for CameraState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_name_is_the_display_name() {
        for s in [
            CameraState::Connecting,
            CameraState::Online,
            CameraState::Degraded,
            CameraState::Offline,
            CameraState::Stopped,
        ] {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.to_string())
            );
        }
    }
}
