//! Civitas configuration: one TOML file, typed and validated on load. Every
//! field documents its unit and default; unknown fields are refused so a typo
//! is an error, not a silently ignored setting. Relative paths are resolved
//! against the config file's folder.
//!
//! One module per section: each holds the section's fields (with their
//! docs), their defaults and the checks of their ranges, whose errors name
//! the field. `docs/CONFIG.md` documents them; `tests/reference.rs` fails
//! when it and the fields the parser accepts differ.

use civitas_base::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub mod anpr;
pub mod api;
pub mod bus;
pub mod camera;
pub mod incidents;
pub mod mqtt;
pub mod recording;
pub mod retention;
pub mod review;
pub mod store;
pub mod vision;
pub mod webhook;

pub use anpr::AnprConfig;
pub use api::ApiConfig;
pub use bus::BusConfig;
pub use camera::{CameraConfig, PUSH_URL};
pub use incidents::{IncidentTypeConfig, IncidentsConfig, UnitConfig};
pub use mqtt::MqttConfig;
pub use recording::RecordingConfig;
pub use retention::RetentionConfig;
pub use review::ReviewConfig;
pub use store::StoreConfig;
pub use vision::{DetectorKind, VisionConfig};
pub use webhook::{WebhookConfig, plaintext_to_network};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
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

impl Config {
    /// Reads, parses and validates a config file, resolving relative paths against its folder.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::unreadable(format!("config {}: cannot read", path.display()), e))?;
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
            for f in [&mut w.secret_file, &mut w.ca_file].into_iter().flatten() {
                fix(f);
            }
        }
        for p in [&mut self.api.tls_cert, &mut self.api.tls_key]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
        for p in [&mut self.bus.tls_ca, &mut self.bus.password_file]
            .into_iter()
            .flatten()
        {
            fix(p);
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

    /// Checks every section; the error names the field (`field \`vision.threads\`: ...`).
    pub fn validate(&self) -> Result<()> {
        self.store.validate()?;
        self.vision.validate()?;
        self.review.validate()?;
        self.recording.validate()?;
        self.anpr.validate()?;
        self.incidents.validate()?;
        incidents::validate_types(&self.incident_types)?;
        incidents::validate_units(&self.units)?;
        webhook::validate_webhooks(&self.webhooks)?;
        camera::validate_cameras(&self.cameras)?;
        self.api.validate()?;
        self.mqtt.validate()?;
        self.bus.validate()
    }
}

/// A refusal naming the field.
pub(crate) fn bad(f: &str, why: String) -> Result<()> {
    Err(Error::invalid(format!("field `{f}`: {why}")))
}

/// An id or name of 1 to 40 letters, digits, `-` and `_`.
pub(crate) fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
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
        let url = "postgres://civitas@db:5432/civitas?sslmode=verify-full";
        let cfg = Config::parse(&format!("[store]\nurl = \"{url}\"\n")).unwrap();
        assert_eq!(cfg.store.url.as_deref(), Some(url));
        // Another machine in clear is refused, without echoing the URL.
        let e = Config::parse("[store]\nurl = \"postgres://u:s3cret@db/c\"\n").unwrap_err();
        assert!(e.message().contains("verify-full"), "{}", e.message());
        assert!(!e.message().contains("s3cret"), "{}", e.message());
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
            (
                "[[webhook]]\nname = \"cad\"\nurl = \"http://10.0.0.9/cad\"\nsecret_env = \"X\"\n",
                "webhook[0].url",
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

    /// Names, faces and passwords never cross the network in clear by default.
    #[test]
    fn a_network_listen_needs_tls_or_a_stated_proxy() {
        let e = Config::parse("[api]\nlisten = \"0.0.0.0:8443\"\n").unwrap_err();
        let m = e.message();
        assert!(m.contains("api.listen") && m.contains("tls_cert"), "{m}");
        let proxied =
            Config::parse("[api]\nlisten = \"0.0.0.0:8080\"\nallow_plaintext = true\n").unwrap();
        assert!(proxied.api.plaintext_on_network());
        let tls = Config::parse(
            "[api]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n",
        )
        .unwrap();
        assert!(tls.api.tls() && !tls.api.plaintext_on_network());
        let e = Config::parse("[api]\ntls_cert = \"c.pem\"\n").unwrap_err();
        assert!(e.message().contains("api.tls_key"), "{}", e.message());
        assert!(!Config::parse("").unwrap().api.plaintext_on_network());
    }
}
