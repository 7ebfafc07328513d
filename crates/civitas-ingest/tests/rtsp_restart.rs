//! Pulling a camera's plug and putting it back, three times, against the real
//! RTSP server. In its own test binary so that the thread and memory counts
//! are this test's alone.

mod common;

use civitas_ingest::rtsp::{CameraState, RtspSource, Transport};
use common::{clip, free_port, serve, wait_for};
use std::time::{Duration, Instant};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn the_camera_comes_back_within_5_s_each_time_without_thread_or_memory_growth() {
    let dir = tempfile::tempdir().unwrap();
    let file = clip(dir.path());
    let port = free_port();
    let mut server = Some(serve(&file, port, None));
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
    assert_eq!(src.health().state, CameraState::Online);

    let mut samples = Vec::new();
    for cycle in 1..=3 {
        // Pull the plug.
        drop(server.take());
        wait_for(&src, CameraState::Offline, Duration::from_secs(6));
        let h = src.health();
        assert!(
            h.last_error
                .as_deref()
                .unwrap_or("")
                .contains("camera cam1"),
            "{h:?}"
        );
        // Put it back: online again within 5 s of the server's return.
        server = Some(serve(&file, port, None));
        let back = wait_for(&src, CameraState::Online, Duration::from_secs(5));
        eprintln!("cycle {cycle}: camera back online {back:?} after the server returned");
        assert!(src.health().reconnects >= cycle);
        while src.next_timeout(Duration::from_millis(10)).is_some() {}
        assert!(
            src.next_timeout(Duration::from_secs(3)).is_some(),
            "frames flow again"
        );
        // Let the stream settle, then sample.
        for _ in 0..10 {
            src.next_timeout(Duration::from_millis(300));
        }
        samples.push((threads(), rss_kib()));
        eprintln!(
            "cycle {cycle}: {} threads, {} KiB resident",
            samples.last().unwrap().0,
            samples.last().unwrap().1
        );
    }
    let (t1, m1) = samples[0];
    let (t3, m3) = samples[2];
    assert_eq!(
        t3, t1,
        "reconnects must not leave threads behind: {samples:?}"
    );
    // A leak of the decoder or the session (megabytes of buffers each) would
    // show as steady growth; allow allocator noise of 4 MiB.
    assert!(
        m3 <= m1 + 4096,
        "resident memory grew across reconnects: {samples:?}"
    );
}
