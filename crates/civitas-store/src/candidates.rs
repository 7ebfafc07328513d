//! Candidates: each match stored once by its stable key, with its audit
//! entry in the same transaction, unless rejected here recently.

use crate::audit::{self, AuditRecord};
use crate::review::ReviewPolicy;
use crate::{Run, Store, db_err};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::{BBox, Candidate, CandidateId, EntryId};
use sqlx::Row;

/// A stored candidate, for listing.
#[derive(Debug, Clone)]
pub struct StoredCandidate {
    pub candidate: Candidate,
    pub status: String,
}

/// The candidate INSERT, shared by the audited path and its benchmark twin.
/// Whether a reviewer rejected a candidate for `entry` on `camera` since
/// `since_ms`: the suppression rule (the rejection is feedback, the same
/// probe is not re-alerted there), for faces and plates alike.
pub(crate) async fn rejected_recently(
    conn: &mut sqlx::AnyConnection,
    entry: EntryId,
    camera: &str,
    since_ms: i64,
) -> Result<bool> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM candidate WHERE entry_id = $1 AND camera_id = $2 AND status = 'rejected' AND decided_at_ms >= $3",
    )
    .bind(entry.0)
    .bind(camera)
    .bind(since_ms)
    .one(&mut *conn, "checking rejections").await?
    .get("n");
    Ok(n > 0)
}

async fn insert_candidate_row(
    conn: &mut sqlx::AnyConnection,
    c: &Candidate,
    now: Timestamp,
) -> Result<i64> {
    let bbox = serde_json::to_string(&c.bbox).map_err(|e| Error::internal(e.to_string()))?;
    Ok(sqlx::query(
        "INSERT INTO candidate (camera_id, track_id, entry_id, distance, detector_score, bbox_json, frame_time_ms, offset_ms, crop_jpeg, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(&c.camera.0)
    .bind(c.track.0)
    .bind(c.entry.0)
    .bind(c.distance)
    .bind(c.detector_score)
    .bind(bbox)
    .bind(c.frame_time.0)
    .bind(c.offset_ms)
    .bind(&c.crop_jpeg)
    .bind(now.0)
    .one(&mut *conn, format!("storing candidate from camera {}", c.camera)).await?
    .get("id"))
}

/// What applying the result with `key` returned the first time, if it was applied.
pub(crate) async fn applied(
    conn: &mut sqlx::AnyConnection,
    key: &str,
) -> Result<Option<serde_json::Value>> {
    let row: Option<String> =
        sqlx::query_scalar("SELECT result_json FROM applied_event WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err(format!("looking up result {key}")))?;
    Ok(row.and_then(|r| serde_json::from_str(&r).ok()))
}

/// Records that the result with `key` was applied (same transaction as the result).
pub(crate) async fn mark_applied(
    conn: &mut sqlx::AnyConnection,
    key: &str,
    result: serde_json::Value,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("INSERT INTO applied_event (key, result_json, at_ms) VALUES ($1, $2, $3)")
        .bind(key)
        .bind(result.to_string())
        .bind(now.0)
        .run(&mut *conn, format!("recording result {key} as applied"))
        .await?;
    Ok(())
}

pub(crate) fn parse_bbox(s: &str) -> Option<BBox> {
    let v: serde_json::Value = serde_json::from_str(s).ok()?;
    let f = |k: &str| v.get(k)?.as_f64().map(|x| x as f32);
    Some(BBox::new(f("x0")?, f("y0")?, f("x1")?, f("y1")?))
}

impl Store {
    /// Stores a candidate raised by a camera and audits it. Returns `None` when
    /// a reviewer rejected this entry on this camera within the suppression
    /// window (the rejection is feedback: the same probe is not re-alerted).
    pub async fn insert_candidate(
        &self,
        c: &Candidate,
        now: Timestamp,
        policy: &ReviewPolicy,
    ) -> Result<Option<CandidateId>> {
        let key = self
            .audit_key
            .clone()
            .ok_or_else(|| Error::internal("storing candidates needs the audit key"))?;
        let mut tx = self.begin_immediate().await?;
        let dedup = c.key();
        if let Some(prior) = applied(&mut tx, &dedup).await? {
            tx.commit().await.map_err(db_err("committing"))?;
            return Ok(prior["candidate"].as_i64().map(CandidateId));
        }
        let suppressed = rejected_recently(
            &mut tx,
            c.entry,
            &c.camera.0,
            now.0 - policy.suppress_after_reject_ms,
        )
        .await?;
        let actor = format!("system:camera:{}", c.camera);
        if suppressed {
            audit::append(
                &mut tx,
                &key,
                now,
                &AuditRecord::new(&actor, "candidate.suppress", format!("entry:{}", c.entry))
                    .details(serde_json::json!({"reason": "rejected on this camera within the suppression window"})),
            )
            .await?;
            mark_applied(&mut tx, &dedup, serde_json::json!({"candidate": null}), now).await?;
            tx.commit().await.map_err(db_err("committing"))?;
            return Ok(None);
        }
        let id = insert_candidate_row(&mut tx, c, now).await?;
        mark_applied(&mut tx, &dedup, serde_json::json!({"candidate": id}), now).await?;
        audit::append(
            &mut tx,
            &key,
            now,
            &AuditRecord::new(&actor, "candidate.raise", format!("candidate:{id}")).details(
                serde_json::json!({"entry": c.entry.0, "distance": c.distance, "track": c.track.0}),
            ),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing candidate"))?;
        Ok(Some(CandidateId(id)))
    }

    /// Whether the result with this stable key ([`Candidate::key`],
    /// [`civitas_model::PlatePass::key`]) has been applied already: a redelivered or
    /// replayed result, which the writer applies as a no-op and announces
    /// nowhere.
    pub async fn is_applied(&self, key: &str) -> Result<bool> {
        let mut conn = self.pool.acquire().await.map_err(db_err("connecting"))?;
        Ok(applied(&mut conn, key).await?.is_some())
    }

    /// Benchmark only: the same candidate INSERT as [`Store::insert_candidate`]
    /// without its audit entry, so `civitas bench audit` can measure what
    /// auditing costs. Nothing in Civitas calls it.
    #[doc(hidden)]
    pub async fn bench_insert_candidate_without_audit(
        &self,
        c: &Candidate,
        now: Timestamp,
    ) -> Result<()> {
        let mut tx = self.begin_immediate().await?;
        rejected_recently(&mut tx, c.entry, &c.camera.0, now.0).await?;
        insert_candidate_row(&mut tx, c, now).await?;
        tx.commit().await.map_err(db_err("committing candidate"))
    }

    pub async fn candidates(&self, limit: i64) -> Result<Vec<StoredCandidate>> {
        let rows = sqlx::query(
            "SELECT c.id, c.camera_id, c.track_id, c.entry_id, e.name, c.distance, c.detector_score, c.bbox_json,
                    c.frame_time_ms, c.offset_ms, c.status
             FROM candidate c JOIN watchlist_entry e ON e.id = c.entry_id ORDER BY c.id DESC LIMIT $1",
        )
        .bind(limit)
        .all(&self.pool, "listing candidates").await?;
        rows.into_iter()
            .map(|r| {
                let bbox: String = r.get("bbox_json");
                let bbox: BBox = parse_bbox(&bbox).ok_or_else(|| {
                    Error::new(
                        ErrorKind::DataLoss,
                        format!("candidate row {}: bad bbox_json", r.get::<i64, _>("id")),
                    )
                })?;
                Ok(StoredCandidate {
                    candidate: Candidate {
                        id: Some(CandidateId(r.get("id"))),
                        camera: civitas_model::CameraId(r.get("camera_id")),
                        track: civitas_model::TrackId(r.get("track_id")),
                        entry: EntryId(r.get("entry_id")),
                        entry_name: r.get("name"),
                        distance: r.get::<f64, _>("distance") as f32,
                        detector_score: r.get::<f64, _>("detector_score") as f32,
                        bbox,
                        frame_time: Timestamp(r.get("frame_time_ms")),
                        offset_ms: r.get("offset_ms"),
                        crop_jpeg: Vec::new(),
                    },
                    status: r.get("status"),
                })
            })
            .collect()
    }
}
