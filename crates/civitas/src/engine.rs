//! Builds the shared pieces every command needs from the configuration:
//! the config itself, the store, the models and the in-memory watchlist.

use anyhow::{Context, Result};
use civitas_base::{Clock, SystemClock};
use civitas_pipeline::config::{Config, DetectorKind, VisionConfig};
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
    runtime::init(&v.ort_library)?;
    let sess = SessionOptions {
        intra_threads: v.threads,
    };
    let det_cfg = DetectorConfig {
        min_score: v.min_detector_score.min(0.4),
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

pub fn stage_config(v: &VisionConfig) -> FaceStageConfig {
    FaceStageConfig {
        match_threshold: v.match_threshold,
        min_eye_distance_px: v.min_eye_distance_px,
        min_detector_score: v.min_detector_score,
        ..FaceStageConfig::default()
    }
}

pub async fn open_store(cfg: &Config) -> Result<Store> {
    Store::open(&cfg.store.path)
        .await
        .with_context(|| format!("opening the store at {}", cfg.store.path.display()))
}

/// Loads the watchlist into memory. Expired entries are loaded too but never
/// match (the index checks expiry against the clock at every search).
pub async fn load_watchlist(store: &Store) -> Result<Watchlist> {
    let entries = store.watchlist().await?;
    let mut w = Watchlist::new(128);
    let now = SystemClock.now();
    let mut expired = 0;
    for e in &entries {
        if !e.basis.is_active(now) {
            expired += 1;
        }
        for t in &e.templates {
            w.add(e.id, &e.name, t, e.basis.expires_at)?;
        }
    }
    tracing::info!(entries = entries.len(), expired, "watchlist loaded");
    Ok(w)
}

pub fn pipeline(cfg: &Config, camera: &str, watchlist: Arc<Watchlist>) -> Result<FacePipeline> {
    let (d, e) = models(&cfg.vision)?;
    Ok(FacePipeline::new(
        camera.into(),
        d,
        e,
        watchlist,
        stage_config(&cfg.vision),
    ))
}

pub fn tokio() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
