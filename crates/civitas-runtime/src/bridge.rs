//! The bridge from the bus to the command centre: each event updates the
//! console's camera table and metrics and is pushed to live subscribers.

use civitas_api::{CandidateNotice, CommandCentre, LiveEvent, LivePayload};
use civitas_base::Clock;
use civitas_model::{CameraState, Candidate};
use civitas_pipeline::Event;

/// Feeds a bus event to the command centre: camera table, metrics, live push.
pub fn to_command_centre(c: &CommandCentre, ev: &Event, clock: &dyn Clock) {
    let camera_event = |id: &str| {
        if let Some(cam) = c.live.cameras().into_iter().find(|x| x.id == id) {
            c.live.publish(LiveEvent::new(
                Some(id.to_owned()),
                LivePayload::Camera(cam),
            ));
        }
    };
    match ev {
        Event::FrameAnalysed {
            camera,
            faces,
            analyse_ms,
            since_arrival_ms,
            ..
        } => {
            let l = [("camera", camera.0.as_str())];
            c.metrics.inc("civitas_camera_frames_total", &l, 1.0);
            c.metrics
                .inc("civitas_camera_faces_total", &l, *faces as f64);
            c.metrics.observe(
                "civitas_stage_latency_seconds",
                &[("stage", "analyse")],
                analyse_ms / 1e3,
            );
            c.metrics.observe(
                "civitas_stage_latency_seconds",
                &[("stage", "capture_to_analysed")],
                since_arrival_ms / 1e3,
            );
            let now = clock.now().0;
            let mut first = false;
            c.live.update_camera(&camera.0, |x| {
                x.frames += 1;
                x.last_frame_ms = Some(now);
                if x.state == CameraState::Connecting {
                    x.state = CameraState::Online;
                    first = true;
                }
            });
            if first {
                c.metrics.set("civitas_camera_online", &l, 1.0);
                camera_event(&camera.0);
            }
        }
        Event::CameraHealth {
            camera,
            state,
            last_error,
            reconnects,
        } => {
            c.live.update_camera(&camera.0, |x| {
                x.state = *state;
                x.last_error = last_error.clone();
                x.reconnects = *reconnects;
            });
            let l = [("camera", camera.0.as_str())];
            c.metrics.set(
                "civitas_camera_online",
                &l,
                if *state == CameraState::Online {
                    1.0
                } else {
                    0.0
                },
            );
            c.metrics
                .set("civitas_camera_reconnects_total", &l, *reconnects as f64);
            camera_event(&camera.0);
        }
        Event::CameraStopped { camera, error } => {
            c.live.update_camera(&camera.0, |x| {
                x.state = if error.is_some() {
                    CameraState::Offline
                } else {
                    CameraState::Stopped
                };
                if error.is_some() {
                    x.last_error = error.clone();
                }
            });
            c.metrics.set(
                "civitas_camera_online",
                &[("camera", camera.0.as_str())],
                0.0,
            );
            camera_event(&camera.0);
        }
        Event::PlatePass(p) => {
            let l = [("camera", p.camera.0.as_str())];
            c.metrics.inc("civitas_camera_plate_passes_total", &l, 1.0);
            if p.hit.is_some() {
                c.metrics.inc("civitas_camera_plate_hits_total", &l, 1.0);
            }
        }
        Event::Candidate(_) => {}
    }
}

/// Announces a stored candidate to the console.
pub fn announce_candidate(c: &CommandCentre, cand: &Candidate, store_s: f64, clock: &dyn Clock) {
    let l = [("camera", cand.camera.0.as_str())];
    c.metrics.inc("civitas_camera_candidates_total", &l, 1.0);
    c.metrics.observe(
        "civitas_stage_latency_seconds",
        &[("stage", "store")],
        store_s,
    );
    c.live.update_camera(&cand.camera.0, |x| x.candidates += 1);
    c.live.publish(LiveEvent::new(
        Some(cand.camera.0.clone()),
        LivePayload::Candidate(CandidateNotice {
            id: cand.id.map(|i| i.0),
            camera: cand.camera.0.clone(),
            entry_name: cand.entry_name.clone(),
            distance: cand.distance,
            frame_time_ms: cand.frame_time.0,
            stored_at_ms: clock.now().0,
        }),
    ));
}
