//! Builds the shared pieces every command needs from the configuration:
//! the config itself, the store, the models and the in-memory watchlist.

use anyhow::{Context, Result};
use civitas_base::{Clock, SystemClock};
use civitas_config::{Config, DetectorKind, VisionConfig};
use civitas_pipeline::face::{FacePipeline, FaceStageConfig, Watchlist};
use civitas_store::Store;
use civitas_vision::runtime::{self, SessionOptions};
use civitas_vision::{DetectorConfig, EmbedderConfig, FaceDetector, FaceEmbedder, Scrfd};
use std::path::Path;
use std::sync::Arc;

/// File name of the converted embedder inside `models_dir`.
pub const EMBEDDER_FILE: &str = "dlib_face_recognition_resnet_model_v1.onnx";

/// Loads the config file, or the defaults when the default file does not exist.
pub fn load_config(path: &Path) -> Result<Config> {
    if path.exists() {
        Ok(Config::load(path)?)
    } else if path == Path::new("civitas.toml") {
        Ok(Config::parse("")?)
    } else {
        anyhow::bail!("config {}: no such file", path.display())
    }
}

pub fn models(v: &VisionConfig) -> Result<(Box<dyn FaceDetector>, FaceEmbedder)> {
    models_at(v, v.min_detector_score.min(0.4))
}

/// [`models`] with the detector reporting faces down to `min_score` (evidence
/// redaction blurs on weaker detections than matching needs).
pub fn models_at(
    v: &VisionConfig,
    min_score: f32,
) -> Result<(Box<dyn FaceDetector>, FaceEmbedder)> {
    runtime::init(&v.ort_library)?;
    let sess = SessionOptions {
        intra_threads: v.threads,
    };
    let det_cfg = DetectorConfig {
        min_score,
        ..DetectorConfig::default()
    };
    let detector: Box<dyn FaceDetector> = match v.detector {
        DetectorKind::Scrfd => Box::new(Scrfd::open(
            &v.models_dir.join("scrfd.onnx"),
            det_cfg,
            sess,
        )?),
        DetectorKind::Blazeface => {
            let mut b = civitas_vision::blazeface::BlazeFace::open(
                &v.models_dir.join("blazeface"),
                det_cfg,
                sess,
            )?;
            b.tiles = v.blazeface_tiles;
            Box::new(b)
        }
    };
    let embedder = FaceEmbedder::open(
        &v.models_dir.join(EMBEDDER_FILE),
        EmbedderConfig {
            mirror: true,
            session: sess,
        },
    )?;
    Ok((detector, embedder))
}

/// The plate recogniser (PP-OCRv4 detector and recogniser) with the `[anpr]` settings.
pub fn plate_recogniser(
    v: &VisionConfig,
    a: &civitas_config::AnprConfig,
) -> Result<civitas_vision::anpr::PlateRecogniser> {
    runtime::init(&v.ort_library)?;
    let cfg = civitas_vision::anpr::AnprConfig {
        formats: civitas_vision::plate_text::formats_for(&a.formats).map_err(anyhow::Error::msg)?,
        min_confidence: a.min_confidence,
        min_text_height_px: a.min_text_height_px,
        detector: civitas_vision::plate_detect::TextDetectorConfig {
            min_side_px: a.detect_min_side_px,
            max_side_px: a.detect_max_side_px,
            ..Default::default()
        },
    };
    Ok(civitas_vision::anpr::PlateRecogniser::open(
        &v.models_dir.join("ppocr"),
        cfg,
        SessionOptions {
            intra_threads: v.threads,
        },
    )?)
}

/// The hotlist entries whose legal basis covers `camera`.
pub fn hotlist_for(
    entries: &[civitas_store::StoredPlateEntry],
    camera: &str,
) -> civitas_pipeline::CameraHotlist {
    civitas_pipeline::CameraHotlist {
        entries: entries
            .iter()
            .filter(|e| e.covers_camera(camera))
            .map(|e| civitas_pipeline::plate::HotEntry {
                plate: civitas_model::plate_text::HotPlate {
                    id: e.id.0,
                    plate: e.plate.clone(),
                    max_distance: e.max_distance,
                },
                hotlist: e.hotlist.clone(),
                expires: e.basis.expires_at,
            })
            .collect(),
    }
}

/// The plate stage for an ANPR camera.
pub fn plate_pipeline(
    cfg: &Config,
    camera: &str,
    hotlist: Arc<civitas_pipeline::CameraHotlist>,
) -> Result<civitas_pipeline::PlatePipeline> {
    Ok(civitas_pipeline::PlatePipeline::new(
        civitas_model::CameraId(camera.to_owned()),
        plate_recogniser(&cfg.vision, &cfg.anpr)?,
        hotlist,
        civitas_pipeline::plate::PlateStageConfig {
            pass_gap_ms: cfg.anpr.pass_gap_ms,
            parked_window_ms: cfg.anpr.parked_window_ms,
        },
    ))
}

/// How long plate reads are kept (`[anpr]`).
pub fn plate_retention(cfg: &Config) -> civitas_store::PlateRetention {
    civitas_store::PlateRetention {
        no_hit_ms: (cfg.anpr.retain_no_hit_hours * 3_600_000.0) as i64,
        hit_ms: (cfg.anpr.retain_hit_days * 86_400_000.0) as i64,
    }
}

/// A plate hit as a candidate, for printing and the console's live feed.
pub fn plate_candidate(
    p: &civitas_model::PlatePass,
    hit: &civitas_model::PlateHit,
    id: civitas_model::CandidateId,
) -> civitas_model::Candidate {
    civitas_model::Candidate {
        id: Some(id),
        camera: p.camera.clone(),
        track: civitas_model::TrackId(p.pass as i64),
        entry: hit.entry,
        entry_name: format!("plate {} on hotlist {}", hit.plate, hit.hotlist),
        distance: hit.distance,
        detector_score: p.confidence,
        bbox: p.bbox,
        frame_time: p.first_seen,
        offset_ms: p.offset_ms,
        crop_jpeg: Vec::new(),
    }
}

pub fn stage_config(v: &VisionConfig) -> FaceStageConfig {
    FaceStageConfig {
        match_threshold: v.match_threshold,
        grayscale_match_threshold: v.grayscale_match_threshold.unwrap_or(v.match_threshold),
        target_fpir: (v.target_fpir > 0.0).then_some(v.target_fpir),
        min_eye_distance_px: v.min_eye_distance_px,
        min_detector_score: v.min_detector_score,
        ..FaceStageConfig::default()
    }
}

/// The store's place for messages: the SQLite file, or the PostgreSQL URL
/// without its password.
pub fn store_label(cfg: &Config) -> String {
    match &cfg.store.url {
        Some(url) => civitas_store::postgres::mask(url),
        None => cfg.store.path.display().to_string(),
    }
}

/// Opens the store with the audit key (created on first use).
pub async fn open_store(cfg: &Config) -> Result<Store> {
    let store = open_store_unsigned(cfg).await?;
    let key = civitas_audit::AuditKey::load_or_create(&cfg.store.audit_key)?;
    Ok(store.with_audit_key(Arc::new(key)))
}

/// Opens the store without the audit key, for a process that appends
/// nothing (a worker reads the lists): no key file is made on its machine,
/// and an append through it fails instead of being signed.
pub async fn open_store_unsigned(cfg: &Config) -> Result<Store> {
    Ok(match &cfg.store.url {
        Some(url) => Store::connect(url).await.with_context(|| {
            format!(
                "opening the store at {}",
                civitas_store::postgres::mask(url)
            )
        })?,
        None => Store::open(&cfg.store.path)
            .await
            .with_context(|| format!("opening the store at {}", cfg.store.path.display()))?,
    })
}

/// Config changes are audited: the service records the configuration file's
/// SHA-256 when it starts, and a `config.change` entry when it differs from
/// the one recorded last (the file is edited outside Civitas, so the change
/// is recorded when it takes effect).
pub async fn audit_config(store: &Store, path: &Path) -> Result<()> {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap_or_default();
    let hash: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let last = store.last_audit("config.").await?;
    let previous = last
        .as_ref()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
        .and_then(|v| v["sha256"].as_str().map(str::to_owned));
    let action = match previous.as_deref() {
        Some(p) if p == hash => return Ok(()),
        Some(_) => "config.change",
        None => "config.load",
    };
    store
        .audit(
            SystemClock.now(),
            civitas_store::AuditRecord::new("system:run", action, path.display().to_string())
                .details(serde_json::json!({"sha256": hash, "previous_sha256": previous})),
        )
        .await?;
    Ok(())
}

/// The command centre's incident settings from the config.
pub fn incident_settings(cfg: &Config) -> civitas_api::incidents::IncidentSettings {
    civitas_api::incidents::IncidentSettings {
        types: cfg
            .incident_types
            .iter()
            .map(|t| civitas_model::IncidentType {
                id: t.id.clone(),
                label: t.label.clone(),
                priority: t.priority,
                sop: t.sop.clone(),
            })
            .collect(),
        area: cfg.incidents.area,
        nearby_radius_m: cfg.incidents.nearby_camera_radius_m,
    }
}

/// The config's units, for the store.
pub fn unit_specs(cfg: &Config) -> Vec<civitas_store::UnitSpec> {
    cfg.units
        .iter()
        .map(|u| civitas_store::UnitSpec {
            id: u.id.clone(),
            kind: u.kind.clone(),
            name: u.name.clone(),
            position: u.latitude.zip(u.longitude).map(|(latitude, longitude)| {
                civitas_model::GeoPoint {
                    latitude,
                    longitude,
                }
            }),
        })
        .collect()
}

/// The config's webhooks, each with its secret read and its URL checked.
pub fn webhooks(cfg: &Config) -> Result<Vec<civitas_api::webhooks::Webhook>> {
    cfg.webhooks
        .iter()
        .map(|w| {
            let mut hook =
                civitas_api::webhooks::Webhook::new(&w.name, &w.url, w.secret()?, w.timeout_ms)?;
            hook.backoff_initial_ms = w.backoff_initial_ms;
            hook.backoff_max_ms = w.backoff_max_ms;
            hook.ca_file = w.ca_file.clone();
            if hook.url.scheme_str() == Some("https") {
                // Checked at start: a CA file that cannot be read is a config error.
                civitas_api::tls::check_roots(hook.ca_file.as_deref())
                    .map_err(|e| anyhow::anyhow!("webhook {:?}: {}", w.name, e.message()))?;
            }
            Ok(hook)
        })
        .collect()
}

pub fn review_policy(cfg: &Config) -> civitas_store::ReviewPolicy {
    civitas_store::ReviewPolicy {
        face_confirmations: cfg.review.face_confirmations,
        plate_confirmations: cfg.review.plate_confirmations,
        candidate_expiry_ms: (cfg.review.candidate_expiry_hours * 3_600_000.0) as i64,
        suppress_after_reject_ms: (cfg.review.suppress_after_reject_minutes * 60_000.0) as i64,
    }
}

pub fn retention_policy(cfg: &Config) -> civitas_store::RetentionPolicy {
    let ms = |d: f64| (d >= 0.0).then_some((d * 86_400_000.0) as i64);
    let r = &cfg.retention;
    civitas_store::RetentionPolicy {
        unreviewed_candidates_ms: ms(r.unreviewed_candidates_days),
        rejected_candidates_ms: ms(r.rejected_candidates_days),
        expired_candidates_ms: ms(r.expired_candidates_days),
        confirmed_candidates_ms: ms(r.confirmed_candidates_days),
        expired_entries_ms: ms(r.expired_entries_days),
        closed_incidents_ms: ms(r.closed_incidents_days),
        camera_events_ms: ms(r.camera_events_days),
    }
}

/// The in-memory watchlist for one camera, from entries read once with
/// `Store::watchlist`: only entries whose legal basis covers the camera.
/// Expired entries are included but never match (the index checks expiry
/// against the clock at every search).
pub fn watchlist_for(entries: &[civitas_store::StoredEntry], camera: &str) -> Result<Watchlist> {
    let mut w = Watchlist::new(128);
    let now = SystemClock.now();
    let mut expired = 0;
    for e in entries.iter().filter(|e| e.covers_camera(camera)) {
        if !e.basis.is_active(now) {
            expired += 1;
        }
        for t in &e.templates {
            w.add(e.id, &e.name, t, e.basis.expires_at)?;
        }
    }
    tracing::info!(camera, entries = w.names.len(), expired, "watchlist loaded");
    Ok(w)
}

pub fn pipeline(cfg: &Config, camera: &str, watchlist: Arc<Watchlist>) -> Result<FacePipeline> {
    let (d, e) = models(&cfg.vision)?;
    let stage = FaceStageConfig {
        infrared: cfg.cameras.iter().any(|c| c.id == camera && c.infrared),
        ..stage_config(&cfg.vision)
    };
    Ok(FacePipeline::new(camera.into(), d, e, watchlist, stage))
}

pub fn tokio() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Face models for enrolment, loaded on first use: `civitas enroll` and the
/// console's enrolment form share it, so both apply the same rules (exactly
/// one face, large enough, detector score above the threshold).
#[derive(Debug)]
pub struct ModelEnroller {
    vision: VisionConfig,
    pipe: std::sync::Mutex<Option<FacePipeline>>,
}

impl ModelEnroller {
    pub fn new(vision: &VisionConfig) -> Self {
        ModelEnroller {
            vision: vision.clone(),
            pipe: std::sync::Mutex::new(None),
        }
    }

    /// The template (bytes made under `basis`) and a JPEG face crop from one
    /// photo; errors name `label` (the file, or "photo").
    pub fn template(
        &self,
        label: &str,
        img: &civitas_model::RgbImage,
        basis: &civitas_model::LegalBasis,
    ) -> civitas_base::Result<(Vec<u8>, Vec<u8>)> {
        use civitas_base::Error;
        let mut guard = self.pipe.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let (det, emb) = models(&self.vision).map_err(|e| {
                Error::new(
                    civitas_base::ErrorKind::Unavailable,
                    format!("loading the face models: {e:#}"),
                )
            })?;
            *guard = Some(FacePipeline::new(
                "enrol".into(),
                det,
                emb,
                Default::default(),
                stage_config(&self.vision),
            ));
        }
        let pipe = guard.as_mut().expect("loaded above");
        let faces: Vec<_> = pipe
            .faces_with_templates(img)?
            .into_iter()
            .filter(|(d, _)| d.score >= self.vision.min_detector_score)
            .collect();
        match faces.len() {
            0 => {
                return Err(Error::invalid(format!(
                    "{label}: no face found; use a photo where the person's face is clearly visible"
                )));
            }
            1 => {}
            n => {
                return Err(Error::invalid(format!(
                    "{label}: {n} faces found; enrolment needs exactly one (crop the photo to the person)"
                )));
            }
        }
        let (d, t) = faces.into_iter().next().expect("one face");
        if d.eye_distance_px() < self.vision.min_eye_distance_px {
            return Err(Error::invalid(format!(
                "{label}: the face is too small ({:.0} px between the eyes, minimum {:.0})",
                d.eye_distance_px(),
                self.vision.min_eye_distance_px
            )));
        }
        let crop = civitas_ingest::encode_jpeg(&civitas_pipeline::face::face_crop(img, &d.bbox))?;
        Ok((t.into_enrolled_bytes(basis), crop))
    }
}

impl civitas_api::watchlist::Enroller for ModelEnroller {
    fn enrol_photo(
        &self,
        photo: &[u8],
        basis: &civitas_model::LegalBasis,
    ) -> civitas_base::Result<(Vec<u8>, Vec<u8>)> {
        let img = civitas_ingest::push::decode_snapshot(
            photo,
            civitas_ingest::push::SnapshotLimits {
                max_bytes: 8 << 20,
                max_side: 8192,
            },
        )
        .map_err(|e| civitas_base::Error::new(e.kind(), format!("photo: {}", e.message())))?;
        self.template("photo", &img, basis)
    }
}
