//! Helpers for black-box tests of the `civitas` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn var_dir() -> PathBuf {
    std::env::var_os("CIVITAS_VAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("var"))
}

pub fn photo(rel: &str) -> PathBuf {
    var_dir().join("testdata").join(rel)
}

/// A config in `dir` with its own database, using the installed models.
pub fn config(dir: &Path) -> PathBuf {
    let v = var_dir();
    let cfg = format!(
        "[store]\npath = \"{}\"\n[vision]\nmodels_dir = \"{}\"\nort_library = \"{}\"\n",
        dir.join("civitas.db").display(),
        v.join("models").display(),
        v.join("lib/libonnxruntime.so.1.31.1").display()
    );
    let p = dir.join("civitas.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

pub fn civitas(cfg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_civitas"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .expect("run civitas")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub const BASIS: [&str; 10] = [
    "--basis-kind",
    "court-order",
    "--authority",
    "Test court",
    "--reference",
    "T-1",
    "--purpose",
    "testing",
    "--expires",
    "2099-01-01",
];

pub fn enroll(cfg: &Path, name: &str, photo: &Path) -> Output {
    let mut args = vec!["enroll", "--name", name, "--photo", photo.to_str().unwrap()];
    args.extend(BASIS);
    civitas(cfg, &args)
}

pub fn make_clip(out: &Path, photos: &[PathBuf], seconds: u32) {
    let ok = Command::new(repo().join("scripts/make-clip"))
        .arg(out)
        .args(photos)
        .args(["--seconds", &seconds.to_string()])
        .status()
        .expect("scripts/make-clip");
    assert!(ok.success());
}
