//! Shared by the RTSP tests: clips made with Debian's ffmpeg, served by
//! GStreamer's RTSP server (scripts/rtsp-server) on loopback.
#![allow(dead_code)]

use civitas_ingest::rtsp::{CameraState, RtspSource};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The encodings cameras send: H.264 Baseline, Main, High with B-frames, and H.265.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    Baseline,
    Main,
    HighBFrames,
    H265,
}

pub fn clip(dir: &std::path::Path) -> std::path::PathBuf {
    clip_with(dir, Enc::HighBFrames, 60)
}

/// A 640x360, 25 fps test-pattern clip in `enc`, `seconds` long.
pub fn clip_with(dir: &std::path::Path, enc: Enc, seconds: u32) -> std::path::PathBuf {
    let p = dir.join(format!("cam-{enc:?}-{seconds}s.mp4"));
    if p.exists() {
        return p; // made already, and perhaps being served: never rewrite it
    }
    let codec: &[&str] = match enc {
        Enc::Baseline => &["-c:v", "libx264", "-profile:v", "baseline"],
        Enc::Main => &["-c:v", "libx264", "-profile:v", "main", "-bf", "0"],
        Enc::HighBFrames => &["-c:v", "libx264", "-profile:v", "high", "-bf", "2"],
        Enc::H265 => &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=2",
        ],
    };
    let mut args = codec.to_vec();
    args.extend(["-g", "25", "-pix_fmt", "yuv420p"]);
    testsrc(&format!("640x360:rate=25:duration={seconds}"), &args, &p)
}

/// Encodes ffmpeg's `testsrc2` pattern at `size` (`WxH:rate=R:duration=S`)
/// with `args` into `out`.
pub fn testsrc(size: &str, args: &[&str], out: &std::path::Path) -> std::path::PathBuf {
    let ok = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
        .arg("-i")
        .arg(format!("testsrc2=size={size}"))
        .args(args)
        .arg(out)
        .status()
        .unwrap();
    assert!(ok.success(), "ffmpeg could not make {}", out.display());
    out.to_owned()
}

pub struct Server(pub Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve(file: &std::path::Path, port: u16, auth: Option<(&str, &str)>) -> Server {
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/rtsp-server");
    let mut c = Command::new("/usr/bin/python3");
    c.arg(script).arg(file).args(["--port", &port.to_string()]);
    if let Some((u, p)) = auth {
        c.args(["--user", u, "--password", p]);
    }
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with gi (scripts/setup)");
    // Wait until it listens.
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "RTSP server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child)
}

pub fn wait_for(src: &RtspSource, state: CameraState, within: Duration) -> Duration {
    let t = Instant::now();
    while src.health().state != state {
        assert!(
            t.elapsed() < within,
            "camera not {state:?} within {within:?}: {:?}",
            src.health()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}
