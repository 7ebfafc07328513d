//! Store round trips on a real SQLite file.

use civitas_base::Timestamp;
use civitas_model::{BBox, CameraId, Candidate, FaceTemplate, LegalBasisInput, TrackId};
use civitas_store::Store;

fn basis(now: Timestamp) -> civitas_model::LegalBasis {
    LegalBasisInput {
        kind: "court-order".into(),
        authority: "Court 1".into(),
        reference: "CO-1".into(),
        purpose: "test".into(),
        expires: "2030-01-01".into(),
    }
    .validate(now)
    .unwrap()
}

#[tokio::test]
async fn enroll_then_load_and_store_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    let now = Timestamp::parse_rfc3339("2026-11-28").unwrap();
    let b = basis(now);
    let t = FaceTemplate::new(vec![0.6, 0.8]);
    let id = store
        .enroll(
            "Alice",
            &b,
            "tester",
            vec![("a.jpg".into(), t.clone().into_enrolled_bytes(&b))],
            None,
            now,
        )
        .await
        .unwrap();
    let wl = store.watchlist().await.unwrap();
    assert_eq!(wl.len(), 1);
    assert_eq!(wl[0].id, id);
    assert_eq!(wl[0].templates, vec![t]);
    assert_eq!(wl[0].basis.reference, "CO-1");

    let c = Candidate {
        id: None,
        camera: CameraId::from("cam1"),
        track: TrackId(3),
        entry: id,
        entry_name: "Alice".into(),
        distance: 0.31,
        detector_score: 0.9,
        bbox: BBox {
            x0: 1.0,
            y0: 2.0,
            x1: 3.0,
            y1: 4.0,
        },
        frame_time: now,
        offset_ms: 500,
        crop_jpeg: vec![1, 2, 3],
    };
    store.insert_candidate(&c, now).await.unwrap();
    let cs = store.candidates(10).await.unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].status, "candidate");
    assert_eq!(cs[0].candidate.bbox, c.bbox);
    assert_eq!(cs[0].candidate.entry_name, "Alice");
    store.close().await;

    // Reopening applies no migration twice and keeps the data.
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    assert_eq!(store.watchlist().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_legal_basis_field_is_refused_by_the_schema_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).await.unwrap();
    let now = Timestamp(1_000);
    let mut b = basis(Timestamp::parse_rfc3339("2026-11-28").unwrap());
    b.authority = "  ".into();
    let e = store
        .enroll(
            "Bob",
            &b,
            "tester",
            vec![("b.jpg".into(), vec![0; 8])],
            None,
            now,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        civitas_base::ErrorKind::InvalidArgument,
        "{}",
        e.chain()
    );
    assert!(store.watchlist().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unwritable_path_names_the_file() {
    let e = Store::open(std::path::Path::new("/proc/civitas/nope.db"))
        .await
        .unwrap_err();
    assert!(e.chain().contains("/proc/civitas"), "{}", e.chain());
}
