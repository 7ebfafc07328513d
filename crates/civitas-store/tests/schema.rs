//! Upgrades are forward-only migrations; a database upgraded from any
//! earlier version must end with exactly the schema of a fresh one, and keep
//! its rows. Each earlier version is created (with rows written in that
//! version's schema where the version has the tables), then opened by the
//! store, which applies the rest.

mod common;

use civitas_store::Store;
use common::SEED_V2;

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
