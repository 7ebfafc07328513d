//! RTSP against a real server: GStreamer's RTSP server (scripts/rtsp-server)
//! on loopback, serving clips made with Debian's ffmpeg.

mod common;

use civitas_ingest::avcodec::H264Backend;
use civitas_ingest::rtsp::{CameraState, RtspSource, Transport};
use common::{Enc, clip, clip_with, free_port, serve, wait_for};
use std::process::Command;
use std::time::{Duration, Instant};

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
    let h264 = [
        "-c:v",
        "libx264",
        "-profile:v",
        "high",
        "-bf",
        "2",
        "-g",
        "25",
    ];
    let args = [&h264[..], &["-pix_fmt", "yuv420p", "-f", "h264"]].concat();
    let raw = common::testsrc(
        "640x360:rate=25:duration=40",
        &args,
        &dir.path().join("a.h264"),
    );
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
    wait_for(&src, CameraState::Offline, Duration::from_secs(8));
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
    wait_for(&src, CameraState::Offline, Duration::from_secs(8));
    let e = src.health().last_error.unwrap();
    assert!(e.contains("camera bad") && e.contains("DESCRIBE"), "{e}");
    assert!(
        RtspSource::start("x", "http://example/", 2.0, Transport::Tcp)
            .unwrap_err()
            .message()
            .contains("not rtsp://")
    );
}

/// Every encoding cameras send, four cameras at once: H.264 Baseline, Main,
/// High with B-frames (openh264 loses most frames of these unless it is set
/// not to flush after each decode; and with libavcodec) and H.265 (libavcodec). Each decodes at
/// the clip's full 25 fps and gives real pictures.
#[test]
fn baseline_main_high_and_h265_cameras_decode_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let encs = [
        (Enc::Baseline, H264Backend::Openh264),
        (Enc::Main, H264Backend::Openh264),
        (Enc::HighBFrames, H264Backend::Openh264),
        (Enc::HighBFrames, H264Backend::Libavcodec),
        (Enc::H265, H264Backend::Openh264),
    ];
    let mut servers = Vec::new();
    let mut cams = Vec::new();
    // Make every clip before any camera starts, so none reaches its end early.
    let files: Vec<_> = encs
        .iter()
        .map(|(enc, _)| clip_with(dir.path(), *enc, 30))
        .collect();
    for ((enc, h264), file) in encs.into_iter().zip(files) {
        let port = free_port();
        servers.push(serve(&file, port, None));
        let url = format!("rtsp://127.0.0.1:{port}/cam");
        cams.push(
            RtspSource::start_with(&format!("{enc:?}"), &url, 2.0, Transport::Tcp, h264).unwrap(),
        );
    }
    for ((enc, _), cam) in encs.iter().zip(&mut cams) {
        let f = (0..20)
            .find_map(|_| cam.next_timeout(Duration::from_secs(1)))
            .unwrap_or_else(|| panic!("{enc:?}: no frame: {:?}", cam.health()));
        assert_eq!((f.image.width_px, f.image.height_px), (640, 360), "{enc:?}");
        // testsrc2 is colourful: a grey or black picture means a broken decode.
        let mut seen = [false; 256];
        for p in f.image.data.chunks(3) {
            seen[p[0] as usize] = true;
        }
        let distinct = seen.iter().filter(|s| **s).count();
        assert!(
            distinct > 50,
            "{enc:?}: picture looks empty ({distinct} red levels)"
        );
    }
    // Count decoded pictures over 4 s of steady streaming.
    let before: Vec<u64> = cams.iter().map(|c| c.health().frames_decoded).collect();
    std::thread::sleep(Duration::from_secs(4));
    for (((enc, h264), cam), b) in encs.iter().zip(&cams).zip(before) {
        let h = cam.health();
        let fps = (h.frames_decoded - b) as f64 / 4.0;
        eprintln!("{enc:?} ({h264:?}): {fps:.1} decoded fps, {h:?}");
        assert!(
            fps >= 20.0,
            "{enc:?} decoded only {fps:.1} of 25 fps: {h:?}"
        );
        assert_eq!(h.state, CameraState::Online, "{enc:?}");
    }
}

/// Nothing listening at the camera's address: offline, the error names the
/// camera and says the connection failed, and it keeps retrying.
#[test]
fn an_unreachable_camera_is_offline_with_the_reason() {
    let port = free_port(); // bound then released: nothing listens there
    let src = RtspSource::start(
        "yard",
        &format!("rtsp://127.0.0.1:{port}/cam"),
        2.0,
        Transport::Tcp,
    )
    .unwrap();
    wait_for(&src, CameraState::Offline, Duration::from_secs(6));
    let t = Instant::now();
    while src.health().reconnects < 2 {
        assert!(t.elapsed() < Duration::from_secs(6), "{:?}", src.health());
        std::thread::sleep(Duration::from_millis(50));
    }
    let e = src.health().last_error.unwrap();
    assert!(e.contains("camera yard") && e.contains("DESCRIBE"), "{e}");
    assert!(
        e.to_lowercase().contains("refused") || e.contains("connect"),
        "{e}"
    );
}

/// Records a real camera (B-frames, and H.265) without re-encoding: an event
/// clip with its pre- and post-roll, then continuous segments; FFmpeg decodes
/// every picture of every file, at the camera's size, and the clip's length is
/// what was asked for.
#[test]
fn recording_a_real_camera_writes_standard_mp4_ffmpeg_decodes() {
    use civitas_ingest::recorder::{self, Mode, Notice, RealFs, RecorderConfig};
    let dir = tempfile::tempdir().unwrap();
    for (enc, mode) in [
        (Enc::HighBFrames, Mode::Events),
        (Enc::H265, Mode::Continuous),
    ] {
        let file = clip_with(dir.path(), enc, 30);
        let port = free_port();
        let _server = serve(&file, port, None);
        let rec_dir = dir.path().join(format!("rec-{enc:?}"));
        let (tx, rx) = std::sync::mpsc::channel();
        let (input, handle, thread) = recorder::start(
            RecorderConfig {
                camera: "cam".into(),
                dir: rec_dir.clone(),
                mode,
                pre_roll: Duration::from_secs(2),
                post_roll: Duration::from_secs(2),
                event_delay: Duration::from_secs(1),
                segment: Duration::from_secs(3),
            },
            RealFs,
            Box::new(move |n| {
                let _ = tx.send(n);
            }),
        )
        .unwrap();
        let mut src = RtspSource::start_recording(
            "cam",
            &format!("rtsp://127.0.0.1:{port}/cam"),
            2.0,
            Transport::Tcp,
            H264Backend::Openh264,
            Some(input),
        )
        .unwrap();
        // Let 4 s of stream pass (the pre-roll fills), then an event.
        let t = Instant::now();
        let mut trigger_at = None;
        while t.elapsed() < Duration::from_secs(11) {
            if let Some(f) = src.next_timeout(Duration::from_millis(500))
                && trigger_at.is_none()
                && t.elapsed() > Duration::from_secs(4)
            {
                let _ = f;
                let now = civitas_base::Clock::now(&civitas_base::SystemClock).0;
                handle.trigger(now);
                trigger_at = Some(now);
            }
        }
        drop(src);
        handle.stop();
        thread.join().unwrap();
        let notices: Vec<Notice> = rx.try_iter().collect();
        let closed: Vec<_> = notices
            .iter()
            .filter_map(|n| match n {
                Notice::Closed {
                    path,
                    start_ms,
                    end_ms,
                    ..
                } => Some((path.clone(), *start_ms, *end_ms)),
                _ => None,
            })
            .collect();
        match mode {
            Mode::Events => {
                assert_eq!(closed.len(), 1, "{notices:?}");
                let (_, start, end) = closed[0];
                let at = trigger_at.unwrap();
                assert!(start <= at - 2000 && start > at - 4000, "{start} vs {at}");
                assert!(end >= at + 2000 && end < at + 4000, "{end} vs {at}");
            }
            _ => assert!(closed.len() >= 2, "{notices:?}"),
        }
        for (path, start, end) in closed {
            let out = Command::new("ffprobe")
                .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
                .args([
                    "-show_entries",
                    "stream=codec_name,width,height,nb_read_frames",
                ])
                .args(["-of", "csv=p=0"])
                .arg(&path)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && err.trim().is_empty(),
                "{path:?}: {err}"
            );
            let f: Vec<&str> = text.split(',').collect();
            let frames: u64 = f[3].parse().unwrap();
            // 25 fps for the file's span (the last group's pictures included).
            let expected = (end - start) as f64 / 40.0;
            assert!(
                (frames as f64) >= expected * 0.9 && (frames as f64) <= expected * 1.2 + 25.0,
                "{enc:?} {path:?}: {text}, expected about {expected}"
            );
            assert_eq!(&f[1..3], &["640", "360"], "{text}");
            let codec = if enc == Enc::H265 { "hevc" } else { "h264" };
            assert_eq!(f[0], codec);
            // Decoding the whole file reports no error.
            let dec = Command::new("ffmpeg")
                .args(["-v", "error", "-i"])
                .arg(&path)
                .args(["-f", "null", "-"])
                .output()
                .unwrap();
            assert!(
                dec.status.success() && dec.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&dec.stderr)
            );
        }
    }
}
