//! Camera events: each health change and stop of a camera, kept for forensic
//! search by kind and time (the search justified, bounded and audited).

use crate::audit::AuditRecord;
use crate::plates::check_search;
use crate::{Run, Store};
use civitas_auth::Actor;
use civitas_base::{Error, Result, Timestamp};
use civitas_model::CameraEventKind;
use serde::Serialize;
use sqlx::Row;

/// A camera event, as a search returns it.
#[derive(Debug, Clone, Serialize)]
pub struct CameraEventView {
    pub id: i64,
    pub camera: String,
    pub kind: CameraEventKind,
    pub detail: String,
    pub at_ms: i64,
}

/// Reads a camera event kind; the refusal starts with `what` and lists the kinds.
fn event_kind(what: &str, k: &str) -> Result<CameraEventKind> {
    CameraEventKind::parse(k).map_err(|_| {
        let kinds: Vec<&str> = CameraEventKind::ALL.iter().map(|x| x.name()).collect();
        Error::invalid(format!("{what} {k:?} is not one of {}", kinds.join(", ")))
    })
}

/// Deletes camera events older than `before_ms`.
pub(crate) async fn sweep_camera_events(
    conn: &mut sqlx::AnyConnection,
    before_ms: i64,
) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM camera_event WHERE at_ms < $1")
        .bind(before_ms)
        .run(&mut *conn, "deleting old camera events")
        .await?
        .rows_affected())
}

impl Store {
    /// Records a camera's health change or stop (`kind` a
    /// [`CameraEventKind`]'s name; `detail` the error in words, if any).
    pub async fn record_camera_event(
        &self,
        camera: &str,
        kind: &str,
        detail: &str,
        at: Timestamp,
    ) -> Result<()> {
        event_kind("camera event", kind)?;
        sqlx::query(
            "INSERT INTO camera_event (camera_id, kind, detail, at_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(camera)
        .bind(kind)
        .bind(detail)
        .bind(at.0)
        .run(&self.pool, format!("recording an event of camera {camera}"))
        .await?;
        Ok(())
    }

    /// Forensic search of camera events by kind (all kinds when `None`),
    /// time and camera; needs the `search` permission and a justification,
    /// and is audited like every search.
    #[allow(clippy::too_many_arguments)]
    pub async fn search_camera_events(
        &self,
        actor: &Actor,
        kind: Option<&str>,
        from: Timestamp,
        to: Timestamp,
        cameras: &[String],
        justification: &str,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<CameraEventView>> {
        let scope = check_search(
            actor,
            "camera event search",
            justification,
            from,
            to,
            cameras,
        )?;
        if let Some(k) = kind {
            event_kind("camera event search: kind", k)?;
        }
        let out: Vec<CameraEventView> = sqlx::query(self.sql(
            "SELECT id, camera_id, kind, detail, at_ms FROM camera_event
             WHERE ($1 IS NULL OR kind = $2) AND at_ms >= $3 AND at_ms < $4
               AND ($5 IS NULL OR camera_id IN (SELECT value FROM json_each($6)))
             ORDER BY at_ms DESC LIMIT $7",
            "SELECT id, camera_id, kind, detail, at_ms FROM camera_event
             WHERE ($1 IS NULL OR kind = $2) AND at_ms >= $3 AND at_ms < $4
               AND ($5 IS NULL OR camera_id IN (SELECT json_array_elements_text($6::json)))
             ORDER BY at_ms DESC LIMIT $7",
        ))
        .bind(kind)
        .bind(kind)
        .bind(from.0)
        .bind(to.0)
        .bind(&scope)
        .bind(&scope)
        .bind(limit.clamp(1, 1000))
        .all(&self.pool, "searching camera events")
        .await?
        .iter()
        .map(|r| {
            Ok(CameraEventView {
                id: r.get("id"),
                camera: r.get("camera_id"),
                kind: CameraEventKind::parse(&r.get::<String, _>("kind"))?,
                detail: r.get("detail"),
                at_ms: r.get("at_ms"),
            })
        })
        .collect::<Result<_>>()?;
        self.audit(
            now,
            AuditRecord::new(&actor.username, "camera_event.search", format!("kind:{}", kind.unwrap_or("any")))
                .why(justification.trim())
                .details(serde_json::json!({"kind": kind, "from_ms": from.0, "to_ms": to.0, "cameras": cameras, "results": out.len()})),
        )
        .await?;
        Ok(out)
    }
}
