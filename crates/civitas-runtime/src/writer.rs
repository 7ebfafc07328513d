//! The single appender: every result reaches the store and the audit log
//! here, once, by its stable key. `civitas run` feeds it from the
//! in-process bus, `civitas serve` from the NATS consumer.

use crate::bridge;
use crate::recording::Recordings;
use civitas_api::CommandCentre;
use civitas_base::Clock;
use civitas_model::{CameraEventKind, Candidate, PlatePass};
use civitas_pipeline::Event;
use civitas_store::{PlateRetention, ReviewPolicy, Store};

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new candidate was stored (a face match or a plate hit).
    Stored,
    /// A camera's source ended (`failed`: with an error).
    Stopped {
        failed: bool,
    },
    /// Applied before (a redelivery or a replay): nothing done, nothing announced.
    Repeat,
    Other,
}

/// A result the writer stored, for whoever wants to show it (the command
/// line prints one line each).
#[derive(Debug, Clone, Copy)]
pub enum Stored<'a> {
    Candidate(&'a Candidate),
    Pass(&'a PlatePass),
}

/// Applies the bus's events to the store (each result once, by its stable
/// key, with its audit entry in the same transaction) and announces what it
/// stored to the command centre.
pub struct Writer<'a> {
    pub store: &'a Store,
    pub console: &'a CommandCentre,
    pub policy: &'a ReviewPolicy,
    pub retention: &'a PlateRetention,
    pub recordings: Option<&'a Recordings>,
    /// The time stamped on what is stored (the system clock in service,
    /// a simulated one in tests).
    pub clock: &'a dyn Clock,
    /// Called with each stored result; `None` shows nothing (the load simulation).
    pub on_result: Option<&'a (dyn Fn(Stored<'_>) + Sync)>,
}

impl std::fmt::Debug for Writer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl<'a> Writer<'a> {
    /// A writer that records no files and shows nothing.
    pub fn new(
        store: &'a Store,
        console: &'a CommandCentre,
        policy: &'a ReviewPolicy,
        retention: &'a PlateRetention,
        clock: &'a dyn Clock,
    ) -> Writer<'a> {
        Writer {
            store,
            console,
            policy,
            retention,
            recordings: None,
            clock,
            on_result: None,
        }
    }

    pub async fn apply(&self, ev: Event) -> civitas_base::Result<Applied> {
        let (store, console, policy, retention) =
            (self.store, self.console, self.policy, self.retention);
        let trigger = |camera: &str, at: i64| {
            if let Some(r) = self.recordings {
                r.trigger(camera, at);
            }
        };
        let show = |s: Stored<'_>| {
            if let Some(f) = self.on_result {
                f(s)
            }
        };
        if let Some(key) = ev.key()
            && store.is_applied(&key).await?
        {
            return Ok(Applied::Repeat);
        }
        bridge::to_command_centre(console, &ev, self.clock);
        Ok(match ev {
            Event::Candidate(mut c) => {
                trigger(&c.camera.0, c.frame_time.0);
                let t0 = std::time::Instant::now();
                let stored_id = store.insert_candidate(&c, self.clock.now(), policy).await?;
                let store_s = t0.elapsed().as_secs_f64();
                match stored_id {
                    Some(id) => {
                        c.id = Some(id);
                        show(Stored::Candidate(&c));
                        bridge::announce_candidate(console, &c, store_s, self.clock);
                        Applied::Stored
                    }
                    None => {
                        tracing::info!(
                            "camera {}: candidate for entry {} suppressed (rejected here recently)",
                            c.camera,
                            c.entry
                        );
                        Applied::Other
                    }
                }
            }
            Event::PlatePass(p) => {
                trigger(&p.camera.0, p.first_seen.0);
                trigger(&p.camera.0, p.last_seen.0);
                let t0 = std::time::Instant::now();
                let (_, cand) = store
                    .record_plate_pass(&p, retention, policy, self.clock.now())
                    .await?;
                let store_s = t0.elapsed().as_secs_f64();
                show(Stored::Pass(&p));
                match (cand, &p.hit) {
                    (Some(id), Some(hit)) => {
                        bridge::announce_candidate(
                            console,
                            &crate::engine::plate_candidate(&p, hit, id),
                            store_s,
                            self.clock,
                        );
                        Applied::Stored
                    }
                    _ => Applied::Other,
                }
            }
            Event::CameraStopped { camera, error } => {
                let (kind, detail) = match &error {
                    Some(e) => (CameraEventKind::Failed, e.as_str()),
                    None => (CameraEventKind::Stopped, ""),
                };
                if let Err(e) = store
                    .record_camera_event(&camera.0, kind.name(), detail, self.clock.now())
                    .await
                {
                    tracing::warn!(camera = %camera, error = %e, "recording a camera event");
                }
                match &error {
                    Some(e) => tracing::warn!("camera {camera} stopped: {e}"),
                    None => tracing::info!("camera {camera}: end of stream"),
                }
                Applied::Stopped {
                    failed: error.is_some(),
                }
            }
            Event::CameraHealth {
                camera,
                state,
                last_error,
                reconnects,
            } => {
                let detail = last_error.as_deref().unwrap_or("");
                if let Err(e) = store
                    .record_camera_event(&camera.0, state.name(), detail, self.clock.now())
                    .await
                {
                    tracing::warn!(camera = %camera, error = %e, "recording a camera event");
                }
                match last_error {
                    Some(e) if state != civitas_model::CameraState::Online => {
                        tracing::warn!("camera {camera}: {state} ({e}; {reconnects} reconnect(s))")
                    }
                    _ => tracing::info!("camera {camera}: {state}"),
                }
                Applied::Other
            }
            Event::FrameAnalysed { .. } => Applied::Other,
        })
    }
}
