//! The event bus that joins pipeline stages to sinks (store writer, console,
//! later the API's live push and MQTT). In-process by default: each subscriber
//! gets its own unbounded queue, so a slow sink never makes a camera drop a
//! candidate; NATS JetStream takes this place at scale.
//!
//! Events never carry a face template: [`Event`] holds candidates (with the
//! face crop a reviewer needs) and health, and `FaceTemplate` is not
//! serialisable, so it could not be put on a wire bus even by mistake.

use civitas_model::{CameraId, CameraState, Candidate, PlatePass};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Something that happened, for the sinks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A face resembling a watchlist entry: a candidate for human review.
    Candidate(Candidate),
    /// One vehicle pass read on a camera (with its hotlist hit, if any).
    PlatePass(PlatePass),
    /// Per-frame counts from a camera (no identities, no templates).
    FrameAnalysed {
        camera: CameraId,
        offset_ms: i64,
        faces: usize,
        too_small: usize,
        unknown: usize,
        /// Time to detect, embed and match this frame (ms).
        analyse_ms: f64,
        /// Time from the frame's arrival (decoded from the camera) to the end of its analysis (ms).
        since_arrival_ms: f64,
    },
    /// A camera's health changed (online, degraded, offline), with the last error in words.
    CameraHealth {
        camera: CameraId,
        state: CameraState,
        last_error: Option<String>,
        reconnects: u64,
    },
    /// A camera's source finished or failed.
    CameraStopped {
        camera: CameraId,
        error: Option<String>,
    },
}

impl Event {
    /// The stable key a result is applied once by (`None` for health and
    /// counts, which are not results: a repeat of them is harmless).
    pub fn key(&self) -> Option<String> {
        match self {
            Event::Candidate(c) => Some(c.key()),
            Event::PlatePass(p) => Some(p.key()),
            _ => None,
        }
    }
}

/// Publish/subscribe between stages.
pub trait Bus: Send + Sync + std::fmt::Debug {
    fn publish(&self, ev: Event);
    fn subscribe(&self) -> UnboundedReceiver<Event>;
}

/// The in-process bus.
#[derive(Debug, Default)]
pub struct InProcessBus {
    subs: Mutex<Vec<UnboundedSender<Event>>>,
}

impl Bus for InProcessBus {
    fn publish(&self, ev: Event) {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| s.send(ev.clone()).is_ok());
    }

    fn subscribe(&self) -> UnboundedReceiver<Event> {
        let (tx, rx) = unbounded_channel();
        self.subs.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_gets_every_event_and_dropped_ones_are_forgotten() {
        let bus = InProcessBus::default();
        let mut a = bus.subscribe();
        let b = bus.subscribe();
        drop(b);
        bus.publish(Event::CameraStopped {
            camera: "c".into(),
            error: None,
        });
        assert!(matches!(a.try_recv().unwrap(), Event::CameraStopped { .. }));
        assert_eq!(bus.subs.lock().unwrap().len(), 1);
    }
}
