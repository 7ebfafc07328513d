//! `[[camera]]`: each camera, its source, where it is, why and whose it is.

use crate::bad;
use civitas_base::Result;
use serde::{Deserialize, Serialize};

/// The `url` of a camera that pushes snapshots over HTTP instead of streaming.
pub const PUSH_URL: &str = "push";

/// A camera. `purpose` and `owner` are shown to operators and in the transparency report.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Short unique id, letters, digits, `-` and `_`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// `rtsp://[user:password@]host[:port]/path` (H.264 or H.265), or a video file path.
    pub url: String,
    /// RTP transport for RTSP cameras: `tcp` (default) or `udp`.
    #[serde(default)]
    pub transport: civitas_ingest::rtsp::Transport,
    /// H.264 decoder for RTSP cameras: `openh264` (default) or `libavcodec` (faster).
    #[serde(default)]
    pub h264_decoder: civitas_ingest::avcodec::H264Backend,
    /// For `url = "push"` cameras: SHA-256 (hex) of the camera's bearer token
    /// (`civitas camera token` makes one). The token itself is never stored.
    #[serde(default)]
    pub push_token_sha256: Option<String>,
    /// Frames analysed per second. Default 2.
    #[serde(default = "default_fps")]
    pub fps: f64,
    /// Replay a file at its own speed, like a live camera. Default true.
    #[serde(default = "default_true")]
    pub realtime: bool,
    /// Skip analysing frames with no motion (counted; one frame is still analysed every 10 s). Default true.
    #[serde(default = "default_true")]
    pub motion_gate: bool,
    /// Read number plates on this camera too (`[anpr]` settings), in the
    /// frames sampled at `fps` (4 or more suits passing traffic). Default false.
    #[serde(default)]
    pub anpr: bool,
    /// The camera delivers infrared (night) pictures: faces on it are matched
    /// with `[vision] grayscale_match_threshold`. Frames without colour get
    /// that threshold anyway; this skips the per-frame test. Default false.
    #[serde(default)]
    pub infrared: bool,
    /// Recording of an RTSP camera: `events` (clips around candidates and
    /// plate reads, default), `continuous`, or `off`. Files and pushed
    /// snapshots are not recorded.
    #[serde(default)]
    pub record: Option<civitas_ingest::recorder::Mode>,
    /// Latitude in degrees, -90..90.
    pub latitude: f64,
    /// Longitude in degrees, -180..180.
    pub longitude: f64,
    /// Why this camera exists, in words.
    pub purpose: String,
    /// Who is responsible for it.
    pub owner: String,
}

impl CameraConfig {
    /// How this camera is recorded: `record`, by default `events` for an RTSP camera; never a file or push camera.
    pub fn record_mode(&self) -> civitas_ingest::recorder::Mode {
        use civitas_ingest::recorder::Mode;
        match (self.url.starts_with("rtsp://"), self.record) {
            (false, _) => Mode::Off,
            (true, m) => m.unwrap_or(Mode::Events),
        }
    }
}

fn default_fps() -> f64 {
    2.0
}

fn default_true() -> bool {
    true
}

/// Each `[[camera]]`: a unique id, a rate, a place, a purpose and an owner.
pub fn validate_cameras(cameras: &[CameraConfig]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in cameras.iter().enumerate() {
        let f = |n: &str| format!("camera[{i}].{n}");
        if c.id.is_empty()
            || !c
                .id
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return bad(
                &f("id"),
                format!("{:?} must be letters, digits, - or _", c.id),
            );
        }
        if !seen.insert(&c.id) {
            return bad(&f("id"), format!("{:?} is used by two cameras", c.id));
        }
        if !(c.fps > 0.0 && c.fps <= 60.0) {
            return bad(&f("fps"), format!("{} is outside 0 < fps <= 60", c.fps));
        }
        if !(-90.0..=90.0).contains(&c.latitude) {
            return bad(&f("latitude"), format!("{} is outside -90..90", c.latitude));
        }
        if !(-180.0..=180.0).contains(&c.longitude) {
            return bad(
                &f("longitude"),
                format!("{} is outside -180..180", c.longitude),
            );
        }
        for (n, val) in [
            ("name", &c.name),
            ("url", &c.url),
            ("purpose", &c.purpose),
            ("owner", &c.owner),
        ] {
            if val.trim().is_empty() {
                return bad(&f(n), "is required".into());
            }
        }
        if !c.url.starts_with("rtsp://")
            && c.record
                .is_some_and(|m| m != civitas_ingest::recorder::Mode::Off)
        {
            return bad(
                    &f("record"),
                    "only RTSP cameras are recorded (a file is a recording already; pushed snapshots have no stream)".into(),
                );
        }
        match (&c.push_token_sha256, c.url == PUSH_URL) {
            (None, true) => {
                return bad(
                    &f("push_token_sha256"),
                    "is required for a push camera (make one with `civitas camera token`)".into(),
                );
            }
            (Some(_), false) => {
                return bad(
                    &f("push_token_sha256"),
                    format!("is only for url = \"{PUSH_URL}\" cameras"),
                );
            }
            (Some(h), true) if h.len() != 64 || !h.chars().all(|ch| ch.is_ascii_hexdigit()) => {
                return bad(
                    &f("push_token_sha256"),
                    "must be 64 hex digits (a SHA-256)".into(),
                );
            }
            _ => {}
        }
    }
    Ok(())
}
