//! The snapshot-push endpoint, through the real router: tokens, limits, bad
//! uploads, and the good upload that reaches the camera's frame source.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use civitas_api::{ApiState, PushCamera, router};
use civitas_ingest::push::{SnapshotLimits, push_camera};
use civitas_ingest::rtsp::CameraState;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const TOKEN: &str = "s3cret-camera-token";

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]));
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new(&mut out)
        .encode_image(&img)
        .unwrap();
    out
}

async fn post(
    app: &axum::Router,
    cam: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    let mut req = Request::post(format!("/api/v1/cameras/{cam}/snapshot"))
        .header("content-type", "image/jpeg");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn uploads_are_checked_and_good_ones_reach_the_pipeline() {
    let limits = SnapshotLimits {
        max_bytes: 64 * 1024,
        max_side: 1000,
    };
    let (mut src, handle) = push_camera("gate", limits, 8);
    let health = handle.health();
    let mut push = HashMap::new();
    push.insert(
        "gate".to_owned(),
        PushCamera {
            handle,
            token_sha256: Sha256::digest(TOKEN.as_bytes()).into(),
        },
    );
    let (app, _) = router(ApiState {
        push: Arc::new(push),
        console: None,
    });

    let (s, b) = post(&app, "gate", Some(TOKEN), jpeg(320, 240)).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(b["index"], 0);
    let f = src.next_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!((f.image.width_px, f.image.height_px), (320, 240));

    let (s, b) = post(&app, "gate", None, jpeg(32, 32)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("no bearer token"),
        "{b}"
    );
    let (s, b) = post(&app, "gate", Some("guess"), jpeg(32, 32)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("wrong token"),
        "{b}"
    );
    let (s, b) = post(&app, "door", Some(TOKEN), jpeg(32, 32)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");

    // Oversize body: refused before it is read whole.
    let (s, b) = post(&app, "gate", Some(TOKEN), vec![0xff; 200 * 1024]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("65536-byte limit"),
        "{b}"
    );
    // Not an image.
    let (s, b) = post(&app, "gate", Some(TOKEN), b"<html>hello</html>".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["message"].as_str().unwrap().contains("camera gate")
            && b["message"].as_str().unwrap().contains("not a JPEG or PNG"),
        "{b}"
    );
    // A small file declaring a huge picture.
    let (s, b) = post(&app, "gate", Some(TOKEN), jpeg(1200, 8)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    // A truncated JPEG.
    let mut cut = jpeg(200, 200);
    cut.truncate(cut.len() / 3);
    let (s, b) = post(&app, "gate", Some(TOKEN), cut).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let h = health.get();
    assert_eq!(h.state, CameraState::Degraded);
    assert!(h.last_error.unwrap().contains("camera gate"));
    // Nothing queued from the bad ones; the next good upload flows.
    assert!(src.next_timeout(Duration::from_millis(50)).is_none());
    let (s, _) = post(&app, "gate", Some(TOKEN), jpeg(64, 64)).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert!(src.next_timeout(Duration::from_secs(1)).is_some());
    assert_eq!(health.get().state, CameraState::Online);
}

#[test]
fn every_error_kind_has_a_status() {
    use civitas_base::ErrorKind::*;
    for (k, s) in [
        (InvalidArgument, 400),
        (Unauthenticated, 401),
        (PermissionDenied, 403),
        (NotFound, 404),
        (AlreadyExists, 409),
        (FailedPrecondition, 412),
        (TooLarge, 413),
        (ResourceExhausted, 429),
        (Unavailable, 503),
        (DataLoss, 500),
        (Internal, 500),
    ] {
        assert_eq!(civitas_api::status_for(k).as_u16(), s, "{k:?}");
    }
}
