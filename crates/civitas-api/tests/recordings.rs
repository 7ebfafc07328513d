//! Playing recorded video through the real router over a real SQLite store
//! and a real MP4 file made with FFmpeg: range requests as a browser sends
//! them, the audit of each playback's start, and the clear answers for a
//! recording retention deleted or a file removed behind Civitas's back.

mod common;

use axum::http::{StatusCode, header};
use common::*;

async fn get(f: &Fixture, path: &str, who: &Who, range: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = range.map(|r| ("range", r)).into_iter().collect();
    call_with(&f.app, "GET", path, who, None, &headers).await
}

#[tokio::test]
async fn a_recording_plays_with_range_requests_and_each_playback_is_audited() {
    let rec_dir = tempfile::tempdir().unwrap();
    let d = rec_dir.path().to_owned();
    let f = fixture_with(0, move |c| c.recordings_dir = Some(d)).await;
    std::fs::create_dir_all(rec_dir.path().join("gate")).unwrap();
    let file = rec_dir.path().join("gate/1000-event.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .args([
            "testsrc2=size=320x240:rate=25:duration=3",
            "-c:v",
            "libx264",
        ])
        .args([
            "-g",
            "25",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
        ])
        .arg(&file)
        .status()
        .unwrap();
    assert!(ok.success());
    let bytes = std::fs::read(&file).unwrap();
    let len = bytes.len();
    let id = f
        .store
        .recording_finished(
            "gate",
            "gate/1000-event.mp4",
            "event",
            T0 - 5_000,
            T0 - 2_000,
            len as i64,
            "complete",
            None,
        )
        .await
        .unwrap();
    let sam = login(&f.app, "sam").await;
    // Found around the time, with a justification.
    let q = format!(
        "/api/v1/recordings?camera=gate&from_ms={}&to_ms={}",
        T0 - 3_000,
        T0
    );
    let r = get(&f, &q, &sam, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.message());
    assert!(r.message().contains("justification"), "{}", r.message());
    let r = get(&f, &format!("{q}&justification=case%2042"), &sam, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.message());
    assert_eq!(r.json()[0]["id"], id);
    // The whole file, then ranges as a <video> asks for them.
    let media = format!("/api/v1/recordings/{id}/media");
    let r = get(&f, &media, &sam, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, bytes);
    assert_eq!(r.headers[header::CONTENT_TYPE], "video/mp4");
    assert_eq!(r.headers[header::ACCEPT_RANGES], "bytes");
    let r = get(&f, &media, &sam, Some("bytes=0-")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers[header::CONTENT_RANGE],
        format!("bytes 0-{}/{len}", len - 1)
    );
    let r = get(&f, &media, &sam, Some("bytes=100-199")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, &bytes[100..200]);
    let r = get(&f, &media, &sam, Some(&format!("bytes={len}-"))).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert!(
        r.message().contains(&format!("has {len} bytes")),
        "{}",
        r.message()
    );
    // One play audited: the player's follow-up ranges within five minutes
    // of the audited one are the same viewing.
    let plays = f
        .store
        .audit_entries(0, 1000, "recording.play")
        .await
        .unwrap();
    assert_eq!(plays.len(), 1, "{plays:?}");
    // Later, any range, even one not from byte 0, is a new audited play.
    f.clock.advance_ms(6 * 60_000);
    let r = get(&f, &media, &sam, Some("bytes=1-")).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    let plays = f
        .store
        .audit_entries(0, 1000, "recording.play")
        .await
        .unwrap();
    assert_eq!(plays.len(), 2, "{plays:?}");
    assert_eq!(plays[0].actor, "sam");
    assert_eq!(plays[0].target, format!("recording:{id}"));
    // Someone without `search` is refused; so is nobody.
    let aude = login(&f.app, "aude").await;
    assert_eq!(
        get(&f, &media, &aude, None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&f, &media, &Who::default(), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The file removed outside Civitas: 410 saying so.
    std::fs::remove_file(&file).unwrap();
    let r = get(&f, &media, &sam, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(
        r.message().contains("its file is missing"),
        "{}",
        r.message()
    );
    // Deleted by retention: 410 with when and why.
    let due = f
        .store
        .recordings_due(
            civitas_base::Timestamp(T0 + 40 * 86_400_000),
            Some(30 * 86_400_000),
            i64::MAX,
        )
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    f.store
        .recordings_deleted(&due, civitas_base::Timestamp(T0))
        .await
        .unwrap();
    let r = get(&f, &media, &sam, None).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(
        r.message().contains("deleted by retention (age)"),
        "{}",
        r.message()
    );
    assert_eq!(
        get(&f, "/api/v1/recordings/999/media", &sam, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
