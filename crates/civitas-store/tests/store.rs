//! Store tests on real databases: round trips, and the accountability core
//! (audit tree, two-person review, expiry, refusal, retention, holds) with
//! simulated time. SQLite files by default; with `CIVITAS_TEST_STORE=postgres`
//! each test gets its own PostgreSQL database (`scripts/test` runs both).

mod common;

use civitas_audit::AuditKey;
use civitas_auth::{Actor, Role};
use civitas_base::{ErrorKind, Timestamp};
use civitas_model::Decision;
use civitas_model::{Candidate, EntryId, FaceTemplate, LegalBasisInput};
use civitas_store::testing::TestStore;
use civitas_store::{Enrolment, RetentionPolicy, ReviewPolicy, Store};
use common::cand_at;
use std::sync::Arc;

const SEED: [u8; 32] = [1; 32];

fn actor(name: &str, role: Role) -> Actor {
    Actor {
        username: name.into(),
        role,
        scope: vec!["*".into()],
    }
}

async fn open(db: &TestStore) -> Store {
    db.open()
        .await
        .unwrap()
        .with_audit_key(Arc::new(AuditKey::from_seed(SEED)))
}

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-28T12:00:00Z").unwrap()
}

fn basis(now: Timestamp, expires: &str) -> civitas_model::LegalBasis {
    LegalBasisInput {
        kind: "court-order".into(),
        authority: "Court 1".into(),
        reference: "CO-1".into(),
        purpose: "test".into(),
        expires: expires.into(),
    }
    .validate(now)
    .unwrap()
}

async fn enrolled(store: &Store, name: &str, expires: &str) -> EntryId {
    let b = basis(t0(), expires);
    let t = FaceTemplate::new(vec![0.6, 0.8]);
    store
        .enroll(
            &actor("sam", Role::Supervisor),
            Enrolment::new(
                name,
                &b,
                &["*".into()],
                vec![("a.jpg".into(), t.into_enrolled_bytes(&b))],
            ),
            t0(),
        )
        .await
        .unwrap()
}

fn cand(entry: EntryId, camera: &str) -> Candidate {
    cand_at(entry, camera, t0())
}

#[tokio::test]
async fn enroll_then_load_and_store_candidate() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let id = enrolled(&store, "Alice", "2030-01-01").await;
    let wl = store.watchlist().await.unwrap();
    assert_eq!(wl.len(), 1);
    assert_eq!(wl[0].id, id);
    assert_eq!(wl[0].templates, vec![FaceTemplate::new(vec![0.6, 0.8])]);
    assert_eq!(wl[0].basis.reference, "CO-1");
    let c = cand(id, "cam1");
    store
        .insert_candidate(&c, t0(), &ReviewPolicy::default())
        .await
        .unwrap()
        .unwrap();
    let cs = store.candidates(10).await.unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].status, "candidate");
    assert_eq!(cs[0].candidate.bbox, c.bbox);
    store.close().await;
    let store = open(&dir).await;
    assert_eq!(store.watchlist().await.unwrap().len(), 1);
    // Enrolment and the candidate were audited, and the log verifies.
    let r = store
        .audit_verify(&AuditKey::from_seed(SEED).public())
        .await
        .unwrap();
    assert_eq!(r.entries, 2);
    let e = store.audit_entries(0, 10, "").await.unwrap();
    assert_eq!(
        (e[0].action.as_str(), e[0].actor.as_str()),
        ("watchlist.enroll", "sam")
    );
    assert_eq!(e[1].action, "candidate.raise");
}

#[tokio::test]
async fn a_missing_legal_basis_field_is_refused_by_the_schema_too() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let mut b = basis(t0(), "2030-01-01");
    b.authority = "  ".into();
    let e = store
        .enroll(
            &actor("sam", Role::Supervisor),
            civitas_store::Enrolment::new(
                "Bob",
                &b,
                &["*".into()],
                vec![("b.jpg".into(), vec![0; 8])],
            ),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{}", e.chain());
    assert!(store.watchlist().await.unwrap().is_empty());
    assert_eq!(
        store.audit_head().await.unwrap(),
        None,
        "nothing audited for a refused enrolment"
    );
    // An operator may not enrol at all.
    let b = basis(t0(), "2030-01-01");
    let e = store
        .enroll(
            &actor("olga", Role::Operator),
            civitas_store::Enrolment::new(
                "Bob",
                &b,
                &["*".into()],
                vec![("b.jpg".into(), vec![0; 8])],
            ),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn an_unwritable_path_names_the_file() {
    let e = Store::open(std::path::Path::new("/proc/civitas/nope.db"))
        .await
        .unwrap_err();
    assert!(e.chain().contains("/proc/civitas"), "{}", e.chain());
}

#[tokio::test]
async fn a_face_candidate_needs_two_different_people() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let id = enrolled(&store, "Alice", "2030-01-01").await;
    let c = store
        .insert_candidate(&cand(id, "cam1"), t0(), &ReviewPolicy::default())
        .await
        .unwrap()
        .unwrap();
    let p = ReviewPolicy::default();
    let (olga, omar) = (actor("olga", Role::Operator), actor("omar", Role::Operator));
    let o = store
        .review(&olga, c.0, Decision::Confirm, "", t0().plus_ms(1000), &p)
        .await
        .unwrap();
    assert_eq!(
        (o.status.name(), o.confirmations, o.required),
        ("candidate", 1, 2)
    );
    // The same person again is refused and changes nothing.
    let e = store
        .review(&olga, c.0, Decision::Confirm, "", t0().plus_ms(2000), &p)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::FailedPrecondition);
    assert!(
        e.message()
            .contains("a second confirmation must come from a different person"),
        "{}",
        e.message()
    );
    // An auditor cannot confirm.
    let e = store
        .review(
            &actor("aude", Role::Auditor),
            c.0,
            Decision::Confirm,
            "",
            t0(),
            &p,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let o = store
        .review(
            &omar,
            c.0,
            Decision::Confirm,
            "seen on tape",
            t0().plus_ms(3000),
            &p,
        )
        .await
        .unwrap();
    assert_eq!(o.status, "confirmed");
    let e = store
        .review(
            &actor("sam", Role::Supervisor),
            c.0,
            Decision::Reject,
            "x",
            t0(),
            &p,
        )
        .await
        .unwrap_err();
    assert!(e.message().contains("already confirmed"), "{}", e.message());
    let actions: Vec<String> = store
        .audit_entries(0, 100, "candidate.")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        vec!["candidate.raise", "candidate.confirm", "candidate.confirm"]
    );
}

#[tokio::test]
async fn rejection_needs_a_reason_and_suppresses_re_alerts_for_a_while() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let id = enrolled(&store, "Alice", "2030-01-01").await;
    let p = ReviewPolicy::default();
    let c = store
        .insert_candidate(&cand(id, "cam1"), t0(), &p)
        .await
        .unwrap()
        .unwrap();
    let olga = actor("olga", Role::Operator);
    let e = store
        .review(&olga, c.0, Decision::Reject, " ", t0(), &p)
        .await
        .unwrap_err();
    assert!(e.message().contains("needs a reason"));
    store
        .review(&olga, c.0, Decision::Reject, "not this person", t0(), &p)
        .await
        .unwrap();
    // Same entry, same camera, within the window: suppressed. Another camera: raised.
    assert_eq!(
        store
            .insert_candidate(
                &cand_at(id, "cam1", t0().plus_ms(60_000)),
                t0().plus_ms(60_000),
                &p
            )
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .insert_candidate(
                &cand_at(id, "cam2", t0().plus_ms(60_000)),
                t0().plus_ms(60_000),
                &p
            )
            .await
            .unwrap()
            .is_some()
    );
    // After the window it alerts again.
    let later = t0().plus_ms(p.suppress_after_reject_ms + 1);
    assert!(
        store
            .insert_candidate(&cand_at(id, "cam1", later), later, &p)
            .await
            .unwrap()
            .is_some()
    );
    let r = store
        .report_counts(t0(), later.plus_ms(1), later)
        .await
        .unwrap();
    assert_eq!(r.rejected, 1);
    assert_eq!(r.rejection_reasons.get("not this person"), Some(&1));
    assert_eq!(r.actions.get("candidate.suppress"), Some(&1));
}

#[tokio::test]
async fn candidates_expire_unreviewed_and_cannot_then_be_confirmed() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let id = enrolled(&store, "Alice", "2030-01-01").await;
    let p = ReviewPolicy::default();
    let c = store
        .insert_candidate(&cand(id, "cam1"), t0(), &p)
        .await
        .unwrap()
        .unwrap();
    let late = t0().plus_ms(p.candidate_expiry_ms + 1);
    let e = store
        .review(
            &actor("olga", Role::Operator),
            c.0,
            Decision::Confirm,
            "",
            late,
            &p,
        )
        .await
        .unwrap_err();
    assert!(
        e.message().contains("expired unreviewed"),
        "{}",
        e.message()
    );
    assert_eq!(store.candidates(10).await.unwrap()[0].status, "expired");
}

#[tokio::test]
async fn a_refused_basis_deletes_its_entries_and_everything_derived() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let keep = enrolled(&store, "Kept", "2030-01-01").await;
    let gone = enrolled(&store, "Refused", "2030-01-01").await;
    let p = ReviewPolicy::default();
    store
        .insert_candidate(&cand(keep, "cam1"), t0(), &p)
        .await
        .unwrap()
        .unwrap();
    store
        .insert_candidate(&cand(gone, "cam1"), t0(), &p)
        .await
        .unwrap()
        .unwrap();
    let basis_of_gone = 2;
    // A supervisor of one camera cannot refuse a basis reaching beyond it
    // (it reads as absent), so cannot delete another camera's entries.
    let scoped = Actor {
        scope: vec!["cam1".into()],
        ..actor("gil", Role::Supervisor)
    };
    let e = store
        .refuse_basis(&scoped, basis_of_gone, "not mine", t0())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(store.watchlist().await.unwrap().len(), 2, "nothing deleted");
    let e = store
        .refuse_basis(
            &actor("olga", Role::Operator),
            basis_of_gone,
            "denied",
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let d = store
        .refuse_basis(
            &actor("sam", Role::Supervisor),
            basis_of_gone,
            "judge refused the urgent request",
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(d["entries_deleted"], 1);
    assert_eq!(d["candidates_deleted"], 1);
    assert_eq!(d["templates_deleted"], 1);
    let wl = store.watchlist().await.unwrap();
    assert_eq!(wl.iter().map(|e| e.id).collect::<Vec<_>>(), vec![keep]);
    assert_eq!(store.candidates(10).await.unwrap().len(), 1);
    let e = store.audit_entries(0, 100, "basis.").await.unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].justification, "judge refused the urgent request");
    assert!(
        store
            .refuse_basis(
                &actor("sam", Role::Supervisor),
                basis_of_gone,
                "again",
                t0()
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn retention_deletes_what_is_due_except_what_is_held() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let id = enrolled(&store, "Alice", "2027-01-01").await;
    let p = ReviewPolicy::default();
    let a = store
        .insert_candidate(&cand(id, "cam1"), t0(), &p)
        .await
        .unwrap()
        .unwrap();
    let b = store
        .insert_candidate(&cand(id, "cam2"), t0(), &p)
        .await
        .unwrap()
        .unwrap();
    let sam = actor("sam", Role::Supervisor);
    let hold = store
        .place_hold(&sam, &format!("candidate:{}", b.0), "case 77", t0())
        .await
        .unwrap();
    let bad = store
        .place_hold(&sam, "everything", "x", t0())
        .await
        .unwrap_err();
    assert!(
        bad.message()
            .contains("must be candidate:N, entry:N, incident:N or recording:N"),
        "{}",
        bad.message()
    );
    let r = RetentionPolicy::default();
    // A day later: both expire unreviewed; nothing is old enough to delete.
    let s = store
        .sweep(&r, &p, t0().plus_ms(86_400_000 + 1))
        .await
        .unwrap();
    assert_eq!((s.candidates_expired, s.expired_deleted), (2, 0));
    // Nine days later: the unheld one is deleted, the held one kept.
    let s = store
        .sweep(&r, &p, t0().plus_ms(9 * 86_400_000))
        .await
        .unwrap();
    assert_eq!(s.expired_deleted, 1);
    let left: Vec<i64> = store
        .candidates(10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.candidate.id.unwrap().0)
        .collect();
    assert_eq!(left, vec![b.0]);
    assert_ne!(a, b);
    // Lift the hold: the next sweep deletes it. Both are audited.
    store
        .lift_hold(&sam, hold, "case closed", t0())
        .await
        .unwrap();
    store
        .sweep(&r, &p, t0().plus_ms(10 * 86_400_000))
        .await
        .unwrap();
    assert!(store.candidates(10).await.unwrap().is_empty());
    // The entry goes 30 days after its basis expired (2027-01-01).
    let s = store
        .sweep(&r, &p, Timestamp::parse_rfc3339("2027-02-01").unwrap())
        .await
        .unwrap();
    assert_eq!(s.entries_deleted, 1);
    let acts: Vec<String> = store
        .audit_entries(0, 100, "")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(acts.contains(&"hold.place".to_string()) && acts.contains(&"hold.lift".to_string()));
    assert_eq!(acts.iter().filter(|a| *a == "retention.sweep").count(), 4);
}

/// Runs one statement on the database directly, behind Civitas's back.
async fn tamper(db: &TestStore, sql: &str, blob: Option<Vec<u8>>) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    if let Some(b) = blob {
        q = q.bind(b);
    }
    q.execute(&pool).await.unwrap();
    pool.close().await;
}

/// `audit verify` while appends go on finds nothing wrong: it reads the
/// rows and the signed heads from one snapshot (separate reads saw an append
/// land between them and reported an entry deleted).
#[tokio::test]
async fn audit_verify_during_appends_reports_no_tampering() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let public = AuditKey::from_seed(SEED).public();
    let writer = {
        let s = store.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                s.audit(
                    t0().plus_ms(i),
                    civitas_store::AuditRecord::new("sam", "candidate.list", format!("n:{i}")),
                )
                .await
                .unwrap();
            }
        })
    };
    let mut checks = 0;
    while !writer.is_finished() {
        store.audit_verify(&public).await.unwrap();
        checks += 1;
    }
    writer.await.unwrap();
    assert_eq!(store.audit_verify(&public).await.unwrap().entries, 300);
    assert!(checks > 1, "verified {checks} time(s) while appending");
}

/// Tampers with the database directly, the four ways, and each is detected.
#[tokio::test]
async fn audit_verify_detects_modified_deleted_inserted_and_reordered_rows() {
    async fn fresh(dir: &TestStore) -> Store {
        let store = open(dir).await;
        for i in 0..10 {
            store
                .audit(
                    t0().plus_ms(i),
                    civitas_store::AuditRecord::new("sam", "candidate.list", format!("n:{i}")),
                )
                .await
                .unwrap();
        }
        assert!(
            store
                .audit_verify(&AuditKey::from_seed(SEED).public())
                .await
                .is_ok()
        );
        store
    }
    let public = AuditKey::from_seed(SEED).public();
    let cases: [(&str, &str, &str); 4] = [
        (
            "modified",
            "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4",
            "row was modified",
        ),
        (
            "deleted",
            "DELETE FROM audit_log WHERE seq = 3",
            "seq 4 found where seq 3 was expected",
        ),
        (
            "deleted at the end",
            "DELETE FROM audit_log WHERE seq = 9",
            "covers more entries than the log holds",
        ),
        (
            "reordered",
            "UPDATE audit_log SET seq = 100 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 5; UPDATE audit_log SET seq = 5 WHERE seq = 100",
            "seq",
        ),
    ];
    for (what, sql, expect) in cases {
        let dir = TestStore::new("store").await.unwrap();
        let store = fresh(&dir).await;
        store.close().await;
        for stmt in sql.split(';').filter(|s| !s.trim().is_empty()) {
            tamper(&dir, stmt, None).await;
        }
        let store = open(&dir).await;
        let e = store.audit_verify(&public).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DataLoss, "{what}");
        assert!(e.message().contains(expect), "{what}: {}", e.message());
    }
    // Modified with its leaf hash recomputed: the signed roots catch it.
    let dir = TestStore::new("store").await.unwrap();
    let store = fresh(&dir).await;
    let mut e4 = store.audit_entries(4, 1, "").await.unwrap().remove(0);
    store.close().await;
    e4.actor = "mallory".into();
    tamper(
        &dir,
        "UPDATE audit_log SET actor = 'mallory', leaf_hash = $1 WHERE seq = 4",
        Some(e4.leaf_hash().to_vec()),
    )
    .await;
    let store = open(&dir).await;
    let e = store.audit_verify(&public).await.unwrap_err();
    assert!(
        e.message().contains("no longer hash to its signed root"),
        "{}",
        e.message()
    );

    // Inserted: a forged row with a correct leaf hash, renumbering after it.
    let dir = TestStore::new("store").await.unwrap();
    let store = fresh(&dir).await;
    let forged = civitas_audit::AuditEntry {
        seq: 10,
        at_ms: 0,
        actor: "mallory".into(),
        action: "candidate.confirm".into(),
        target: "candidate:1".into(),
        justification: String::new(),
        details: String::new(),
    };
    store.close().await;
    tamper(
        &dir,
        "INSERT INTO audit_log (seq, at_ms, actor, action, target, justification, details, leaf_hash) \
         VALUES (10, 0, 'mallory', 'candidate.confirm', 'candidate:1', '', '', $1)",
        Some(forged.leaf_hash().to_vec()),
    )
    .await;
    let store = open(&dir).await;
    let e = store.audit_verify(&public).await.unwrap_err();
    assert!(
        e.message().contains("not covered by any signed tree head"),
        "{}",
        e.message()
    );
    // A forged head without the key fails its signature.
    let e = store
        .audit_verify(&AuditKey::from_seed([2; 32]).public())
        .await
        .unwrap_err();
    assert!(
        e.message().contains("signature does not verify"),
        "{}",
        e.message()
    );
}

/// The insider's rewrite, reproduced against `main` before the fix: with
/// write access to the database but not the key, delete the entries that
/// show who looked at faces, renumber the rest, recompute every leaf hash,
/// every head's root and the frontier, so the tree is consistent again.
async fn rewrite_without_the_key(db: &TestStore, drop_action: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&db.url).await.unwrap();
    let rows: Vec<(i64, i64, String, String, String, String, String)> = sqlx::query_as(
        "SELECT seq, at_ms, actor, action, target, justification, details FROM audit_log ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let kept: Vec<civitas_audit::AuditEntry> = rows
        .into_iter()
        .filter(|r| r.3 != drop_action)
        .enumerate()
        .map(|(i, r)| civitas_audit::AuditEntry {
            seq: i as u64,
            at_ms: r.1,
            actor: r.2,
            action: r.3,
            target: r.4,
            justification: r.5,
            details: r.6,
        })
        .collect();
    let leaves: Vec<civitas_audit::Hash> = kept.iter().map(|e| e.leaf_hash()).collect();
    sqlx::query("DELETE FROM audit_log")
        .execute(&pool)
        .await
        .unwrap();
    for e in &kept {
        sqlx::query("INSERT INTO audit_log (seq, at_ms, actor, action, target, justification, details, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(e.seq as i64).bind(e.at_ms).bind(&e.actor).bind(&e.action).bind(&e.target)
            .bind(&e.justification).bind(&e.details).bind(e.leaf_hash().to_vec())
            .execute(&pool).await.unwrap();
    }
    // Heads past the new size go; the rest get the rewritten tree's roots.
    sqlx::query("DELETE FROM audit_tree_head WHERE tree_size > $1")
        .bind(kept.len() as i64)
        .execute(&pool)
        .await
        .unwrap();
    let sizes: Vec<i64> = sqlx::query_scalar("SELECT tree_size FROM audit_tree_head")
        .fetch_all(&pool)
        .await
        .unwrap();
    for n in sizes {
        sqlx::query("UPDATE audit_tree_head SET root = $1 WHERE tree_size = $2")
            .bind(civitas_audit::root(&leaves[..n as usize]).to_vec())
            .bind(n)
            .execute(&pool)
            .await
            .unwrap();
    }
    let mut f = civitas_audit::Frontier::default();
    leaves.iter().for_each(|l| f.push(*l));
    sqlx::query("UPDATE audit_frontier SET tree_size = $1, frontier = $2 WHERE id = 1")
        .bind(f.size() as i64)
        .bind(f.to_bytes())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// The attack of issue 20, item 1: after the rewrite, the next append must
/// refuse to sign the forgery, and `audit verify` must name it (before the
/// fix the append signed it and verify said OK).
#[tokio::test]
async fn a_rewrite_without_the_key_is_refused_by_the_appender_and_caught_by_verify() {
    let public = AuditKey::from_seed(SEED).public();
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    for i in 0..12 {
        let action = if i % 3 == 1 {
            "candidate.image.view"
        } else {
            "candidate.list"
        };
        store
            .audit(
                t0().plus_ms(i),
                civitas_store::AuditRecord::new("sam", action, format!("candidate:{i}")),
            )
            .await
            .unwrap();
    }
    store.audit_verify(&public).await.unwrap();
    store.close().await;
    rewrite_without_the_key(&dir, "candidate.image.view").await;
    let store = open(&dir).await;
    // The appender proves the frontier against the last signed head first.
    let e = store
        .audit(
            t0().plus_ms(100),
            civitas_store::AuditRecord::new("admin", "login", "user:admin"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DataLoss);
    assert!(e.message().contains("altered outside Civitas"), "{e}");
    // Nothing was appended.
    assert_eq!(store.audit_entries(0, 100, "").await.unwrap().len(), 8);
    // Every head's signature is checked, not only the latest.
    let e = store.audit_verify(&public).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DataLoss);
    assert!(e.message().contains("signature does not verify"), "{e}");

    // An older head with its root intact but its signature forged, under a
    // genuine latest head: only checking every signature catches it.
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    for i in 0..6 {
        store
            .audit(
                t0().plus_ms(i),
                civitas_store::AuditRecord::new("sam", "candidate.list", format!("n:{i}")),
            )
            .await
            .unwrap();
    }
    store.close().await;
    tamper(
        &dir,
        "UPDATE audit_tree_head SET signature = $1 WHERE tree_size = 3",
        Some(vec![7u8; 64]),
    )
    .await;
    let store = open(&dir).await;
    let e = store.audit_verify(&public).await.unwrap_err();
    assert!(e.message().contains("signed tree head at size 3"), "{e}");
}

/// Cutting the log back to an older, genuinely signed head (rows, heads and
/// frontier all consistent) passes every check inside the database; a
/// witness that saw the longer log catches it, and an emptied log too.
#[tokio::test]
async fn a_log_cut_back_is_caught_against_a_witness() {
    let key = AuditKey::from_seed(SEED);
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let wdir = tempfile::tempdir().unwrap();
    let wpath = wdir.path().join("witness.jsonl");
    let mut witness = civitas_audit::witness::Witness::open(&wpath, key.public()).unwrap();
    for i in 0..10 {
        store
            .audit(
                t0().plus_ms(i),
                civitas_store::AuditRecord::new("sam", "candidate.view", format!("candidate:{i}")),
            )
            .await
            .unwrap();
        if i % 4 == 3 || i == 9 {
            let head = store.audit_head().await.unwrap().unwrap();
            let from = witness.last().map(|h| h.tree_size).unwrap_or(0);
            let proof = if from == 0 {
                vec![]
            } else {
                store.audit_consistency(from).await.unwrap().1
            };
            witness.observe(&head, &proof).unwrap();
        }
    }
    let witnessed = civitas_audit::witness::read_heads(&wpath, &key.public()).unwrap();
    assert_eq!(witnessed.len(), 3);
    let r = store
        .audit_verify_witnessed(&key.public(), &witnessed)
        .await
        .unwrap();
    assert_eq!((r.entries, r.witnessed_heads), (10, 3));
    store.close().await;
    // Cut back to the genuine head at size 6.
    tamper(&dir, "DELETE FROM audit_log WHERE seq >= 6", None).await;
    tamper(
        &dir,
        "DELETE FROM audit_tree_head WHERE tree_size > 6",
        None,
    )
    .await;
    let store = open(&dir).await;
    let mut f = civitas_audit::Frontier::default();
    for e in store.audit_entries(0, 100, "").await.unwrap() {
        f.push(e.leaf_hash());
    }
    store.close().await;
    tamper(
        &dir,
        "UPDATE audit_frontier SET tree_size = 6, frontier = $1 WHERE id = 1",
        Some(f.to_bytes()),
    )
    .await;
    let store = open(&dir).await;
    store
        .audit_verify(&key.public())
        .await
        .expect("inside the database alone the cut is consistent");
    let e = store
        .audit_verify_witnessed(&key.public(), &witnessed)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DataLoss);
    assert!(e.message().contains("cut back"), "{e}");
    // The witness itself refuses the shorter head when shown it.
    let head = store.audit_head().await.unwrap().unwrap();
    assert!(witness.observe(&head, &[]).is_err());
}

#[tokio::test]
async fn inclusion_proofs_verify_against_the_signed_head() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    for i in 0..13 {
        store
            .audit(
                t0(),
                civitas_store::AuditRecord::new("sam", "x", format!("{i}")),
            )
            .await
            .unwrap();
    }
    for seq in [0u64, 6, 12] {
        let (entry, proof, head) = store.audit_prove(seq).await.unwrap();
        assert!(civitas_audit::verify_sth(
            &AuditKey::from_seed(SEED).public(),
            &head
        ));
        assert!(civitas_audit::verify_inclusion(
            seq,
            head.tree_size,
            &entry.leaf_hash(),
            &proof,
            &head.root
        ));
    }
    assert_eq!(
        store.audit_prove(13).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// The recordings index: retention deletes by age and by each camera's byte
/// budget, oldest first, never what a legal hold covers (the recording, or a
/// candidate seen in it) nor a file being written; a deleted recording says
/// when and why; listing needs a justification and is audited.
#[tokio::test]
async fn recordings_are_deleted_by_age_and_budget_except_what_a_hold_covers() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let now = t0();
    let day = 86_400_000;
    let mut ids = Vec::new();
    // Five 1 MB files on gate, one a day, the newest still being written.
    for i in 0..5 {
        let start = now.0 - (5 - i) * day;
        let path = format!("gate/{start}-event.mp4");
        let id = if i < 4 {
            store
                .recording_finished(
                    "gate",
                    &path,
                    "event",
                    start,
                    start + 20_000,
                    1_000_000,
                    "complete",
                    None,
                )
                .await
                .unwrap()
        } else {
            store
                .recording_opened("gate", &path, "event", start)
                .await
                .unwrap()
        };
        ids.push(id);
    }
    let supervisor = actor("sam", Role::Supervisor);
    // Hold the oldest one outright.
    store
        .place_hold(
            &supervisor,
            &format!("recording:{}", ids[0]),
            "case 7/2026",
            now,
        )
        .await
        .unwrap();
    // Age 3.5 days: the two oldest are due, the held one is kept.
    let due = store
        .recordings_due(now, Some(3 * day + day / 2), i64::MAX)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), vec![ids[1]]);
    assert_eq!(due[0].reason, "age");
    // Budget 2.5 MB and no age limit: the oldest unheld go first.
    let due = store.recordings_due(now, None, 2_500_000).await.unwrap();
    assert_eq!(
        due.iter().map(|d| (d.id, d.reason)).collect::<Vec<_>>(),
        vec![(ids[1], "budget"), (ids[2], "budget")]
    );
    store.recordings_deleted(&due, now).await.unwrap();
    let auditor = actor("aude", Role::Supervisor);
    let e = store.recording(&auditor, ids[1]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Gone, "{e}");
    assert!(e.message().contains("deleted by retention (budget)"), "{e}");
    assert_eq!(
        store.recording(&auditor, ids[3]).await.unwrap().state,
        "complete"
    );
    // Listing: justification required, audited.
    let (from, to) = (Timestamp(now.0 - 6 * day), now);
    let e = store
        .recordings(&auditor, "gate", from, to, "", 10, now)
        .await
        .unwrap_err();
    assert!(e.message().contains("justification"), "{e}");
    let list = store
        .recordings(&auditor, "gate", from, to, "case 7/2026", 10, now)
        .await
        .unwrap();
    assert_eq!(list.len(), 5);
    assert_eq!(list.iter().filter(|r| r.state == "deleted").count(), 2);
    let actions: Vec<String> = store
        .audit_entries(0, 100, "")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(
        actions.contains(&"recording.delete".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"recording.search".to_owned()),
        "{actions:?}"
    );
}

/// A result delivered twice (a bus redelivery, a camera replayed by another
/// worker) is applied once: one candidate, one audit entry, one plate read.
#[tokio::test]
async fn a_result_delivered_twice_is_applied_once() {
    let dir = TestStore::new("store").await.unwrap();
    let store = open(&dir).await;
    let e = enrolled(&store, "Alice", "2027-06-01").await;
    let policy = ReviewPolicy::default();
    let c = cand(e, "gate");
    let key = c.key();
    assert!(!store.is_applied(&key).await.unwrap());
    let first = store.insert_candidate(&c, t0(), &policy).await.unwrap();
    let audit_after_first = store.audit_head().await.unwrap().unwrap().tree_size;
    assert!(store.is_applied(&key).await.unwrap());
    let again = store
        .insert_candidate(&c, t0().plus_ms(40_000), &policy)
        .await
        .unwrap();
    assert_eq!(first, again, "a repeat answers what the first delivery got");
    assert_eq!(store.candidates(100).await.unwrap().len(), 1);
    assert_eq!(
        store.audit_head().await.unwrap().unwrap().tree_size,
        audit_after_first
    );
    // The same face in a later frame is a different result.
    let mut later = c.clone();
    later.frame_time = t0().plus_ms(2_000);
    assert!(
        store
            .insert_candidate(&later, t0(), &policy)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.candidates(100).await.unwrap().len(), 2);
}
