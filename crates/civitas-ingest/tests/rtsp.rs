//! RTSP against a real server: GStreamer's RTSP server (scripts/rtsp-server)
//! on loopback, serving a clip made with Debian's ffmpeg.

use civitas_ingest::rtsp::{HealthState, RtspSource, Transport};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn clip(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("cam.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=60",
        ])
        .args([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-bf",
            "2",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&p)
        .status()
        .unwrap();
    assert!(ok.success());
    p
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(file: &std::path::Path, port: u16, auth: Option<(&str, &str)>) -> Server {
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

fn wait_for(src: &RtspSource, state: HealthState, within: Duration) -> Duration {
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

#[test]
fn frames_flow_and_the_camera_comes_back_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let file = clip(dir.path());
    let port = free_port();
    let server = serve(&file, port, None);
    let mut src = RtspSource::start(
        "cam1",
        &format!("rtsp://127.0.0.1:{port}/cam"),
        5.0,
        Transport::Tcp,
    )
    .unwrap();
    let mut got = 0;
    let t = Instant::now();
    while got < 5 && t.elapsed() < Duration::from_secs(15) {
        if let Some(f) = src.next_timeout(Duration::from_secs(1)) {
            assert_eq!((f.image.width_px, f.image.height_px), (640, 360));
            got += 1;
        }
    }
    assert_eq!(got, 5, "{:?}", src.health());
    assert_eq!(src.health().state, HealthState::Online);

    let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
    let threads_before = threads();

    // Pull the plug.
    drop(server);
    wait_for(&src, HealthState::Offline, Duration::from_secs(6));
    let h = src.health();
    assert!(
        h.last_error
            .as_deref()
            .unwrap_or("")
            .contains("camera cam1"),
        "{h:?}"
    );

    // Put it back: online again within 5 s of the server's return.
    let _server = serve(&file, port, None);
    let back = wait_for(&src, HealthState::Online, Duration::from_secs(5));
    eprintln!("camera back online {back:?} after the server returned");
    assert!(src.health().reconnects >= 1);
    while src.next_timeout(Duration::from_millis(10)).is_some() {}
    assert!(
        src.next_timeout(Duration::from_secs(3)).is_some(),
        "frames flow again"
    );
    assert_eq!(
        threads(),
        threads_before,
        "a reconnect must not leave threads behind"
    );
}

#[test]
fn udp_transport_works_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = clip(dir.path());
    let port = free_port();
    let _server = serve(&file, port, None);
    let mut src = RtspSource::start(
        "udp",
        &format!("rtsp://127.0.0.1:{port}/cam"),
        5.0,
        Transport::Udp,
    )
    .unwrap();
    let t = Instant::now();
    let mut got = 0;
    while got < 3 && t.elapsed() < Duration::from_secs(15) {
        got += src.next_timeout(Duration::from_secs(1)).is_some() as usize;
    }
    assert_eq!(got, 3, "{:?}", src.health());
}

/// Bytes flipped in the middle of an H.264 stream: the camera keeps delivering
/// frames (decoding resumes at the next key frame) and a good camera beside it
/// is not disturbed.
#[test]
fn corrupted_h264_mid_stream_does_not_stop_the_camera_or_its_neighbour() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("cam.h264");
    let ok = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=40",
        ])
        .args([
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-bf",
            "2",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "h264",
        ])
        .arg(&raw)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut bytes = std::fs::read(&raw).unwrap();
    // Flip bytes through a stretch in the first tenth of the stream, sparing start codes.
    let n = bytes.len();
    for i in (n / 40..n / 10).step_by(97) {
        if bytes[i] > 1 {
            bytes[i] ^= 0x5a;
        }
    }
    std::fs::write(&raw, &bytes).unwrap();
    let good = clip(dir.path());
    let (p1, p2) = (free_port(), free_port());
    let _s1 = serve(&raw, p1, None);
    let _s2 = serve(&good, p2, None);
    let mut bad = RtspSource::start(
        "damaged",
        &format!("rtsp://127.0.0.1:{p1}/cam"),
        5.0,
        Transport::Tcp,
    )
    .unwrap();
    let mut ok_cam = RtspSource::start(
        "fine",
        &format!("rtsp://127.0.0.1:{p2}/cam"),
        5.0,
        Transport::Tcp,
    )
    .unwrap();
    let t = Instant::now();
    let (mut a, mut b) = (0, 0);
    while (a < 10 || b < 10) && t.elapsed() < Duration::from_secs(20) {
        a += bad.next_timeout(Duration::from_millis(100)).is_some() as usize;
        b += ok_cam.next_timeout(Duration::from_millis(100)).is_some() as usize;
    }
    eprintln!("damaged camera: {a} frames, {:?}", bad.health());
    assert!(b >= 10, "the good camera kept flowing: {b}");
    assert!(
        a >= 10,
        "the damaged camera kept delivering frames after the damage: {a}, {:?}",
        bad.health()
    );
}

#[test]
fn wrong_credentials_are_named_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = clip(dir.path());
    let port = free_port();
    let _server = serve(&file, port, Some(("op", "right-password")));
    let src = RtspSource::start(
        "door",
        &format!("rtsp://op:wrong-password@127.0.0.1:{port}/cam"),
        2.0,
        Transport::Tcp,
    )
    .unwrap();
    wait_for(&src, HealthState::Offline, Duration::from_secs(8));
    let e = src.health().last_error.unwrap();
    assert!(
        e.contains("camera door") && e.contains("***@127.0.0.1"),
        "{e}"
    );
    assert!(
        e.contains("401") || e.to_lowercase().contains("unauthorized"),
        "{e}"
    );
    assert!(!e.contains("wrong-password"), "password leaked: {e}");
}

#[test]
fn a_peer_that_speaks_garbage_gets_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().take(3).flatten() {
            use std::io::Write;
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nthis is not RTSP at all\r\n");
        }
    });
    let src = RtspSource::start(
        "bad",
        &format!("rtsp://127.0.0.1:{port}/x"),
        2.0,
        Transport::Tcp,
    )
    .unwrap();
    wait_for(&src, HealthState::Offline, Duration::from_secs(8));
    let e = src.health().last_error.unwrap();
    assert!(e.contains("camera bad") && e.contains("DESCRIBE"), "{e}");
    assert!(
        RtspSource::start("x", "http://example/", 2.0, Transport::Tcp)
            .unwrap_err()
            .message()
            .contains("not rtsp://")
    );
}
