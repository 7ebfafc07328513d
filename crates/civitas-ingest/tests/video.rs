//! Decoding real clips made with Debian's ffmpeg, and refusing broken ones clearly.

use civitas_ingest::open_path;
use std::process::Command;

mod common;

#[test]
fn samples_a_clip_at_the_requested_rate() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::clip_with(dir.path(), common::Enc::HighBFrames, 3);
    let mut src = open_path(&clip, 2.0, false).unwrap();
    assert_eq!(src.len_hint(), Some(6));
    let mut frames = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        assert_eq!((f.image.width_px, f.image.height_px), (640, 360));
        frames.push(f.offset_ms);
    }
    assert_eq!(frames, vec![0, 500, 1000, 1500, 2000, 2500]);
}

#[test]
fn a_file_that_is_not_video_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notes.mp4");
    std::fs::write(&f, b"these are not the frames you are looking for").unwrap();
    let e = open_path(&f, 2.0, false).err().expect("must fail");
    assert!(
        e.message().contains("notes.mp4") && e.message().contains("not a readable video"),
        "{}",
        e.message()
    );
}

#[test]
fn a_truncated_file_yields_the_frames_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let x264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"];
    let clip = common::testsrc(
        "320x240:rate=25:duration=4",
        &x264,
        &dir.path().join("b.mkv"),
    );
    let bytes = std::fs::read(&clip).unwrap();
    std::fs::write(&clip, &bytes[..bytes.len() / 2]).unwrap();
    let mut src = open_path(&clip, 5.0, false).unwrap();
    let mut n = 0;
    while let Some(_f) = src.next_frame().unwrap() {
        n += 1;
    }
    assert!(n > 0 && n < 20, "frames before the cut: {n}");
}

#[test]
fn a_missing_path_is_not_found() {
    let e = open_path(std::path::Path::new("/nonexistent/clip.mp4"), 2.0, false)
        .err()
        .unwrap();
    assert_eq!(e.kind(), civitas_base::ErrorKind::NotFound);
}

/// Files in every form cameras and recorders leave them: H.264 and H.265 in
/// MP4 and Matroska, and raw Annex-B .h264 / .h265 streams.
#[test]
fn mp4_mkv_and_annex_b_files_in_h264_and_h265_all_replay() {
    let dir = tempfile::tempdir().unwrap();
    for (name, codec) in [
        ("a.mp4", "libx264"),
        ("b.mkv", "libx265"),
        ("c.h264", "libx264"),
        ("d.h265", "libx265"),
        ("e.mp4", "libx265"),
    ] {
        let path = dir.path().join(name);
        let ok = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc2=size=640x360:rate=25:duration=3"])
            .args(["-c:v", codec, "-pix_fmt", "yuv420p"])
            .args(["-x265-params", "log-level=error"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success(), "{name}");
        let mut src = open_path(&path, 2.0, false).unwrap();
        let mut n = 0;
        while let Some(f) = src.next_frame().unwrap() {
            assert_eq!((f.image.width_px, f.image.height_px), (640, 360), "{name}");
            n += 1;
        }
        assert_eq!(n, 6, "{name}: 3 s at 2 fps");
    }
}
