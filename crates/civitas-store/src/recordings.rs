//! The index of recorded video: one row per file the recorder wrote, what it
//! covers, and what became of it (recovered after a crash, lost, deleted by
//! retention and why). Playing a recording is a permissioned, audited act;
//! deleting is retention's, and a legal hold on the recording (`recording:N`)
//! or on a candidate seen in it keeps it.

use crate::audit::AuditRecord;
use crate::{Run, Store, db_err};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::RecordingState;
use serde::Serialize;
use sqlx::Row;

/// A recording as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordingView {
    pub id: i64,
    pub camera: String,
    /// Relative to the recordings directory.
    pub path: String,
    pub kind: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: i64,
    pub state: RecordingState,
    pub note: Option<String>,
    pub deleted_at_ms: Option<i64>,
    pub deleted_reason: Option<String>,
}

/// A file retention should delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRecording {
    pub id: i64,
    pub camera: String,
    pub path: String,
    pub bytes: i64,
    /// `age` or `budget`.
    pub reason: &'static str,
}

const COLUMNS: &str = "id, camera_id, path, kind, start_ms, end_ms, bytes, state, note, deleted_at_ms, deleted_reason";

fn view(r: &sqlx::any::AnyRow) -> Result<RecordingView> {
    Ok(RecordingView {
        id: r.get("id"),
        camera: r.get("camera_id"),
        path: r.get("path"),
        kind: r.get("kind"),
        start_ms: r.get("start_ms"),
        end_ms: r.get("end_ms"),
        bytes: r.get("bytes"),
        state: RecordingState::parse(&r.get::<String, _>("state"))?,
        note: r.get("note"),
        deleted_at_ms: r.get("deleted_at_ms"),
        deleted_reason: r.get("deleted_reason"),
    })
}

/// A recording is held when a live legal hold names it, or names a candidate
/// seen on its camera while it was recording.
const NOT_HELD: &str = "NOT EXISTS (SELECT 1 FROM legal_hold h WHERE h.lifted_at_ms IS NULL AND (
        h.target = 'recording:' || r.id
        OR h.target IN (SELECT 'candidate:' || c.id FROM candidate c
                        WHERE c.camera_id = r.camera_id AND c.frame_time_ms BETWEEN r.start_ms AND r.end_ms)))";

impl Store {
    /// The recorder opened a file (state `recording` until it is closed or repaired).
    pub async fn recording_opened(
        &self,
        camera: &str,
        path: &str,
        kind: &str,
        start_ms: i64,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO recording (camera_id, path, kind, start_ms, end_ms, state) VALUES ($1, $2, $3, $4, $5, 'recording')
             ON CONFLICT (path) DO UPDATE SET state = 'recording' RETURNING id",
        )
        .bind(camera)
        .bind(path)
        .bind(kind)
        .bind(start_ms)
        .bind(start_ms)
        .fetch_one(&self.pool)
        .await
        .map(|r| r.get("id"))
        .map_err(db_err("indexing a recording"))
    }

    /// A file is complete (closed by the recorder: `complete`; repaired after a
    /// crash or a write error: `recovered`, with what was found in `note`; nothing
    /// in it could be kept: `lost`). A row opened while the file was still
    /// `PATH.part` is renamed to `path` in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn recording_finished(
        &self,
        camera: &str,
        path: &str,
        kind: &str,
        start_ms: i64,
        end_ms: i64,
        bytes: i64,
        state: &str,
        note: Option<&str>,
    ) -> Result<i64> {
        let mut tx = self.begin_immediate().await?;
        sqlx::query("UPDATE recording SET path = $1 WHERE path = $2 || '.part'")
            .bind(path)
            .bind(path)
            .run(&mut *tx, "renaming a recording")
            .await?;
        let id = sqlx::query(
            "INSERT INTO recording (camera_id, path, kind, start_ms, end_ms, bytes, state, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (path) DO UPDATE SET end_ms = excluded.end_ms, bytes = excluded.bytes, state = excluded.state, note = excluded.note
             RETURNING id",
        )
        .bind(camera)
        .bind(path)
        .bind(kind)
        .bind(start_ms)
        .bind(end_ms)
        .bind(bytes)
        .bind(state)
        .bind(note)
        .fetch_one(&mut *tx)
        .await
        .map(|r| r.get("id"))
        .map_err(db_err("indexing a recording"))?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(id)
    }

    /// A file opened before a crash held nothing that could be kept: its row says so.
    pub async fn recording_lost(&self, path: &str, why: &str) -> Result<()> {
        sqlx::query(
            "UPDATE recording SET state = 'lost', note = $1 WHERE path = $2 AND state = 'recording'",
        )
        .bind(why)
        .bind(path)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err("marking a recording lost"))
    }

    /// Recordings of one camera overlapping `[from, to)`, newest first, for a
    /// searcher whose scope covers the camera. Listing is audited with its justification.
    #[allow(clippy::too_many_arguments)]
    pub async fn recordings(
        &self,
        actor: &Actor,
        camera: &str,
        from: Timestamp,
        to: Timestamp,
        justification: &str,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<RecordingView>> {
        crate::plates::check_search(
            actor,
            "recording search",
            justification,
            from,
            to,
            &[camera.to_owned()],
        )?;
        let out: Vec<RecordingView> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recording WHERE camera_id = $1 AND start_ms < $2 AND end_ms >= $3
             ORDER BY start_ms DESC LIMIT $4"
        )))
        .bind(camera)
        .bind(to.0)
        .bind(from.0)
        .bind(limit.clamp(1, 1000))
        .all(&self.pool, "listing recordings")
        .await?
        .iter()
        .map(view)
        .collect::<Result<_>>()?;
        self.audit(
            now,
            AuditRecord::new(
                &actor.username,
                "recording.search",
                format!("camera:{camera}"),
            )
            .why(justification.trim())
            .details(serde_json::json!({"from_ms": from.0, "to_ms": to.0, "results": out.len()})),
        )
        .await?;
        Ok(out)
    }

    /// One recording, for playing or exporting: the caller needs `search` and a
    /// scope covering its camera. A recording retention deleted is an error
    /// saying when and why. Not audited here (the caller audits what it does).
    pub async fn recording(&self, actor: &Actor, id: i64) -> Result<RecordingView> {
        actor.require(Permission::Search)?;
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM recording WHERE id = $1"
        )))
        .bind(id)
        .optional(&self.pool, "reading a recording")
        .await?
        .map(|r| view(&r))
        .transpose()?
        .ok_or_else(|| Error::not_found(format!("recording {id} does not exist")))?;
        // Out of scope reads exactly as absent: a 403 naming the camera
        // told a scoped user which ids exist and where.
        if !actor.covers_camera(&r.camera) {
            return Err(Error::not_found(format!("recording {id} does not exist")));
        }
        match r.state {
            RecordingState::Deleted => Err(Error::new(
                ErrorKind::Gone,
                format!(
                    "recording {id} (camera {}, {}) was deleted by retention ({}) at {}",
                    r.camera,
                    civitas_base::Timestamp(r.start_ms).to_rfc3339(),
                    r.deleted_reason.as_deref().unwrap_or("unknown"),
                    civitas_base::Timestamp(r.deleted_at_ms.unwrap_or(0)).to_rfc3339()
                ),
            )),
            RecordingState::Lost => Err(Error::new(
                ErrorKind::Gone,
                format!(
                    "recording {id} (camera {}) was lost: {}",
                    r.camera,
                    r.note.as_deref().unwrap_or("no complete fragment")
                ),
            )),
            _ => Ok(r),
        }
    }

    /// Records that someone played a recording (the start of playback, not every range).
    pub async fn audit_recording_play(
        &self,
        actor: &Actor,
        r: &RecordingView,
        now: Timestamp,
    ) -> Result<()> {
        self.audit(
            now,
            AuditRecord::new(
                &actor.username,
                "recording.play",
                format!("recording:{}", r.id),
            )
            .details(
                serde_json::json!({"camera": r.camera, "start_ms": r.start_ms, "end_ms": r.end_ms}),
            ),
        )
        .await
        .map(|_| ())
    }

    /// What retention should delete now: recordings that ended more than
    /// `max_age_ms` ago, then per camera the oldest beyond `budget_bytes`; never
    /// one a legal hold covers, nor one being written.
    pub async fn recordings_due(
        &self,
        now: Timestamp,
        max_age_ms: Option<i64>,
        budget_bytes: i64,
    ) -> Result<Vec<DueRecording>> {
        let mut due = Vec::new();
        if let Some(age) = max_age_ms {
            for r in sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, camera_id, path, bytes FROM recording r
                 WHERE state IN ('complete', 'recovered') AND end_ms < $1 AND {NOT_HELD}"
            )))
            .bind(now.0 - age)
            .all(&self.pool, "finding old recordings")
            .await?
            {
                due.push(DueRecording {
                    id: r.get("id"),
                    camera: r.get("camera_id"),
                    path: r.get("path"),
                    bytes: r.get("bytes"),
                    reason: "age",
                });
            }
        }
        let over: Vec<(String, i64)> = sqlx::query(
            "SELECT camera_id, CAST(SUM(bytes) AS BIGINT) AS total_bytes FROM recording WHERE state IN ('recording', 'complete', 'recovered')
             GROUP BY camera_id HAVING SUM(bytes) > $1",
        )
        .bind(budget_bytes)
        .all(&self.pool, "summing recordings").await?
        .iter()
        .map(|r| (r.get("camera_id"), r.get("total_bytes")))
        .collect();
        for (camera, mut total) in over {
            total -= due
                .iter()
                .filter(|d| d.camera == camera)
                .map(|d| d.bytes)
                .sum::<i64>();
            for r in sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, path, bytes FROM recording r
                 WHERE camera_id = $1 AND state IN ('complete', 'recovered') AND {NOT_HELD}
                 ORDER BY start_ms"
            )))
            .bind(&camera)
            .all(&self.pool, "finding recordings over budget")
            .await?
            {
                if total <= budget_bytes {
                    break;
                }
                let id: i64 = r.get("id");
                if due.iter().any(|d| d.id == id) {
                    continue;
                }
                let bytes: i64 = r.get("bytes");
                total -= bytes;
                due.push(DueRecording {
                    id,
                    camera: camera.clone(),
                    path: r.get("path"),
                    bytes,
                    reason: "budget",
                });
            }
        }
        Ok(due)
    }

    /// Marks recordings whose files were deleted, with one audit entry.
    pub async fn recordings_deleted(&self, done: &[DueRecording], now: Timestamp) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_immediate().await?;
        for d in done {
            sqlx::query("UPDATE recording SET state = 'deleted', deleted_at_ms = $1, deleted_reason = $2 WHERE id = $3")
                .bind(now.0)
                .bind(d.reason)
                .bind(d.id)
                .run(&mut *tx, "marking a recording deleted").await?;
        }
        crate::audit::append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new("system:retention", "recording.delete", "recordings").details(
                serde_json::json!({
                    "recordings": done.len(),
                    "bytes": done.iter().map(|d| d.bytes).sum::<i64>(),
                    "by_age": done.iter().filter(|d| d.reason == "age").count(),
                    "over_budget": done.iter().filter(|d| d.reason == "budget").count(),
                }),
            ),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }
}
