//! Upgrades are forward-only migrations; a database upgraded from any
//! earlier version must end with exactly the schema of a fresh one, and keep
//! its rows. Each earlier version is created (with rows written in that
//! version's schema where the version has the tables), then opened by the
//! store, which applies the rest.

use civitas_store::Store;

/// Rows valid in schema v2 (and later): a basis, an entry with a template,
/// a candidate with a review, a user, a hold.
const SEED_V2: &str = "
INSERT INTO legal_basis (id, kind, authority, reference, purpose, granted_at_ms, expires_at_ms, entered_by)
  VALUES (1, 'court-order', 'Court 1', 'CO-1', 'test', 1000, 9000000000000, 'sam');
INSERT INTO watchlist_entry (id, name, legal_basis_id, created_at_ms) VALUES (1, 'Alice', 1, 1000);
INSERT INTO entry_template (entry_id, source_photo, template) VALUES (1, 'a.jpg', x'00010203');
INSERT INTO candidate (id, camera_id, track_id, entry_id, distance, detector_score, bbox_json, frame_time_ms, offset_ms, created_at_ms)
  VALUES (1, 'gate', 1, 1, 0.3, 0.9, '{\"x0\":0,\"y0\":0,\"x1\":1,\"y1\":1}', 2000, 0, 2000);
INSERT INTO app_user (username, password_hash, role, created_at_ms) VALUES ('sam', 'x', 'supervisor', 1000);
INSERT INTO candidate_review (candidate_id, username, decision, at_ms) VALUES (1, 'sam', 'confirm', 3000);
INSERT INTO legal_hold (target, reason, placed_by, placed_at_ms) VALUES ('candidate:1', 'case 7', 'sam', 4000);
";

#[tokio::test]
async fn a_database_upgraded_from_any_version_has_the_fresh_schema_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = Store::open(&dir.path().join("fresh.db")).await.unwrap();
    let (fresh_schema, _) = fresh.schema_dump().await.unwrap();
    assert!(
        fresh_schema
            .iter()
            .any(|s| s.starts_with("table applied_event"))
    );
    let versions: Vec<i64> = (1..=10).collect();
    for v in versions {
        let path = dir.path().join(format!("from-v{v}.db"));
        let seed = if v >= 2 { SEED_V2 } else { "" };
        Store::create_at_version(&format!("sqlite://{}", path.display()), v, seed)
            .await
            .unwrap();
        let upgraded = Store::open(&path).await.unwrap();
        let (schema, fk_failures) = upgraded.schema_dump().await.unwrap();
        assert_eq!(schema, fresh_schema, "upgraded from v{v}");
        assert_eq!(
            fk_failures, 0,
            "foreign keys broken by the upgrade from v{v}"
        );
        if v >= 2 {
            let c = upgraded.candidates(10).await.unwrap();
            assert_eq!(c.len(), 1, "the candidate written at v{v} survives");
            assert_eq!(c[0].candidate.entry_name, "Alice");
            assert_eq!(upgraded.watchlist().await.unwrap().len(), 1);
        }
        upgraded.close().await;
    }
}
