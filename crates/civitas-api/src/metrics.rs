//! `/metrics` in Prometheus text format. The main job records into
//! [`Metrics`] as frames are analysed and candidates stored; names follow
//! `civitas_<component>_<noun>_<unit>` (counters end in `_total`).
//! No metric carries a person's name or an entry id: only cameras and stages.

use crate::auth::console;
use crate::{ApiError, ApiState};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Histogram bucket bounds in seconds.
const BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric with its type and help, so the exposition is documented.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "civitas_camera_frames_total",
        "counter",
        "Frames analysed, per camera.",
    ),
    (
        "civitas_camera_faces_total",
        "counter",
        "Faces detected, per camera.",
    ),
    (
        "civitas_camera_candidates_total",
        "counter",
        "Candidates stored for human review, per camera.",
    ),
    (
        "civitas_camera_reconnects_total",
        "counter",
        "Reconnections after a camera failure, per camera.",
    ),
    (
        "civitas_camera_online",
        "gauge",
        "1 when the camera is online, 0 otherwise.",
    ),
    (
        "civitas_stage_latency_seconds",
        "histogram",
        "Time per pipeline stage: analyse (detect, embed, match one frame), capture_to_analysed (frame arrival to analysis done), store (candidate write with its audit entry).",
    ),
    (
        "civitas_bus_queue_depth",
        "gauge",
        "Events waiting in a sink's queue on the in-process bus.",
    ),
    (
        "civitas_reviews_total",
        "counter",
        "Review decisions through the API, by decision.",
    ),
];

#[derive(Debug, Default, Clone)]
struct Hist {
    counts: [u64; BUCKETS_S.len()],
    count: u64,
    sum: f64,
}

type Key = (&'static str, String);

#[derive(Debug, Default)]
struct Inner {
    values: BTreeMap<Key, f64>,
    hists: BTreeMap<Key, Hist>,
}

/// The process's metrics.
#[derive(Debug, Default)]
pub struct Metrics(Mutex<Inner>);

fn labels(l: &[(&str, &str)]) -> String {
    l.iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds to a counter.
    pub fn inc(&self, name: &'static str, l: &[(&str, &str)], by: f64) {
        *self.lock().values.entry((name, labels(l))).or_default() += by;
    }

    /// Sets a gauge.
    pub fn set(&self, name: &'static str, l: &[(&str, &str)], v: f64) {
        self.lock().values.insert((name, labels(l)), v);
    }

    /// Records a duration in a histogram.
    pub fn observe(&self, name: &'static str, l: &[(&str, &str)], seconds: f64) {
        let mut g = self.lock();
        let h = g.hists.entry((name, labels(l))).or_default();
        for (i, b) in BUCKETS_S.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += seconds;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let g = self.lock();
        let mut out = String::new();
        for (name, kind, help) in METRICS {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((n, l), v) in g.values.range((*name, String::new())..) {
                if n != name {
                    break;
                }
                let _ = writeln!(out, "{name}{{{l}}} {v}");
            }
            for ((n, l), h) in g.hists.range((*name, String::new())..) {
                if n != name {
                    break;
                }
                let sep = if l.is_empty() { "" } else { "," };
                for (i, b) in BUCKETS_S.iter().enumerate() {
                    let _ = writeln!(out, "{name}_bucket{{{l}{sep}le=\"{b}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "{name}_bucket{{{l}{sep}le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
            }
        }
        out
    }
}

/// Prometheus metrics (text format 0.0.4). Scrape with a bearer token made by
/// `civitas token create --user ADMIN --label prometheus --only read_metrics`.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    security(("bearer" = ["read_metrics"]), ("session" = ["read_metrics"])),
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
    ))]
pub async fn metrics(State(st): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let c = console(&st)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        c.metrics.render(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_gauges_and_cumulative_buckets() {
        let m = Metrics::default();
        m.inc("civitas_camera_frames_total", &[("camera", "gate")], 3.0);
        m.set("civitas_camera_online", &[("camera", "gate")], 1.0);
        m.observe(
            "civitas_stage_latency_seconds",
            &[("stage", "analyse")],
            0.02,
        );
        m.observe(
            "civitas_stage_latency_seconds",
            &[("stage", "analyse")],
            0.2,
        );
        let t = m.render();
        assert!(
            t.contains("civitas_camera_frames_total{camera=\"gate\"} 3\n"),
            "{t}"
        );
        assert!(t.contains("civitas_camera_online{camera=\"gate\"} 1\n"));
        assert!(
            t.contains("civitas_stage_latency_seconds_bucket{stage=\"analyse\",le=\"0.01\"} 0\n")
        );
        assert!(
            t.contains("civitas_stage_latency_seconds_bucket{stage=\"analyse\",le=\"0.025\"} 1\n")
        );
        assert!(
            t.contains("civitas_stage_latency_seconds_bucket{stage=\"analyse\",le=\"+Inf\"} 2\n")
        );
        assert!(t.contains("civitas_stage_latency_seconds_count{stage=\"analyse\"} 2\n"));
        assert!(t.contains("# TYPE civitas_stage_latency_seconds histogram"));
    }
}
