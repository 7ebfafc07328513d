//! The counts behind the transparency report: nothing that identifies a person.

use crate::{Run, Store};
use civitas_base::{Result, Timestamp};
use serde::Serialize;
use sqlx::Row;

/// Counts for the transparency report: nothing that identifies a person.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportCounts {
    pub active_entries_by_basis_kind: std::collections::BTreeMap<String, u64>,
    pub actions: std::collections::BTreeMap<String, u64>,
    pub candidates_raised: u64,
    pub confirmed: u64,
    pub rejected: u64,
    pub expired_unreviewed: u64,
    pub rejection_reasons: std::collections::BTreeMap<String, u64>,
    pub retention_deleted: u64,
    pub bases_refused: u64,
    pub logins_failed: u64,
    /// Incidents opened, by how they came in (`call`, `inbound`, `candidate`, `camera`).
    pub incidents_opened_by_source: std::collections::BTreeMap<String, u64>,
    /// Incidents closed, by reason.
    pub incidents_closed_by_reason: std::collections::BTreeMap<String, u64>,
    /// Units sent to incidents.
    pub units_dispatched: u64,
    /// Cameras viewed through an incident.
    pub incident_camera_views: u64,
    /// Evidence bundles exported.
    pub evidence_exports: u64,
    /// Recordings played.
    pub recordings_played: u64,
}

impl Store {
    /// Counts for `[from, to)`, from the audit log and the live tables.
    pub async fn report_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<ReportCounts> {
        let mut c = ReportCounts::default();
        for r in sqlx::query("SELECT b.kind, COUNT(*) AS n FROM watchlist_entry e JOIN legal_basis b ON b.id = e.legal_basis_id WHERE b.expires_at_ms > $1 AND b.status = 'active' GROUP BY b.kind")
            .bind(now.0)
            .all(&self.pool, "counting entries").await?
        {
            c.active_entries_by_basis_kind.insert(r.get("kind"), r.get::<i64, _>("n") as u64);
        }
        let mut deleted = 0u64;
        for r in
            sqlx::query("SELECT action, details FROM audit_log WHERE at_ms >= $1 AND at_ms < $2")
                .bind(from.0)
                .bind(to.0)
                .all(&self.pool, "reading the audit log")
                .await?
        {
            let action: String = r.get("action");
            *c.actions.entry(action.clone()).or_default() += 1;
            let d: serde_json::Value =
                serde_json::from_str(&r.get::<String, _>("details")).unwrap_or_default();
            match action.as_str() {
                "candidate.raise" => c.candidates_raised += 1,
                "candidate.confirm" if d["status"] == "confirmed" => c.confirmed += 1,
                "candidate.reject" => c.rejected += 1,
                "basis.refuse" => c.bases_refused += 1,
                "login.failed" => c.logins_failed += 1,
                "incident.open" => {
                    let src = d["source"].as_str().unwrap_or("unknown").to_owned();
                    *c.incidents_opened_by_source.entry(src).or_default() += 1;
                }
                "incident.status" if d["to"] == "closed" => {
                    let why = d["reason"].as_str().unwrap_or("unknown").to_owned();
                    *c.incidents_closed_by_reason.entry(why).or_default() += 1;
                }
                "incident.dispatch" => c.units_dispatched += 1,
                "incident.camera.view" => c.incident_camera_views += 1,
                "evidence.export" => c.evidence_exports += 1,
                "recording.play" => c.recordings_played += 1,
                "retention.sweep" => {
                    c.expired_unreviewed += d["candidates_expired"].as_u64().unwrap_or(0);
                    for k in [
                        "unreviewed_deleted",
                        "rejected_deleted",
                        "expired_deleted",
                        "confirmed_deleted",
                        "entries_deleted",
                        "plate_reads_deleted",
                        "incidents_deleted",
                    ] {
                        deleted += d[k].as_u64().unwrap_or(0);
                    }
                }
                _ => {}
            }
        }
        c.retention_deleted = deleted;
        for r in sqlx::query("SELECT reason, COUNT(*) AS n FROM candidate_review WHERE decision = 'reject' AND at_ms >= $1 AND at_ms < $2 GROUP BY reason")
            .bind(from.0)
            .bind(to.0)
            .all(&self.pool, "counting rejections").await?
        {
            c.rejection_reasons.insert(r.get("reason"), r.get::<i64, _>("n") as u64);
        }
        Ok(c)
    }
}
