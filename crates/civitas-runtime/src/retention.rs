//! Retention of the files the store does not hold: evidence bundles. (The
//! store's own sweep deletes rows; recordings are swept by the recorder.)
//! A bundle is kept `[retention] evidence_bundles_days` from its export,
//! longer while a legal hold names its candidate, and each deletion is
//! audited.

use anyhow::{Context, Result};
use civitas_audit::bundle::Manifest;
use civitas_base::Timestamp;
use civitas_store::{AuditRecord, Store};
use std::path::Path;

/// What a sweep of evidence bundles did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BundleSweep {
    pub evidence_bundles_deleted: u64,
    /// Due, but their candidate is under a legal hold.
    pub evidence_bundles_held: u64,
}

/// Deletes the bundles in `dir` exported more than `max_age_ms` before
/// `now` (`None`: kept until deleted by hand), unless a legal hold names
/// their candidate; each deletion is audited (`evidence.delete`, by
/// `system:retention`). Only folders named as exports name them
/// (`case-C-export-N-MS`) are touched; a bundle's age is its manifest's
/// `exported_at_ms` (the name's time if the manifest cannot be read).
pub async fn sweep_bundles(
    store: &Store,
    dir: &Path,
    max_age_ms: Option<i64>,
    now: Timestamp,
) -> Result<BundleSweep> {
    let mut out = BundleSweep::default();
    let Some(max_age) = max_age_ms else {
        return Ok(out);
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((candidate, named_ms)) = bundle_name(&name) else {
            continue;
        };
        let path = entry.path();
        let exported = std::fs::read(path.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .map_or(named_ms, |m| m.exported_at_ms);
        let age = now.0.saturating_sub(exported);
        if age <= max_age {
            continue;
        }
        if store.held(&format!("candidate:{candidate}")).await? {
            out.evidence_bundles_held += 1;
            continue;
        }
        std::fs::remove_dir_all(&path).with_context(|| format!("deleting {}", path.display()))?;
        let target = format!("candidate:{candidate}");
        let details = serde_json::json!({"bundle": name, "age_days": age / 86_400_000});
        let record = AuditRecord::new("system:retention", "evidence.delete", target);
        store.audit(now, record.details(details)).await?;
        out.evidence_bundles_deleted += 1;
    }
    Ok(out)
}

/// `case-C-export-N-MS` → (C, MS).
fn bundle_name(name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix("case-")?;
    let (candidate, rest) = rest.split_once("-export-")?;
    let (_, ms) = rest.split_once('-')?;
    Some((candidate.parse().ok()?, ms.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use civitas_auth::{Actor, Role};
    use std::sync::Arc;

    const DAY: i64 = 86_400_000;

    /// A bundle folder as an export leaves it (only the manifest matters here).
    fn bundle(dir: &Path, candidate: i64, exported_ms: i64) -> std::path::PathBuf {
        let p = dir.join(format!(
            "case-{candidate}-export-1-{}",
            exported_ms.min(DAY)
        ));
        std::fs::create_dir_all(p.join("clips")).unwrap();
        std::fs::write(p.join("clips/a.mp4"), b"clip").unwrap();
        let manifest = serde_json::json!({
            "format": "civitas-evidence-1", "case": {}, "legal_basis": {}, "exported_by": "sam",
            "exported_at_ms": exported_ms, "justification": "case 7", "redaction": {}, "files": [],
            "audit": {"public_key": "", "tree_head": {"tree_size": 0, "at_ms": 0, "root": "", "signature": ""}, "entries": []}
        });
        std::fs::write(p.join("manifest.json"), manifest.to_string()).unwrap();
        p
    }

    #[tokio::test]
    async fn old_bundles_go_unless_held_and_each_deletion_is_audited() {
        let tmp = tempfile::tempdir().unwrap();
        let key = Arc::new(civitas_audit::AuditKey::from_seed([5; 32]));
        let store = Store::open(&tmp.path().join("s.db"))
            .await
            .unwrap()
            .with_audit_key(key);
        let dir = tmp.path().join("evidence");
        let now = Timestamp(400 * DAY);
        let old = bundle(&dir, 1, 10 * DAY);
        let held = bundle(&dir, 2, 10 * DAY);
        let recent = bundle(&dir, 3, 300 * DAY);
        let stranger = dir.join("notes");
        std::fs::create_dir_all(&stranger).unwrap();
        let sam = Actor {
            username: "sam".into(),
            role: Role::Supervisor,
            scope: vec!["*".into()],
        };
        store
            .place_hold(&sam, "candidate:2", "court case 7", now)
            .await
            .unwrap();
        let r = sweep_bundles(&store, &dir, Some(365 * DAY), now)
            .await
            .unwrap();
        assert_eq!(
            r,
            BundleSweep {
                evidence_bundles_deleted: 1,
                evidence_bundles_held: 1
            }
        );
        assert!(!old.exists() && held.exists() && recent.exists() && stranger.exists());
        let rows = store.audit_entries(0, 100, "evidence.delete").await;
        let who: Vec<(String, String)> = rows
            .unwrap()
            .into_iter()
            .map(|e| (e.actor, e.target))
            .collect();
        assert_eq!(
            who,
            [("system:retention".to_owned(), "candidate:1".to_owned())]
        );
        // Kept forever when the period is negative (None).
        let none = sweep_bundles(&store, &dir, None, Timestamp(9_000 * DAY))
            .await
            .unwrap();
        assert_eq!(none, BundleSweep::default());
        assert!(held.exists() && recent.exists());
    }
}
