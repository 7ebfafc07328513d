//! Civitas configuration: one TOML file, typed and validated on load. Every
//! field documents its unit and default; unknown fields are refused so a typo
//! is an error, not a silently ignored setting. Relative paths are resolved
//! against the config file's folder.

use civitas_base::{Error, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub vision: VisionConfig,
    #[serde(default)]
    pub review: ReviewConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub mqtt: MqttConfig,
    #[serde(default)]
    pub bus: BusConfig,
    #[serde(default)]
    pub anpr: AnprConfig,
    #[serde(default)]
    pub incidents: IncidentsConfig,
    #[serde(default)]
    pub recording: RecordingConfig,
    /// Incident types operators can open, each with its procedure.
    #[serde(default, rename = "incident_type")]
    pub incident_types: Vec<IncidentTypeConfig>,
    /// Units that can be dispatched to incidents.
    #[serde(default, rename = "unit")]
    pub units: Vec<UnitConfig>,
    /// Other systems told about incidents and units over HTTP.
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    /// The cameras to analyse.
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
}

/// Recording of RTSP cameras (the encoded stream as received, no re-encoding).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Where recordings are written, one folder per camera. Default `var/recordings`.
    pub dir: PathBuf,
    /// Seconds kept before an event (a candidate, a plate read). Default 10.
    pub pre_roll_s: f64,
    /// Seconds kept after the last event of a clip. Default 10.
    pub post_roll_s: f64,
    /// Continuous recording: length of one file, in minutes. Default 5.
    pub segment_minutes: f64,
    /// Bytes of recordings one camera may keep, in GB; the oldest
    /// recordings no legal hold covers are deleted beyond it. Default 20.
    pub max_gb_per_camera: f64,
    /// Where evidence bundles exported from the console are written. Default `var/evidence`.
    pub evidence_dir: PathBuf,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            dir: PathBuf::from("var/recordings"),
            pre_roll_s: 10.0,
            post_roll_s: 10.0,
            segment_minutes: 5.0,
            max_gb_per_camera: 20.0,
            evidence_dir: PathBuf::from("var/evidence"),
        }
    }
}

/// Emergency incidents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// The region this centre serves, `[south, west, north, east]` in
    /// degrees; an incident located outside it is refused. Default: anywhere.
    pub area: Option<[f64; 4]>,
    /// Cameras within this distance of an incident are offered as "near" it, in metres. Default 1500.
    pub nearby_camera_radius_m: f64,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        IncidentsConfig {
            area: None,
            nearby_camera_radius_m: 1_500.0,
        }
    }
}

/// An incident type (`[[incident_type]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentTypeConfig {
    /// Short id, letters, digits, - or _ (e.g. `robbery`).
    pub id: String,
    /// Shown to operators.
    pub label: String,
    /// Default priority, 1 (most urgent) to 5. Default 3.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// The standard operating procedure: steps in order.
    #[serde(default)]
    pub sop: Vec<String>,
}

fn default_priority() -> u8 {
    3
}

/// A unit (`[[unit]]`): a patrol car, an ambulance, a fire engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// Call sign, e.g. `P-11`.
    pub id: String,
    /// `police`, `ambulance`, `fire`, `rescue`, `traffic` or `other`.
    pub kind: String,
    pub name: String,
    /// Base position until the unit reports one.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// A webhook (`[[webhook]]`): incident and unit events POSTed, signed with
/// HMAC-SHA256, retried with backoff until acknowledged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    /// `http://host:port/path` (TLS through a relay on your network).
    pub url: String,
    /// Environment variable holding the signing secret (at least 16 bytes)…
    pub secret_env: Option<String>,
    /// …or a file holding it (relative to the config file).
    pub secret_file: Option<PathBuf>,
    /// A request unanswered this long has failed, in ms. Default 5000.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
    /// First retry after this long, doubling, in ms. Default 250.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    /// Longest wait between retries, in ms. Default 60000.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
}

fn default_webhook_timeout() -> u64 {
    5_000
}
fn default_backoff_initial() -> u64 {
    250
}
fn default_backoff_max() -> u64 {
    60_000
}

impl WebhookConfig {
    /// The signing secret, from the environment or the file.
    pub fn secret(&self) -> Result<Vec<u8>> {
        let bad = |m: String| Error::invalid(format!("webhook {:?}: {m}", self.name));
        match (&self.secret_env, &self.secret_file) {
            (Some(var), None) => std::env::var(var)
                .map(|v| v.trim().as_bytes().to_vec())
                .map_err(|_| {
                    bad(format!(
                        "environment variable {var} (secret_env) is not set"
                    ))
                }),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map(|v| v.trim().as_bytes().to_vec())
                .map_err(|e| bad(format!("secret_file {}: {e}", f.display()))),
            _ => Err(bad("set exactly one of secret_env and secret_file".into())),
        }
    }
}

/// The HTTP service: the command centre (API and web console) and snapshot push.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port to listen on. Default `127.0.0.1:8080` (this machine only).
    pub listen: String,
    /// Largest snapshot a push camera may upload, in bytes. Default 8 MiB.
    pub max_snapshot_bytes: usize,
    /// Largest snapshot width or height, in pixels. Default 8192.
    pub max_snapshot_side: u32,
    /// A console session unused this long ends, in minutes. Default 30.
    pub session_idle_minutes: u32,
    /// Mark the session cookie `Secure` (serve over HTTPS, e.g. behind a reverse proxy). Default false.
    pub secure_cookie: bool,
    /// Reverse proxies (IP addresses) whose `X-Forwarded-For` header names
    /// the client for login throttling. Default none: the header is ignored.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            max_snapshot_bytes: 8 << 20,
            max_snapshot_side: 8192,
            session_idle_minutes: 30,
            secure_cookie: false,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Events published to an MQTT broker (off by default) for home-automation
/// and VMS integrations. Payloads carry no names, entry ids or images: only
/// that a candidate occurred on a camera, its review status, and camera health.
#[derive(Debug, Clone, Deserialize)]
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

/// The bus between workers and the store writer. `civitas run` (one
/// machine) always uses the in-process bus; `civitas worker` and
/// `civitas serve` use NATS JetStream with these settings.
#[derive(Debug, Clone, Deserialize)]
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

/// The `url` of a camera that pushes snapshots over HTTP instead of streaming.
pub const PUSH_URL: &str = "push";

/// Human review of candidates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Different people who must confirm a face candidate. Default 2; cannot be less than 2.
    pub face_confirmations: usize,
    /// People who must confirm a plate candidate. Default 1.
    pub plate_confirmations: usize,
    /// Hours after which an unreviewed candidate expires. Default 24.
    pub candidate_expiry_hours: f64,
    /// Minutes during which a rejected entry is not re-alerted on the same camera. Default 60.
    pub suppress_after_reject_minutes: f64,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            face_confirmations: 2,
            plate_confirmations: 1,
            candidate_expiry_hours: 24.0,
            suppress_after_reject_minutes: 60.0,
        }
    }
}

/// Number-plate recognition (for cameras with `anpr = true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnprConfig {
    /// Plate format presets to accept (`EC`, `BO`, `CO`, `PE`, `AR`, `BR`, `CL`,
    /// `DO`, or `ANY`). Reads are corrected to them by position (a `0` where a
    /// letter belongs becomes `O`). Default `["ANY"]`: any 4–10 characters with a digit.
    pub formats: Vec<String>,
    /// Reads below this mean character probability are dropped, 0..1. Default 0.6.
    pub min_confidence: f32,
    /// Plate text lines thinner than this (pixels) are counted, not read. Default 10.
    pub min_text_height_px: f32,
    /// A vehicle pass ends when its plate has not been seen for this long (ms). Default 1500.
    pub pass_gap_ms: i64,
    /// The same plate at the same place within this long after its last pass
    /// is a vehicle still standing there, not read out again (ms). Default 300000.
    pub parked_window_ms: i64,
    /// The text detector's input: frames whose shorter side is below this are
    /// scaled up to it (small plates need it; the cost grows with its
    /// square). Default 480: on our set as accurate as 736, and 2.3× faster to search.
    pub detect_min_side_px: usize,
    /// …and no side of the detector's input is longer than this. Default 1280.
    pub detect_max_side_px: usize,
    /// Hours a read with no hotlist hit is kept. Default 24.
    pub retain_no_hit_hours: f64,
    /// Days a read that hit a hotlist entry is kept. Default 90.
    pub retain_hit_days: f64,
}

impl Default for AnprConfig {
    fn default() -> Self {
        AnprConfig {
            formats: vec!["ANY".into()],
            min_confidence: 0.6,
            min_text_height_px: 10.0,
            pass_gap_ms: 1500,
            parked_window_ms: 300_000,
            detect_min_side_px: 480,
            detect_max_side_px: 1280,
            retain_no_hit_hours: 24.0,
            retain_hit_days: 90.0,
        }
    }
}

/// How long each data class is kept, in days (absent or negative: kept until deleted by hand).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Candidates nobody reviewed. Default 7.
    pub unreviewed_candidates_days: f64,
    /// Rejected candidates (false positives, kept a while as feedback). Default 30.
    pub rejected_candidates_days: f64,
    /// Candidates that expired unreviewed. Default 7.
    pub expired_candidates_days: f64,
    /// Confirmed matches. Default 365.
    pub confirmed_candidates_days: f64,
    /// Watchlist entries, counted from their legal basis's expiry. Default 30.
    pub expired_entries_days: f64,
    /// Incidents, counted from their closing (caller, notes, timeline). Default 365.
    pub closed_incidents_days: f64,
    /// Camera events (health changes, stops). Default 90.
    pub camera_events_days: f64,
    /// Recordings (event clips and continuous segments). Default 30.
    pub recordings_days: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            unreviewed_candidates_days: 7.0,
            rejected_candidates_days: 30.0,
            expired_candidates_days: 7.0,
            confirmed_candidates_days: 365.0,
            expired_entries_days: 30.0,
            closed_incidents_days: 365.0,
            camera_events_days: 90.0,
            recordings_days: 30.0,
        }
    }
}

/// Where data is kept.
#[derive(Debug, Clone, Deserialize)]
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

/// Which face detector to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// SCRFD (InsightFace weights: non-commercial research terms). Finds small faces well.
    Scrfd,
    /// MediaPipe BlazeFace (Apache-2.0): the clean-licence choice; misses small faces.
    Blazeface,
}

/// Models and matching.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionConfig {
    /// Folder holding the installed models. Default `var/models`.
    #[serde(default = "default_models")]
    pub models_dir: PathBuf,
    /// ONNX Runtime shared library. Default `var/lib/libonnxruntime.so.1.31.1`.
    #[serde(default = "default_ort")]
    pub ort_library: PathBuf,
    /// Face detector. Default `scrfd`.
    #[serde(default = "default_detector")]
    pub detector: DetectorKind,
    /// BlazeFace only: square tiles per side run besides the whole frame, so
    /// small faces are found (0 = whole frame only). Default 2; 4 for crowds.
    #[serde(default = "default_tiles")]
    pub blazeface_tiles: usize,
    /// Minimum detector confidence, 0..1. Default 0.5.
    #[serde(default = "default_min_score")]
    pub min_detector_score: f32,
    /// Match threshold (Euclidean distance between normalised templates), 0..2. Default 0.40.
    #[serde(default = "default_threshold")]
    pub match_threshold: f32,
    /// Faces with eyes closer than this many pixels are counted, not matched. Default 20.
    #[serde(default = "default_min_eye")]
    pub min_eye_distance_px: f32,
    /// CPU threads per model session. Default 1.
    #[serde(default = "default_threads")]
    pub threads: usize,
}

fn default_models() -> PathBuf {
    PathBuf::from("var/models")
}
fn default_ort() -> PathBuf {
    PathBuf::from("var/lib/libonnxruntime.so.1.31.1")
}
fn default_detector() -> DetectorKind {
    DetectorKind::Scrfd
}
fn default_tiles() -> usize {
    2
}
fn default_min_score() -> f32 {
    0.5
}
fn default_threshold() -> f32 {
    civitas_pipeline::face::DEFAULT_MATCH_THRESHOLD
}
fn default_min_eye() -> f32 {
    20.0
}
fn default_threads() -> usize {
    1
}

impl Default for VisionConfig {
    fn default() -> Self {
        VisionConfig {
            models_dir: default_models(),
            ort_library: default_ort(),
            detector: default_detector(),
            blazeface_tiles: default_tiles(),
            min_detector_score: default_min_score(),
            match_threshold: default_threshold(),
            min_eye_distance_px: default_min_eye(),
            threads: default_threads(),
        }
    }
}

/// A camera. `purpose` and `owner` are shown to operators and in the transparency report.
#[derive(Debug, Clone, Deserialize)]
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

impl Config {
    /// Reads, parses and validates a config file, resolving relative paths against its folder.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::with_source(
                civitas_base::ErrorKind::NotFound,
                format!("config {}: cannot read", path.display()),
                e,
            )
        })?;
        let mut cfg = Config::parse(&text)
            .map_err(|e| Error::invalid(format!("config {}: {}", path.display(), e.message())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        Ok(cfg)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Config> {
        let cfg: Config = toml::from_str(text)
            .map_err(|e| Error::invalid(e.to_string().trim().replace('\n', " ")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for w in &mut self.webhooks {
            if let Some(f) = w.secret_file.as_mut() {
                fix(f);
            }
        }
        fix(&mut self.store.path);
        fix(&mut self.store.audit_key);
        if let Some(w) = self.store.audit_witness.as_mut() {
            fix(w);
        }
        fix(&mut self.vision.models_dir);
        fix(&mut self.recording.dir);
        fix(&mut self.recording.evidence_dir);
        fix(&mut self.vision.ort_library);
        for c in &mut self.cameras {
            if c.url != PUSH_URL && !c.url.contains("://") && Path::new(&c.url).is_relative() {
                c.url = base.join(&c.url).display().to_string();
            }
        }
    }

    /// Checks ranges and uniqueness; the error names the field.
    fn validate_incidents(&self) -> Result<()> {
        let bad = |f: &str, why: String| Err(Error::invalid(format!("field `{f}`: {why}")));
        let id_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 40
                && s.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        };
        if let Some([s, w, n, e]) = self.incidents.area
            && !(s < n
                && w < e
                && (-90.0..=90.0).contains(&s)
                && (-90.0..=90.0).contains(&n)
                && (-180.0..=180.0).contains(&w)
                && (-180.0..=180.0).contains(&e))
        {
            return bad(
                "incidents.area",
                format!(
                    "[{s}, {w}, {n}, {e}] is not [south, west, north, east] with south < north and west < east"
                ),
            );
        }
        let r = self.incidents.nearby_camera_radius_m;
        if !(10.0..=50_000.0).contains(&r) {
            return bad(
                "incidents.nearby_camera_radius_m",
                format!("{r} is outside 10..50000"),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, t) in self.incident_types.iter().enumerate() {
            let f = |n: &str| format!("incident_type[{i}].{n}");
            if !id_ok(&t.id) {
                return bad(
                    &f("id"),
                    format!("{:?} must be 1-40 letters, digits, - or _", t.id),
                );
            }
            if !seen.insert(&t.id) {
                return bad(
                    &f("id"),
                    format!("{:?} is used by two incident types", t.id),
                );
            }
            if t.label.trim().is_empty() {
                return bad(&f("label"), "is required".into());
            }
            if !(1..=5).contains(&t.priority) {
                return bad(&f("priority"), format!("{} is outside 1..5", t.priority));
            }
            if t.sop.len() > 50 || t.sop.iter().any(|s| s.trim().is_empty()) {
                return bad(&f("sop"), "must have at most 50 steps, none empty".into());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, u) in self.units.iter().enumerate() {
            let f = |n: &str| format!("unit[{i}].{n}");
            if !id_ok(&u.id) {
                return bad(
                    &f("id"),
                    format!("{:?} must be 1-40 letters, digits, - or _", u.id),
                );
            }
            if !seen.insert(&u.id) {
                return bad(&f("id"), format!("{:?} is used by two units", u.id));
            }
            if !civitas_model::incident::UNIT_KINDS.contains(&u.kind.as_str()) {
                return bad(
                    &f("kind"),
                    format!(
                        "{:?} is not one of {}",
                        u.kind,
                        civitas_model::incident::UNIT_KINDS.join(", ")
                    ),
                );
            }
            if u.name.trim().is_empty() {
                return bad(&f("name"), "is required".into());
            }
            match (u.latitude, u.longitude) {
                (Some(la), Some(lo)) => {
                    if let Err(e) = civitas_model::GeoPoint::checked(la, lo, None) {
                        return bad(&f("latitude"), e.message().to_owned());
                    }
                }
                (None, None) => {}
                _ => {
                    return bad(
                        &f("latitude"),
                        "give both latitude and longitude, or neither".into(),
                    );
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let f = |n: &str| format!("webhook[{i}].{n}");
            if !id_ok(&w.name) {
                return bad(
                    &f("name"),
                    format!("{:?} must be 1-40 letters, digits, - or _", w.name),
                );
            }
            if !seen.insert(&w.name) {
                return bad(&f("name"), format!("{:?} is used by two webhooks", w.name));
            }
            if w.secret_env.is_some() == w.secret_file.is_some() {
                return bad(
                    &f("secret_env"),
                    "set exactly one of secret_env and secret_file".into(),
                );
            }
            if !(100..=120_000).contains(&w.timeout_ms) {
                return bad(
                    &f("timeout_ms"),
                    format!("{} is outside 100..120000", w.timeout_ms),
                );
            }
            if !(10..=w.backoff_max_ms).contains(&w.backoff_initial_ms)
                || w.backoff_max_ms > 3_600_000
            {
                return bad(
                    &f("backoff_initial_ms"),
                    "must be at least 10 and at most backoff_max_ms (itself at most 3600000)"
                        .into(),
                );
            }
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        let v = &self.vision;
        let bad = |f: &str, why: String| Err(Error::invalid(format!("field `{f}`: {why}")));
        if !(0.0..=2.0).contains(&v.match_threshold) {
            return bad(
                "vision.match_threshold",
                format!("{} is outside 0..2", v.match_threshold),
            );
        }
        if !(0.0..=1.0).contains(&v.min_detector_score) {
            return bad(
                "vision.min_detector_score",
                format!("{} is outside 0..1", v.min_detector_score),
            );
        }
        if v.min_eye_distance_px.is_nan() || v.min_eye_distance_px < 0.0 {
            return bad("vision.min_eye_distance_px", "must be >= 0".into());
        }
        if v.blazeface_tiles > 8 {
            return bad(
                "vision.blazeface_tiles",
                format!("{} is more than 8", v.blazeface_tiles),
            );
        }
        if !(1..=64).contains(&v.threads) {
            return bad("vision.threads", format!("{} is outside 1..64", v.threads));
        }
        if self.review.face_confirmations < 2 {
            return bad(
                "review.face_confirmations",
                format!(
                    "{} is below 2: a face match needs two different people to confirm it",
                    self.review.face_confirmations
                ),
            );
        }
        let r = &self.recording;
        for (f, v, max) in [
            ("recording.pre_roll_s", r.pre_roll_s, 120.0),
            ("recording.post_roll_s", r.post_roll_s, 600.0),
            ("recording.segment_minutes", r.segment_minutes, 60.0),
        ] {
            if v.is_nan() || v < 0.0 || v > max {
                return bad(f, format!("{v} is outside 0..{max}"));
            }
        }
        if r.segment_minutes <= 0.0 {
            return bad("recording.segment_minutes", "must be > 0".into());
        }
        if r.max_gb_per_camera.is_nan() || r.max_gb_per_camera <= 0.0 {
            return bad("recording.max_gb_per_camera", "must be > 0".into());
        }
        if self.review.plate_confirmations < 1 {
            return bad("review.plate_confirmations", "must be at least 1".into());
        }
        if self.review.candidate_expiry_hours.is_nan() || self.review.candidate_expiry_hours <= 0.0
        {
            return bad("review.candidate_expiry_hours", "must be > 0".into());
        }
        let a = &self.anpr;
        if let Err(e) = civitas_vision::plate_text::formats_for(&a.formats) {
            return bad("anpr.formats", e);
        }
        if !(0.0..=1.0).contains(&a.min_confidence) {
            return bad(
                "anpr.min_confidence",
                format!("{} is outside 0..1", a.min_confidence),
            );
        }
        if a.min_text_height_px.is_nan() || a.min_text_height_px < 4.0 {
            return bad("anpr.min_text_height_px", "must be >= 4".into());
        }
        if !(0..=86_400_000).contains(&a.parked_window_ms) {
            return bad(
                "anpr.parked_window_ms",
                format!("{} is outside 0..86400000", a.parked_window_ms),
            );
        }
        if !(128..=2048).contains(&a.detect_min_side_px) {
            return bad(
                "anpr.detect_min_side_px",
                format!("{} is outside 128..2048", a.detect_min_side_px),
            );
        }
        if !(a.detect_min_side_px..=4096).contains(&a.detect_max_side_px) {
            return bad(
                "anpr.detect_max_side_px",
                format!(
                    "{} is outside detect_min_side_px..4096",
                    a.detect_max_side_px
                ),
            );
        }
        if !(100..=60_000).contains(&a.pass_gap_ms) {
            return bad(
                "anpr.pass_gap_ms",
                format!("{} is outside 100..60000", a.pass_gap_ms),
            );
        }
        if a.retain_no_hit_hours.is_nan() || a.retain_no_hit_hours <= 0.0 {
            return bad("anpr.retain_no_hit_hours", "must be > 0".into());
        }
        if a.retain_hit_days.is_nan() || a.retain_hit_days <= 0.0 {
            return bad("anpr.retain_hit_days", "must be > 0".into());
        }
        self.validate_incidents()?;
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.cameras.iter().enumerate() {
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
                        "is required for a push camera (make one with `civitas camera token`)"
                            .into(),
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
        if self.api.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad(
                "api.listen",
                format!("{:?} is not an address:port", self.api.listen),
            );
        }
        if self.api.max_snapshot_bytes < 1024 {
            return bad("api.max_snapshot_bytes", "must be at least 1024".into());
        }
        if self.mqtt.enabled
            && (self.mqtt.topic_prefix.trim().is_empty()
                || self.mqtt.topic_prefix.contains(['#', '+'])
                || self.mqtt.topic_prefix.ends_with('/'))
        {
            return bad(
                "mqtt.topic_prefix",
                format!(
                    "{:?} must be non-empty, without # or + and without a trailing /",
                    self.mqtt.topic_prefix
                ),
            );
        }
        if self.bus.namespace.is_empty()
            || !self
                .bus
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return bad(
                "bus.namespace",
                format!(
                    "{:?}: use letters, digits, '_' and '-' only",
                    self.bus.namespace
                ),
            );
        }
        if let Some(url) = &self.store.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return bad(
                "store.url",
                "must start with postgres:// (or postgresql://); for SQLite set `path` instead"
                    .into(),
            );
        }
        if !self.bus.nats_url.starts_with("nats://") {
            return bad(
                "bus.nats_url",
                format!("{:?} must start with nats://", self.bus.nats_url),
            );
        }
        if self.bus.heartbeat_ms < 50 || self.bus.lease_ms < 3 * self.bus.heartbeat_ms {
            return bad(
                "bus.lease_ms",
                format!(
                    "{} ms with heartbeat_ms {}: the lease must be at least three heartbeats, and a heartbeat at least 50 ms",
                    self.bus.lease_ms, self.bus.heartbeat_ms
                ),
            );
        }
        if !(1..=24 * 60).contains(&self.api.session_idle_minutes) {
            return bad("api.session_idle_minutes", "must be within 1..1440".into());
        }
        if !(16..=32768).contains(&self.api.max_snapshot_side) {
            return bad("api.max_snapshot_side", "must be within 16..32768".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_valid_and_reads_plates_on_its_gate_camera() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/demo.toml");
        let cfg = Config::load(&p).unwrap();
        assert!(cfg.cameras.iter().any(|c| c.id == "gate" && c.anpr));
        assert_eq!(cfg.anpr.formats, ["EC"]);
        let bad = "[anpr]\nformats = [\"XX\"]\n";
        let e = Config::parse(bad).unwrap_err();
        assert!(
            e.message().contains("anpr.formats") && e.message().contains("not a preset"),
            "{}",
            e.message()
        );
        let e = Config::parse("[anpr]\npass_gap_ms = 5\n").unwrap_err();
        assert!(e.message().contains("anpr.pass_gap_ms"), "{}", e.message());
    }

    #[test]
    fn a_store_url_must_name_postgres_and_is_never_echoed() {
        let cfg = Config::parse("[store]\nurl = \"postgres://civitas@db:5432/civitas\"\n").unwrap();
        assert_eq!(
            cfg.store.url.as_deref(),
            Some("postgres://civitas@db:5432/civitas")
        );
        let e = Config::parse("[store]\nurl = \"mysql://u:s3cret@db/c\"\n").unwrap_err();
        assert!(e.message().contains("store.url"), "{}", e.message());
        assert!(!e.message().contains("s3cret"), "{}", e.message());
    }

    #[test]
    fn incident_settings_are_checked_and_named_when_wrong() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/demo.toml");
        let cfg = Config::load(&p).unwrap();
        assert!(
            cfg.incident_types
                .iter()
                .any(|t| t.id == "robbery" && !t.sop.is_empty())
        );
        assert!(cfg.units.iter().any(|u| u.kind == "ambulance"));
        for (toml, want) in [
            (
                "[incidents]\narea = [1.0, 0.0, -1.0, 2.0]\n",
                "incidents.area",
            ),
            (
                "[[incident_type]]\nid = \"a b\"\nlabel = \"A\"\n",
                "incident_type[0].id",
            ),
            (
                "[[incident_type]]\nid = \"a\"\nlabel = \"A\"\npriority = 7\n",
                "incident_type[0].priority",
            ),
            (
                "[[incident_type]]\nid = \"a\"\nlabel = \"A\"\n[[incident_type]]\nid = \"a\"\nlabel = \"B\"\n",
                "used by two",
            ),
            (
                "[[unit]]\nid = \"P-1\"\nkind = \"tank\"\nname = \"x\"\n",
                "unit[0].kind",
            ),
            (
                "[[unit]]\nid = \"P-1\"\nkind = \"police\"\nname = \"x\"\nlatitude = 1.0\n",
                "unit[0].latitude",
            ),
            (
                "[[webhook]]\nname = \"radio\"\nurl = \"http://127.0.0.1:1/\"\n",
                "secret_env",
            ),
            (
                "[[webhook]]\nname = \"radio\"\nurl = \"http://127.0.0.1:1/\"\nsecret_env = \"X\"\ntimeout_ms = 1\n",
                "webhook[0].timeout_ms",
            ),
            ("[recording]\npre_roll_s = 500\n", "recording.pre_roll_s"),
            (
                "[recording]\nmax_gb_per_camera = 0\n",
                "recording.max_gb_per_camera",
            ),
            (
                "[recording]\nsegment_minutes = 0\n",
                "recording.segment_minutes",
            ),
            (
                "[[camera]]\nid = \"c\"\nname = \"C\"\nurl = \"clip.mp4\"\nrecord = \"continuous\"\nlatitude = 0.0\nlongitude = 0.0\npurpose = \"p\"\nowner = \"o\"\n",
                "field `camera[0].record`: only RTSP cameras are recorded",
            ),
            (
                "[[camera]]\nid = \"c\"\nname = \"C\"\nurl = \"rtsp://h/s\"\nrecord = \"always\"\nlatitude = 0.0\nlongitude = 0.0\npurpose = \"p\"\nowner = \"o\"\n",
                "unknown variant `always`",
            ),
        ] {
            let e = Config::parse(toml).unwrap_err();
            assert!(e.message().contains(want), "{toml}: {}", e.message());
        }
    }

    const CAM: &str = r#"
[[camera]]
id = "plaza-1"
name = "Plaza"
url = "clip.mp4"
latitude = -0.22
longitude = -78.51
purpose = "public safety"
owner = "City"
"#;

    #[test]
    fn defaults_and_a_camera_parse() {
        let c = Config::parse(CAM).unwrap();
        assert_eq!(c.cameras[0].fps, 2.0);
        assert_eq!(c.vision.detector, DetectorKind::Scrfd);
    }

    #[test]
    fn errors_name_the_field() {
        let e = Config::parse(&CAM.replace("-78.51", "-278.5")).unwrap_err();
        assert!(
            e.message().contains("camera[0].longitude"),
            "{}",
            e.message()
        );
        let e = Config::parse(&format!("{CAM}\n[vision]\nmatch_treshold = 0.5\n")).unwrap_err();
        assert!(e.message().contains("match_treshold"), "{}", e.message());
        let e = Config::parse(&CAM.replace("owner = \"City\"", "owner = \"\"")).unwrap_err();
        assert!(e.message().contains("camera[0].owner"), "{}", e.message());
        let e = Config::parse(&format!("{CAM}{CAM}")).unwrap_err();
        assert!(
            e.message().contains("used by two cameras"),
            "{}",
            e.message()
        );
        let e = Config::parse("[review]\nface_confirmations = 1\n").unwrap_err();
        assert!(
            e.message().contains("review.face_confirmations")
                && e.message().contains("two different people"),
            "{}",
            e.message()
        );
        let e = Config::parse("[vision]\ndetector = \"yolo\"\n").unwrap_err();
        assert!(
            e.message().contains("yolo") || e.message().contains("detector"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn push_cameras_need_a_token_hash_and_transport_is_tcp_or_udp() {
        let push = CAM.replace("url = \"clip.mp4\"", "url = \"push\"");
        let e = Config::parse(&push).unwrap_err();
        assert!(
            e.message().contains("camera[0].push_token_sha256"),
            "{}",
            e.message()
        );
        let e = Config::parse(&push.replace("owner", "push_token_sha256 = \"abc\"\nowner"))
            .unwrap_err();
        assert!(e.message().contains("64 hex digits"), "{}", e.message());
        let h = "a".repeat(64);
        let ok =
            Config::parse(&push.replace("owner", &format!("push_token_sha256 = \"{h}\"\nowner")))
                .unwrap();
        assert_eq!(ok.cameras[0].url, PUSH_URL);
        let e =
            Config::parse(&CAM.replace("owner", &format!("push_token_sha256 = \"{h}\"\nowner")))
                .unwrap_err();
        assert!(
            e.message().contains("only for url = \"push\""),
            "{}",
            e.message()
        );
        let udp = Config::parse(&CAM.replace("owner", "transport = \"udp\"\nowner")).unwrap();
        assert_eq!(
            udp.cameras[0].transport,
            civitas_ingest::rtsp::Transport::Udp
        );
        assert!(Config::parse(&CAM.replace("owner", "transport = \"sctp\"\nowner")).is_err());
        let e = Config::parse("[api]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(e.message().contains("api.listen"), "{}", e.message());
    }
}
