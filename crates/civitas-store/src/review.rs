//! Two-person review of candidates: the review rule (who may decide, how
//! many different people confirm) and its audited decisions.

use crate::audit::{AuditRecord, append};
use crate::users::forbid;
use crate::{Run, Store, db_err};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::{CandidateStatus, Decision};
use serde::Serialize;
use sqlx::Row;

/// Review thresholds and windows.
#[derive(Debug, Clone, Copy)]
pub struct ReviewPolicy {
    /// Different people who must confirm a face candidate.
    pub face_confirmations: usize,
    /// ... and a plate candidate.
    pub plate_confirmations: usize,
    /// A candidate unreviewed this long expires (ms).
    pub candidate_expiry_ms: i64,
    /// After a rejection, the same entry is not re-alerted on the same camera for this long (ms).
    pub suppress_after_reject_ms: i64,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            face_confirmations: 2,
            plate_confirmations: 1,
            candidate_expiry_ms: 24 * 3_600_000,
            suppress_after_reject_ms: 3_600_000,
        }
    }
}

/// Where a candidate stands after a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewOutcome {
    pub candidate: i64,
    pub status: CandidateStatus,
    pub confirmations: usize,
    pub required: usize,
}

impl Store {
    /// Records a reviewer's decision. A face candidate is confirmed once
    /// `face_confirmations` *different* users confirm it; any rejection rejects it.
    pub async fn review(
        &self,
        actor: &Actor,
        candidate: i64,
        decision: Decision,
        reason: &str,
        now: Timestamp,
        policy: &ReviewPolicy,
    ) -> Result<ReviewOutcome> {
        actor.require(Permission::Confirm)?;
        if decision == Decision::Reject && reason.trim().is_empty() {
            return Err(Error::invalid(
                "field `reason`: a rejection needs a reason (e.g. \"not this person\")",
            ));
        }
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query(
            "SELECT status, kind, created_at_ms, camera_id FROM candidate WHERE id = $1",
        )
        .bind(candidate)
        .optional(&mut *tx, "reading candidate")
        .await?
        .ok_or_else(|| Error::not_found(format!("candidate {candidate} does not exist")))?;
        let (status, kind, created, camera): (String, String, i64, String) = (
            row.get("status"),
            row.get("kind"),
            row.get("created_at_ms"),
            row.get("camera_id"),
        );
        if !actor.covers_camera(&camera) {
            return Err(forbid(
                &actor.username,
                &format!("camera {camera} is outside this user's scope"),
            ));
        }
        if status != "candidate" {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!("candidate {candidate} is already {status}"),
            ));
        }
        if now.0 - created > policy.candidate_expiry_ms {
            sqlx::query(
                "UPDATE candidate SET status = 'expired', decided_at_ms = $1 WHERE id = $2",
            )
            .bind(now.0)
            .bind(candidate)
            .run(&mut *tx, "expiring candidate")
            .await?;
            append(
                &mut tx,
                self.key()?,
                now,
                &AuditRecord::new(
                    "system:review",
                    "candidate.expire",
                    format!("candidate:{candidate}"),
                ),
            )
            .await?;
            tx.commit().await.map_err(db_err("committing"))?;
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!("candidate {candidate} expired unreviewed; it can no longer be confirmed"),
            ));
        }
        let already: Option<String> = sqlx::query(
            "SELECT decision FROM candidate_review WHERE candidate_id = $1 AND username = $2",
        )
        .bind(candidate)
        .bind(&actor.username)
        .optional(&mut *tx, "reading reviews")
        .await?
        .map(|r| r.get("decision"));
        if let Some(d) = already {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "user {:?} already {}ed candidate {candidate}; a second confirmation must come from a different person",
                    actor.username, d
                ),
            ));
        }
        let d = decision.name();
        sqlx::query("INSERT INTO candidate_review (candidate_id, username, decision, reason, at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(candidate)
            .bind(&actor.username)
            .bind(d)
            .bind(reason.trim())
            .bind(now.0)
            .run(&mut *tx, "storing review").await?;
        let confirmations: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM candidate_review WHERE candidate_id = $1 AND decision = 'confirm'",
        )
        .bind(candidate)
        .one(&mut *tx, "counting reviews").await?
        .get("n");
        let required = if kind == "plate" {
            policy.plate_confirmations
        } else {
            policy.face_confirmations
        };
        let new_status = match decision {
            Decision::Reject => CandidateStatus::Rejected,
            Decision::Confirm if confirmations as usize >= required => CandidateStatus::Confirmed,
            Decision::Confirm => CandidateStatus::Candidate,
        };
        if new_status != CandidateStatus::Candidate {
            sqlx::query("UPDATE candidate SET status = $1, decided_at_ms = $2 WHERE id = $3")
                .bind(new_status.name())
                .bind(now.0)
                .bind(candidate)
                .run(&mut *tx, "updating candidate")
                .await?;
        }
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor.username, &format!("candidate.{d}"), format!("candidate:{candidate}"))
                .why(reason)
                .details(serde_json::json!({"status": new_status, "confirmations": confirmations, "required": required})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing review"))?;
        Ok(ReviewOutcome {
            candidate,
            status: new_status,
            confirmations: confirmations as usize,
            required,
        })
    }
}
