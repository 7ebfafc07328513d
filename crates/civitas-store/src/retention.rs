//! Retention sweeps: each data class deleted after its period unless held.
//! Sits above the things it sweeps (plates, incidents, recordings).

use crate::audit::{AuditRecord, append};
use crate::review::ReviewPolicy;
use crate::{Run, Store, db_err};
use civitas_base::{Result, Timestamp};
use serde::Serialize;
use sqlx::Row;

/// Retention periods per data class, in milliseconds (`None` keeps forever).
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub unreviewed_candidates_ms: Option<i64>,
    pub rejected_candidates_ms: Option<i64>,
    pub expired_candidates_ms: Option<i64>,
    pub confirmed_candidates_ms: Option<i64>,
    /// Entries whose legal basis expired this long ago are deleted.
    pub expired_entries_ms: Option<i64>,
    /// Incidents closed this long ago are deleted (caller, notes, timeline).
    pub closed_incidents_ms: Option<i64>,
    /// Camera events (health changes) older than this are deleted.
    pub camera_events_ms: Option<i64>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        const DAY: i64 = 86_400_000;
        RetentionPolicy {
            unreviewed_candidates_ms: Some(7 * DAY),
            rejected_candidates_ms: Some(30 * DAY),
            expired_candidates_ms: Some(7 * DAY),
            confirmed_candidates_ms: Some(365 * DAY),
            expired_entries_ms: Some(30 * DAY),
            closed_incidents_ms: Some(365 * DAY),
            camera_events_ms: Some(90 * DAY),
        }
    }
}

/// What a sweep deleted, by class.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub candidates_expired: u64,
    pub unreviewed_deleted: u64,
    pub rejected_deleted: u64,
    pub expired_deleted: u64,
    pub confirmed_deleted: u64,
    pub entries_deleted: u64,
    /// Plate reads past their deadline (24 h without a hit by default).
    pub plate_reads_deleted: u64,
    /// Closed incidents past their period, with their timelines.
    pub incidents_deleted: u64,
    /// Outbox events every webhook acknowledged, older than 7 days.
    pub outbox_events_deleted: u64,
    /// Camera health events past their period.
    pub camera_events_deleted: u64,
    pub held_and_kept: u64,
}

impl Store {
    /// Deletes what retention says is due at `now`, except what a legal hold covers.
    pub async fn sweep(
        &self,
        policy: &RetentionPolicy,
        review: &ReviewPolicy,
        now: Timestamp,
    ) -> Result<SweepReport> {
        let mut tx = self.begin_immediate().await?;
        let mut r = SweepReport::default();
        let expired_now = sqlx::query("UPDATE candidate SET status = 'expired', decided_at_ms = $1 WHERE status = 'candidate' AND created_at_ms < $2")
            .bind(now.0)
            .bind(now.0 - review.candidate_expiry_ms)
            .run(&mut *tx, "expiring candidates").await?
            .rows_affected();
        r.candidates_expired = expired_now;
        r.held_and_kept = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM legal_hold WHERE lifted_at_ms IS NULL",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("counting holds"))? as u64;
        for (status, period, slot) in [
            ("candidate", policy.unreviewed_candidates_ms, 0),
            ("rejected", policy.rejected_candidates_ms, 1),
            ("expired", policy.expired_candidates_ms, 2),
            ("confirmed", policy.confirmed_candidates_ms, 3),
        ] {
            let Some(p) = period else { continue };
            let n = sqlx::query(
                "DELETE FROM candidate WHERE status = $1 AND created_at_ms < $2
                 AND NOT EXISTS (SELECT 1 FROM legal_hold h WHERE h.lifted_at_ms IS NULL AND h.target = 'candidate:' || candidate.id)",
            )
                .bind(status)
                .bind(now.0 - p)
                .run(&mut *tx, "deleting candidates").await?
                .rows_affected();
            match slot {
                0 => r.unreviewed_deleted = n,
                1 => r.rejected_deleted = n,
                2 => r.expired_deleted = n,
                _ => r.confirmed_deleted = n,
            }
        }
        if let Some(p) = policy.expired_entries_ms {
            r.entries_deleted = sqlx::query(
                "DELETE FROM watchlist_entry WHERE legal_basis_id IN (SELECT id FROM legal_basis WHERE expires_at_ms < $1)
                 AND NOT EXISTS (SELECT 1 FROM legal_hold h WHERE h.lifted_at_ms IS NULL AND h.target = 'entry:' || watchlist_entry.id)",
            )
            .bind(now.0 - p)
            .run(&mut *tx, "deleting expired entries").await?
            .rows_affected();
        }
        r.plate_reads_deleted = crate::plates::sweep_reads(&mut tx, now).await?;
        if let Some(p) = policy.closed_incidents_ms {
            r.incidents_deleted = crate::incidents::sweep_incidents(&mut tx, now.0 - p).await?;
        }
        r.outbox_events_deleted = crate::outbox::sweep_outbox(&mut tx, now).await?;
        // Result keys only need to outlive redelivery and replay (minutes);
        // a week is generous and keeps the table small.
        sqlx::query("DELETE FROM applied_event WHERE at_ms < $1")
            .bind(now.0 - 7 * 86_400_000)
            .run(&mut *tx, "deleting old result keys")
            .await?;
        if let Some(p) = policy.camera_events_ms {
            r.camera_events_deleted =
                crate::camera_events::sweep_camera_events(&mut tx, now.0 - p).await?;
        }
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new("system:retention", "retention.sweep", "store")
                .details(serde_json::to_value(&r).unwrap_or_default()),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing sweep"))?;
        Ok(r)
    }
}

impl Store {
    /// Whether a legal hold that is not lifted names `target` (`candidate:N`, ...).
    pub async fn held(&self, target: &str) -> Result<bool> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM legal_hold WHERE target = $1 AND lifted_at_ms IS NULL",
        )
        .bind(target)
        .one(&self.pool, "reading legal holds")
        .await?
        .get("n");
        Ok(n > 0)
    }
}
