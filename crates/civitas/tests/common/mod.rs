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

/// Every test user's password.
pub const PW: &str = "correct horse battery staple";

/// A config in `dir` with its own database and audit key, using the installed
/// models, initialised with users: `admin`, supervisor `sam`, operators `olga`
/// and `omar`, auditor `aude`.
pub fn config(dir: &Path) -> PathBuf {
    config_on(dir, None)
}

/// [`config`], with the store on the PostgreSQL database `store_url` names
/// (`None`: the SQLite file `civitas.db` in `dir`).
pub fn config_on(dir: &Path, store_url: Option<&str>) -> PathBuf {
    let v = var_dir();
    let cfg = format!(
        "[store]\n{}path = \"{}\"\naudit_key = \"{}\"\n[vision]\nmodels_dir = \"{}\"\nort_library = \"{}\"\n[api]\nlisten = \"127.0.0.1:0\"\n",
        store_url
            .map(|u| format!("url = \"{u}\"\n"))
            .unwrap_or_default(),
        dir.join("civitas.db").display(),
        dir.join("keys/audit.key").display(),
        v.join("models").display(),
        v.join("lib/libonnxruntime.so.1.31.1").display()
    );
    let p = dir.join("civitas.toml");
    std::fs::write(&p, cfg).unwrap();
    let o = run(&p, None, &["init"]);
    assert!(o.status.success(), "{}", text(&o));
    for (u, r) in [
        ("sam", "supervisor"),
        ("olga", "operator"),
        ("omar", "operator"),
        ("aude", "auditor"),
    ] {
        let o = run(&p, Some("admin"), &["user", "add", u, "--role", r]);
        assert!(o.status.success(), "{}", text(&o));
    }
    p
}

/// Runs civitas as `user` (with the test password), or as nobody.
pub fn run(cfg: &Path, user: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_civitas"));
    c.arg("--config")
        .arg(cfg)
        .args(args)
        .env("CIVITAS_NEW_PASSWORD", PW)
        .env_remove("CIVITAS_USER");
    match user {
        Some(u) => c.env("CIVITAS_USER", u).env("CIVITAS_PASSWORD", PW),
        None => c.env_remove("CIVITAS_PASSWORD"),
    };
    c.output().expect("run civitas")
}

/// Runs civitas as the supervisor `sam`.
pub fn civitas(cfg: &Path, args: &[&str]) -> Output {
    run(cfg, Some("sam"), args)
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub const BASIS: [&str; 12] = [
    "--scope",
    "*",
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

/// `enroll --name name --photo photo` under the test legal basis.
pub fn enroll_args<'a>(name: &'a str, photo: &'a Path) -> Vec<&'a str> {
    let mut args = vec!["enroll", "--name", name, "--photo", photo.to_str().unwrap()];
    args.extend(BASIS);
    args
}

pub fn enroll(cfg: &Path, name: &str, photo: &Path) -> Output {
    civitas(cfg, &enroll_args(name, photo))
}

/// The enrolled person (Obama) passing twice with someone else between.
pub const TWO_PASSES: [&str; 3] = [
    "face_recognition/obama2.jpg",
    "face_recognition/biden.jpg",
    "face_recognition/obama3.jpg",
];

/// `make_clip` of the packaged photos `photos` into `dir/name`.
pub fn clip_in(dir: &Path, name: &str, photos: &[&str], seconds: u32) -> PathBuf {
    let out = dir.join(name);
    make_clip(
        &out,
        &photos.iter().map(|p| photo(p)).collect::<Vec<_>>(),
        seconds,
    );
    out
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

/// A config (see [`config`]) with Barack Obama enrolled from `obama.jpg`.
pub fn config_with_obama(dir: &Path) -> PathBuf {
    config_with_obama_on(dir, None)
}

/// [`config_with_obama`] on the store `store_url` names ([`config_on`]).
pub fn config_with_obama_on(dir: &Path, store_url: Option<&str>) -> PathBuf {
    let cfg = config_on(dir, store_url);
    let o = enroll(&cfg, "Barack Obama", &photo("face_recognition/obama.jpg"));
    assert!(o.status.success(), "{}", text(&o));
    cfg
}

/// GStreamer's RTSP server serving `clip` on a free port (basic auth optional).
pub fn rtsp_server(
    clip: &std::path::Path,
    auth: Option<(&str, &str)>,
) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = std::process::Command::new("/usr/bin/python3");
    c.arg(repo().join("scripts/rtsp-server"))
        .arg(clip)
        .args(["--port", &port.to_string()]);
    if let Some((u, p)) = auth {
        c.args(["--user", u, "--password", p]);
    }
    let server = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 with gi (scripts/setup)");
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (server, port)
}

/// The finished recordings in a camera's folder.
pub fn mp4s(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "mp4"));
    v.sort();
    v
}

/// Pictures FFmpeg decodes from a file; any decoding error fails the test.
pub fn ffprobe_frames(p: &std::path::Path) -> u64 {
    let o = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.trim().is_empty(), "{p:?}: {err}");
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
}

/// Runs `civitas report` over all time as the auditor into `out`; returns
/// the JSON report and the HTML page.
pub fn report(cfg: &Path, out: &Path) -> (serde_json::Value, String) {
    let dir = out.to_str().unwrap();
    let o = run(
        cfg,
        Some("aude"),
        &[
            "report",
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01",
            "--out",
            dir,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let json = std::fs::read_to_string(out.join("report.json")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    (serde_json::from_str(&json).unwrap(), html)
}
