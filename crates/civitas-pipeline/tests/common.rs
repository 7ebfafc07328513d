//! Shared helpers for the pipeline's integration tests: models and real test
//! photos installed by `scripts/setup` under `var/`.
#![allow(dead_code)]

use civitas_pipeline::face::{FacePipeline, FaceStageConfig, Watchlist};
use civitas_vision::runtime::SessionOptions;
use civitas_vision::{DetectorConfig, EmbedderConfig, FaceEmbedder, Scrfd};
use std::path::PathBuf;
use std::sync::Arc;

pub fn var_dir() -> PathBuf {
    std::env::var_os("CIVITAS_VAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../var"))
}

pub fn photo(rel: &str) -> PathBuf {
    var_dir().join("testdata").join(rel)
}

pub fn pipeline(camera: &str, watchlist: Watchlist) -> FacePipeline {
    pipeline_with(camera, watchlist, FaceStageConfig::default())
}

/// [`pipeline`] with its own face-stage settings.
pub fn pipeline_with(camera: &str, watchlist: Watchlist, cfg: FaceStageConfig) -> FacePipeline {
    let v = var_dir();
    civitas_vision::runtime::init(&v.join("lib/libonnxruntime.so.1.31.1"))
        .expect("ONNX Runtime (run scripts/setup)");
    let det = Scrfd::open(
        &v.join("models/scrfd.onnx"),
        DetectorConfig::default(),
        SessionOptions::default(),
    )
    .expect("scrfd (run scripts/setup)");
    let emb = FaceEmbedder::open(
        &v.join("models/dlib_face_recognition_resnet_model_v1.onnx"),
        EmbedderConfig::default(),
    )
    .expect("converted embedder (run scripts/setup)");
    FacePipeline::new(camera.into(), Box::new(det), emb, Arc::new(watchlist), cfg)
}

/// Makes a clip from photos with the repo's own script (ffmpeg).
pub fn make_clip(out: &std::path::Path, photos: &[PathBuf], seconds: u32) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-clip");
    let ok = std::process::Command::new(script)
        .arg(out)
        .args(photos)
        .args(["--seconds", &seconds.to_string()])
        .status()
        .expect("scripts/make-clip");
    assert!(ok.success(), "make-clip failed");
}
