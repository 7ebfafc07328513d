//! Paths shared by the vision crate's integration tests. The models and test
//! images are installed by `scripts/setup` under `var/` (never committed).
#![allow(dead_code)]

use std::path::PathBuf;

pub fn var_dir() -> PathBuf {
    std::env::var_os("CIVITAS_VAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../var"))
}

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Loads ONNX Runtime; panics with the fix if the set-up has not run.
pub fn init_runtime() {
    let lib = var_dir().join("lib/libonnxruntime.so.1.31.1");
    civitas_vision::runtime::init(&lib).expect("ONNX Runtime (run scripts/setup)");
}

pub fn load_rgb(path: &std::path::Path) -> civitas_model::RgbImage {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", path.display()))
        .to_rgb8();
    let (w, h) = img.dimensions();
    civitas_model::RgbImage::new(w, h, img.into_raw()).unwrap()
}
