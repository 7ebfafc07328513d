//! Emergency incidents in the store: opening (from a call, an inbound
//! system, a confirmed candidate or a camera), the lifecycle, units and their
//! assignment, the standard operating procedure's checklist, notes, links,
//! and the outbox that webhooks deliver from.
//!
//! Every change writes, in one `BEGIN IMMEDIATE` transaction: the change,
//! its timeline row, its audit entry, and (for what other systems follow)
//! its outbox event. So an incident that changed always has its record, and
//! an event that a webhook must deliver is never lost to a crash between the
//! change and the send.
//!
//! Over 600 lines on purpose: every lifecycle step shares the same
//! transaction helpers (timeline, outbox event, status check), and reading
//! them side by side is how the lifecycle is reviewed. Units and the outbox
//! are in their own modules.

use crate::audit::{AuditRecord, append};
use crate::outbox::outbox;
use crate::review::ReviewPolicy;
use crate::{Run, Store, db_err};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::incident::{
    CloseReason, GeoPoint, IncidentSource, IncidentStatus, IncidentType, UnitStatus,
};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// What an operator (or a telephony system) supplies to open an incident.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub kind: IncidentType,
    pub priority: u8,
    pub source: IncidentSource,
    pub location: GeoPoint,
    pub address: String,
    pub caller_name: String,
    pub caller_phone: String,
    pub notes: String,
    /// The camera it concerns (set for camera and candidate incidents).
    pub camera: Option<String>,
    /// The confirmed candidate it is opened from.
    pub candidate_id: Option<i64>,
    /// A telephony system's call id; the same id twice opens one incident.
    pub call_id: Option<String>,
}

/// One step of an incident's checklist.
#[derive(Debug, Clone, Serialize)]
pub struct SopStepView {
    pub step: i64,
    pub text: String,
    pub ticked_by: Option<String>,
    pub ticked_at_ms: Option<i64>,
}

/// One row of an incident's timeline.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub at_ms: i64,
    pub actor: String,
    /// `opened`, `status`, `unit.assigned`, `unit.released`, `sop.tick`, `note`, `link`, `camera.view`.
    pub kind: String,
    pub text: String,
}

/// Something linked to an incident.
#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    /// `candidate` or `plate_read`.
    pub kind: String,
    pub ref_id: i64,
    pub added_by: String,
    pub at_ms: i64,
}

/// An incident as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    pub id: i64,
    pub type_id: String,
    pub type_label: String,
    /// 1 (most urgent) to 5.
    pub priority: i64,
    pub status: IncidentStatus,
    pub source: IncidentSource,
    pub latitude: f64,
    pub longitude: f64,
    pub address: String,
    pub caller_name: String,
    pub caller_phone: String,
    pub notes: String,
    pub camera: Option<String>,
    pub call_id: Option<String>,
    pub opened_by: String,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub close_reason: Option<CloseReason>,
    /// Units assigned now.
    pub units: Vec<String>,
    pub sop: Vec<SopStepView>,
    pub timeline: Vec<TimelineEntry>,
    pub links: Vec<LinkView>,
}

pub(crate) fn not_found(id: i64) -> Error {
    Error::not_found(format!("incident {id} does not exist"))
}

pub(crate) fn precondition(msg: String) -> Error {
    Error::new(ErrorKind::FailedPrecondition, msg)
}

/// Appends a timeline row.
pub(crate) async fn timeline(
    conn: &mut AnyConnection,
    incident: i64,
    actor: &str,
    kind: &str,
    text: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO incident_event (incident_id, at_ms, actor, kind, text) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(incident)
    .bind(now.0)
    .bind(actor)
    .bind(kind)
    .bind(text)
    .run(&mut *conn, "writing the incident timeline").await?;
    Ok(())
}

/// What other systems are told about an incident: what and where, never who
/// called, the notes, or who a match was about.
pub(crate) async fn public_incident(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<serde_json::Value> {
    let r = sqlx::query(
        "SELECT type_id, type_label, priority, status, latitude, longitude, address, close_reason, opened_at_ms, updated_at_ms FROM incident WHERE id = $1",
    )
    .bind(id)
    .one(&mut *conn, "reading incident").await?;
    let units: Vec<String> = sqlx::query("SELECT id FROM unit WHERE incident_id = $1 ORDER BY id")
        .bind(id)
        .all(&mut *conn, "reading units")
        .await?
        .iter()
        .map(|u| u.get("id"))
        .collect();
    Ok(serde_json::json!({
        "id": id, "type": r.get::<String, _>("type_id"), "type_label": r.get::<String, _>("type_label"),
        "priority": r.get::<i64, _>("priority"), "status": r.get::<String, _>("status"),
        "latitude": r.get::<f64, _>("latitude"), "longitude": r.get::<f64, _>("longitude"), "address": r.get::<String, _>("address"),
        "close_reason": r.get::<Option<String>, _>("close_reason"), "opened_at_ms": r.get::<i64, _>("opened_at_ms"),
        "updated_at_ms": r.get::<i64, _>("updated_at_ms"), "units": units,
    }))
}

pub(crate) async fn incident_event(
    conn: &mut AnyConnection,
    topic: &str,
    id: i64,
    extra: serde_json::Value,
    now: Timestamp,
) -> Result<()> {
    let incident = public_incident(conn, id).await?;
    outbox(
        conn,
        topic,
        serde_json::json!({"event": topic, "at_ms": now.0, "incident": incident, "change": extra}),
        now,
    )
    .await
}

/// The incident's status and camera, scope-checked, for an update.
pub(crate) async fn current(
    conn: &mut AnyConnection,
    actor: &Actor,
    id: i64,
) -> Result<IncidentStatus> {
    let r = sqlx::query("SELECT status, camera_id FROM incident WHERE id = $1")
        .bind(id)
        .optional(&mut *conn, "reading incident")
        .await?
        .ok_or_else(|| not_found(id))?;
    if let Some(cam) = r.get::<Option<String>, _>("camera_id")
        && !actor.covers_camera(&cam)
    {
        return Err(not_found(id));
    }
    IncidentStatus::parse(&r.get::<String, _>("status"))
}

pub(crate) async fn assigned_units(conn: &mut AnyConnection, id: i64) -> Result<Vec<String>> {
    Ok(
        sqlx::query("SELECT id FROM unit WHERE incident_id = $1 ORDER BY id")
            .bind(id)
            .all(&mut *conn, "reading units")
            .await?
            .iter()
            .map(|r| r.get("id"))
            .collect(),
    )
}

/// A candidate that may open or join an incident: in `actor`'s scope and
/// confirmed. Returns its camera and the links it brings (itself, and its
/// plate read if any).
pub(crate) async fn confirmed_candidate(
    conn: &mut AnyConnection,
    actor: &Actor,
    cid: i64,
    policy: &ReviewPolicy,
) -> Result<(String, Vec<(&'static str, i64)>)> {
    let r = sqlx::query(
        "SELECT status, kind, camera_id, plate_read_id,
                (SELECT COUNT(*) FROM candidate_review r WHERE r.candidate_id = c.id AND r.decision = 'confirm') AS confirmations
         FROM candidate c WHERE id = $1",
    )
    .bind(cid)
    .optional(&mut *conn, "reading candidate").await?
    .filter(|r| actor.covers_camera(&r.get::<String, _>("camera_id")))
    // Out of scope reads the same as absent.
    .ok_or_else(|| Error::not_found(format!("candidate {cid} does not exist")))?;
    check_confirmed(
        cid,
        &r.get::<String, _>("status"),
        &r.get::<String, _>("kind"),
        r.get("confirmations"),
        policy,
    )?;
    let mut links = vec![("candidate", cid)];
    if let Some(read) = r.get::<Option<i64>, _>("plate_read_id") {
        links.push(("plate_read", read));
    }
    Ok((r.get("camera_id"), links))
}

/// Marks the incident changed at `now`.
pub(crate) async fn touch(conn: &mut AnyConnection, id: i64, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE incident SET updated_at_ms = $1 WHERE id = $2")
        .bind(now.0)
        .bind(id)
        .run(&mut *conn, "updating the incident")
        .await?;
    Ok(())
}

impl Store {
    /// Opens an incident. Returns it and whether it is new: a `call_id` seen
    /// before returns the incident that call opened, unchanged. An incident
    /// opened from a candidate needs the candidate **confirmed** (a face
    /// match by two different people): an unconfirmed match never sends units.
    pub async fn open_incident(
        &self,
        actor: &Actor,
        inc: NewIncident,
        policy: &ReviewPolicy,
        now: Timestamp,
    ) -> Result<(IncidentView, bool)> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        for (field, v, max) in [
            ("address", &inc.address, 500),
            ("caller_name", &inc.caller_name, 200),
            ("caller_phone", &inc.caller_phone, 50),
            ("notes", &inc.notes, 4000),
        ] {
            if v.chars().count() > max {
                return Err(Error::invalid(format!(
                    "field `{field}`: longer than {max} characters"
                )));
            }
        }
        let mut tx = self.begin_immediate().await?;
        if let Some(call) = inc.call_id.as_deref() {
            if call.trim().is_empty() || call.len() > 200 {
                return Err(Error::invalid(
                    "field `call_id`: empty or longer than 200 characters",
                ));
            }
            let seen = sqlx::query("SELECT id FROM incident WHERE call_id = $1")
                .bind(call)
                .optional(&mut *tx, "looking up the call")
                .await?;
            if let Some(r) = seen {
                let id: i64 = r.get("id");
                append(
                    &mut tx,
                    key,
                    now,
                    &AuditRecord::new(
                        &actor.username,
                        "incident.open.repeat",
                        format!("incident:{id}"),
                    )
                    .details(serde_json::json!({"call_id": call})),
                )
                .await?;
                tx.commit().await.map_err(db_err("committing"))?;
                return Ok((self.incident_view(actor, id).await?, false));
            }
        }
        let mut camera = inc.camera.clone();
        let mut links: Vec<(&str, i64)> = Vec::new();
        if let Some(cid) = inc.candidate_id {
            let (cam, l) = confirmed_candidate(&mut tx, actor, cid, policy).await?;
            camera = Some(cam);
            links = l;
        }
        if let Some(cam) = &camera
            && !actor.covers_camera(cam)
        {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("user {:?} is not scoped to camera {cam:?}", actor.username),
            ));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO incident (type_id, type_label, priority, source, latitude, longitude, address, caller_name, caller_phone, notes, camera_id, call_id, opened_by, opened_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        )
        .bind(&inc.kind.id)
        .bind(&inc.kind.label)
        .bind(inc.priority as i64)
        .bind(inc.source.name())
        .bind(inc.location.latitude)
        .bind(inc.location.longitude)
        .bind(inc.address.trim())
        .bind(inc.caller_name.trim())
        .bind(inc.caller_phone.trim())
        .bind(inc.notes.trim())
        .bind(&camera)
        .bind(&inc.call_id)
        .bind(&actor.username)
        .bind(now.0)
        .bind(now.0)
        .one(&mut *tx, "storing the incident").await?
        .get("id");
        for (i, step) in inc.kind.sop.iter().enumerate() {
            sqlx::query(
                "INSERT INTO incident_sop_step (incident_id, step, text) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(i as i64 + 1)
            .bind(step)
            .run(&mut *tx, "storing the procedure")
            .await?;
        }
        for (kind, ref_id) in &links {
            sqlx::query("INSERT INTO incident_link (incident_id, kind, ref_id, added_by, at_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(kind)
                .bind(ref_id)
                .bind(&actor.username)
                .bind(now.0)
                .run(&mut *tx, "linking the incident").await?;
        }
        let from = match (inc.source, inc.candidate_id, &camera) {
            (IncidentSource::Candidate, Some(c), _) => format!("from confirmed candidate {c}"),
            (IncidentSource::Camera, _, Some(cam)) => format!("from camera {cam}"),
            (IncidentSource::Inbound, _, _) => "by an inbound call".to_owned(),
            _ => "from a call".to_owned(),
        };
        timeline(
            &mut tx,
            id,
            &actor.username,
            "opened",
            &format!(
                "Opened {from}: {} (priority {})",
                inc.kind.label, inc.priority
            ),
            now,
        )
        .await?;
        incident_event(&mut tx, "incident.opened", id, serde_json::json!({}), now).await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(&actor.username, "incident.open", format!("incident:{id}")).details(
                serde_json::json!({"type": inc.kind.id, "priority": inc.priority, "source": inc.source.name(),
                    "candidate": inc.candidate_id, "camera": camera, "call_id": inc.call_id}),
            ),
        )
        .await?;
        tx.commit()
            .await
            .map_err(db_err("committing the incident"))?;
        Ok((self.incident_view(actor, id).await?, true))
    }

    /// One incident with its checklist, timeline, units and links.
    pub async fn incident_view(&self, actor: &Actor, id: i64) -> Result<IncidentView> {
        actor.require(Permission::Dispatch)?;
        let r = sqlx::query(
            "SELECT id, type_id, type_label, priority, status, source, latitude, longitude, address, caller_name, caller_phone, notes,
                    camera_id, call_id, opened_by, opened_at_ms, updated_at_ms, closed_at_ms, close_reason FROM incident WHERE id = $1",
        )
        .bind(id)
        .optional(&self.pool, "reading incident").await?
        .ok_or_else(|| not_found(id))?;
        let camera: Option<String> = r.get("camera_id");
        if camera.as_deref().is_some_and(|c| !actor.covers_camera(c)) {
            return Err(not_found(id));
        }
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(db_err("reading incident"))?;
        let units = assigned_units(&mut conn, id).await?;
        let sop = sqlx::query("SELECT step, text, ticked_by, ticked_at_ms FROM incident_sop_step WHERE incident_id = $1 ORDER BY step")
            .bind(id)
            .all(&mut *conn, "reading the procedure").await?
            .iter()
            .map(|s| SopStepView { step: s.get("step"), text: s.get("text"), ticked_by: s.get("ticked_by"), ticked_at_ms: s.get("ticked_at_ms") })
            .collect();
        let timeline = sqlx::query(
            "SELECT at_ms, actor, kind, text FROM incident_event WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id)
        .all(&mut *conn, "reading the timeline").await?
        .iter()
        .map(|t| TimelineEntry {
            at_ms: t.get("at_ms"),
            actor: t.get("actor"),
            kind: t.get("kind"),
            text: t.get("text"),
        })
        .collect();
        let links = sqlx::query("SELECT kind, ref_id, added_by, at_ms FROM incident_link WHERE incident_id = $1 ORDER BY at_ms, kind")
            .bind(id)
            .all(&mut *conn, "reading links").await?
            .iter()
            .map(|l| LinkView { kind: l.get("kind"), ref_id: l.get("ref_id"), added_by: l.get("added_by"), at_ms: l.get("at_ms") })
            .collect();
        Ok(IncidentView {
            id: r.get("id"),
            type_id: r.get("type_id"),
            type_label: r.get("type_label"),
            priority: r.get("priority"),
            status: IncidentStatus::parse(&r.get::<String, _>("status"))?,
            source: IncidentSource::parse(&r.get::<String, _>("source"))?,
            latitude: r.get("latitude"),
            longitude: r.get("longitude"),
            address: r.get("address"),
            caller_name: r.get("caller_name"),
            caller_phone: r.get("caller_phone"),
            notes: r.get("notes"),
            camera,
            call_id: r.get("call_id"),
            opened_by: r.get("opened_by"),
            opened_at_ms: r.get("opened_at_ms"),
            updated_at_ms: r.get("updated_at_ms"),
            closed_at_ms: r.get("closed_at_ms"),
            close_reason: r
                .get::<Option<String>, _>("close_reason")
                .as_deref()
                .map(CloseReason::parse)
                .transpose()?,
            units,
            sop,
            timeline,
            links,
        })
    }

    /// Incidents, most urgent and oldest first; closed ones only when asked
    /// (`include_closed`), newest first after the open ones.
    pub async fn incident_views(
        &self,
        actor: &Actor,
        include_closed: bool,
        limit: i64,
    ) -> Result<Vec<IncidentView>> {
        actor.require(Permission::Dispatch)?;
        if !(1..=500).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit {limit} is not between 1 and 500"
            )));
        }
        let ids: Vec<(i64, Option<String>)> = sqlx::query(
            "SELECT id, camera_id FROM incident WHERE ($1 OR status != 'closed')
             ORDER BY status = 'closed', CASE WHEN status = 'closed' THEN -closed_at_ms ELSE priority END, opened_at_ms",
        )
        .bind(include_closed)
        .all(&self.pool, "listing incidents").await?
        .iter()
        .map(|r| (r.get("id"), r.get("camera_id")))
        .collect();
        let mut out = Vec::new();
        for (id, cam) in ids {
            if cam.as_deref().is_some_and(|c| !actor.covers_camera(c)) {
                continue;
            }
            out.push(self.incident_view(actor, id).await?);
            if out.len() as i64 >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Moves an incident along its lifecycle. Closing needs a reason and
    /// frees its units; `on_scene` puts its units on scene.
    pub async fn set_incident_status(
        &self,
        actor: &Actor,
        id: i64,
        to: IncidentStatus,
        reason: Option<CloseReason>,
        note: &str,
        now: Timestamp,
    ) -> Result<IncidentView> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        if to == IncidentStatus::Closed && reason.is_none() {
            return Err(Error::invalid(
                "closing an incident needs a `reason`: resolved, false_alarm, duplicate, cancelled or referred",
            ));
        }
        if note.chars().count() > 4000 {
            return Err(Error::invalid("field `note`: longer than 4000 characters"));
        }
        let mut tx = self.begin_immediate().await?;
        let from = current(&mut tx, actor, id).await?;
        let units = assigned_units(&mut tx, id).await?;
        from.check_transition(to, units.len())
            .map_err(|e| precondition(format!("incident {id}: {}", e.message())))?;
        let unticked: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM incident_sop_step WHERE incident_id = $1 AND ticked_by IS NULL",
        )
        .bind(id)
        .one(&mut *tx, "reading the procedure").await?
        .get("n");
        match to {
            IncidentStatus::Closed => {
                sqlx::query("UPDATE incident SET status = 'closed', closed_at_ms = $1, close_reason = $2, updated_at_ms = $3 WHERE id = $4")
                    .bind(now.0)
                    .bind(reason.map(|r| r.name()))
                    .bind(now.0)
                    .bind(id)
                    .run(&mut *tx, "closing the incident").await?;
                sqlx::query("UPDATE unit SET status = 'available', incident_id = NULL, updated_at_ms = $1 WHERE incident_id = $2")
                    .bind(now.0)
                    .bind(id)
                    .run(&mut *tx, "freeing units").await?;
            }
            _ => {
                sqlx::query("UPDATE incident SET status = $1, updated_at_ms = $2 WHERE id = $3")
                    .bind(to.name())
                    .bind(now.0)
                    .bind(id)
                    .run(&mut *tx, "updating the incident")
                    .await?;
                if to == IncidentStatus::OnScene {
                    sqlx::query("UPDATE unit SET status = 'on_scene', updated_at_ms = $1 WHERE incident_id = $2")
                        .bind(now.0)
                        .bind(id)
                        .run(&mut *tx, "updating units").await?;
                }
            }
        }
        let mut text = format!("{} → {}", from.name(), to.name());
        if let Some(r) = reason {
            text.push_str(&format!(" ({})", r.name()));
            if !units.is_empty() {
                text.push_str(&format!("; units freed: {}", units.join(", ")));
            }
            if unticked > 0 {
                text.push_str(&format!("; {unticked} procedure step(s) not ticked"));
            }
        }
        if !note.trim().is_empty() {
            text.push_str(&format!(": {}", note.trim()));
        }
        timeline(&mut tx, id, &actor.username, "status", &text, now).await?;
        incident_event(
            &mut tx,
            "incident.status",
            id,
            serde_json::json!({"from": from.name(), "to": to.name()}),
            now,
        )
        .await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(&actor.username, "incident.status", format!("incident:{id}"))
                .why(note.trim())
                .details(serde_json::json!({"from": from.name(), "to": to.name(),
                    "reason": reason.map(|r| r.name()), "units": units, "sop_unticked": unticked})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        self.incident_view(actor, id).await
    }

    /// Sends `unit` to incident `id`. The unit must be available; a new
    /// incident becomes dispatched.
    pub async fn assign_unit(
        &self,
        actor: &Actor,
        id: i64,
        unit: &str,
        now: Timestamp,
    ) -> Result<IncidentView> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        let status = current(&mut tx, actor, id).await?;
        if status == IncidentStatus::Closed {
            return Err(precondition(format!(
                "incident {id} is closed; no unit can be sent to it"
            )));
        }
        let (ustatus, at) = crate::units::unit_state(&mut tx, unit).await?;
        match (ustatus, at) {
            (UnitStatus::OutOfService, _) => {
                return Err(precondition(format!(
                    "unit {unit} is out of service and cannot be dispatched"
                )));
            }
            (_, Some(other)) if other == id => {
                return Err(Error::new(
                    ErrorKind::AlreadyExists,
                    format!("unit {unit} is already assigned to incident {id}"),
                ));
            }
            (_, Some(other)) => {
                return Err(precondition(format!(
                    "unit {unit} is already {} for incident {other}; release it there first",
                    ustatus.name()
                )));
            }
            _ => {}
        }
        let unit_status = if status == IncidentStatus::OnScene {
            "on_scene"
        } else {
            "dispatched"
        };
        sqlx::query(
            "UPDATE unit SET status = $1, incident_id = $2, updated_at_ms = $3 WHERE id = $4",
        )
        .bind(unit_status)
        .bind(id)
        .bind(now.0)
        .bind(unit)
        .run(&mut *tx, "dispatching the unit")
        .await?;
        timeline(
            &mut tx,
            id,
            &actor.username,
            "unit.assigned",
            &format!("Unit {unit} dispatched"),
            now,
        )
        .await?;
        if status == IncidentStatus::New {
            sqlx::query(
                "UPDATE incident SET status = 'dispatched', updated_at_ms = $1 WHERE id = $2",
            )
            .bind(now.0)
            .bind(id)
            .run(&mut *tx, "updating the incident")
            .await?;
            timeline(
                &mut tx,
                id,
                &actor.username,
                "status",
                "new → dispatched",
                now,
            )
            .await?;
        }
        touch(&mut tx, id, now).await?;
        incident_event(
            &mut tx,
            "incident.unit.assigned",
            id,
            serde_json::json!({"unit": unit}),
            now,
        )
        .await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(
                &actor.username,
                "incident.dispatch",
                format!("incident:{id}"),
            )
            .details(serde_json::json!({"unit": unit})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        self.incident_view(actor, id).await
    }

    /// Takes `unit` off incident `id`; it becomes available.
    pub async fn release_unit(
        &self,
        actor: &Actor,
        id: i64,
        unit: &str,
        now: Timestamp,
    ) -> Result<IncidentView> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        current(&mut tx, actor, id).await?;
        let n = sqlx::query("UPDATE unit SET status = 'available', incident_id = NULL, updated_at_ms = $1 WHERE id = $2 AND incident_id = $3")
            .bind(now.0)
            .bind(unit)
            .bind(id)
            .run(&mut *tx, "releasing the unit").await?
            .rows_affected();
        if n == 0 {
            return Err(Error::not_found(format!(
                "unit {unit:?} is not assigned to incident {id}"
            )));
        }
        touch(&mut tx, id, now).await?;
        timeline(
            &mut tx,
            id,
            &actor.username,
            "unit.released",
            &format!("Unit {unit} released"),
            now,
        )
        .await?;
        incident_event(
            &mut tx,
            "incident.unit.released",
            id,
            serde_json::json!({"unit": unit}),
            now,
        )
        .await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(
                &actor.username,
                "incident.release",
                format!("incident:{id}"),
            )
            .details(serde_json::json!({"unit": unit})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        self.incident_view(actor, id).await
    }

    /// Ticks step `step` (from 1) of the incident's procedure.
    pub async fn tick_sop(
        &self,
        actor: &Actor,
        id: i64,
        step: i64,
        now: Timestamp,
    ) -> Result<IncidentView> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        if current(&mut tx, actor, id).await? == IncidentStatus::Closed {
            return Err(precondition(format!(
                "incident {id} is closed; its procedure can no longer be ticked"
            )));
        }
        let s = sqlx::query("SELECT text, ticked_by, ticked_at_ms FROM incident_sop_step WHERE incident_id = $1 AND step = $2")
            .bind(id)
            .bind(step)
            .optional(&mut *tx, "reading the procedure").await?
            .ok_or_else(|| Error::not_found(format!("incident {id} has no procedure step {step}")))?;
        if let Some(by) = s.get::<Option<String>, _>("ticked_by") {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!("step {step} of incident {id} was already ticked by {by}"),
            ));
        }
        let text: String = s.get("text");
        sqlx::query("UPDATE incident_sop_step SET ticked_by = $1, ticked_at_ms = $2 WHERE incident_id = $3 AND step = $4")
            .bind(&actor.username)
            .bind(now.0)
            .bind(id)
            .bind(step)
            .run(&mut *tx, "ticking the step").await?;
        timeline(
            &mut tx,
            id,
            &actor.username,
            "sop.tick",
            &format!("Step {step} done: {text}"),
            now,
        )
        .await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(
                &actor.username,
                "incident.sop.tick",
                format!("incident:{id}"),
            )
            .details(serde_json::json!({"step": step})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        self.incident_view(actor, id).await
    }

    /// Adds a note to the timeline.
    pub async fn add_incident_note(
        &self,
        actor: &Actor,
        id: i64,
        text: &str,
        now: Timestamp,
    ) -> Result<IncidentView> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 4000 {
            return Err(Error::invalid(
                "field `text`: a note must have 1 to 4000 characters",
            ));
        }
        let mut tx = self.begin_immediate().await?;
        current(&mut tx, actor, id).await?;
        timeline(&mut tx, id, &actor.username, "note", text, now).await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(&actor.username, "incident.note", format!("incident:{id}")),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        self.incident_view(actor, id).await
    }

    /// Links a confirmed candidate (and its plate read, if any) to an incident.
    pub async fn link_candidate(
        &self,
        actor: &Actor,
        id: i64,
        candidate: i64,
        policy: &ReviewPolicy,
        now: Timestamp,
    ) -> Result<IncidentView> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        current(&mut tx, actor, id).await?;
        let (_, links) = confirmed_candidate(&mut tx, actor, candidate, policy).await?;
        for (kind, ref_id) in links {
            sqlx::query("INSERT INTO incident_link (incident_id, kind, ref_id, added_by, at_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(kind)
                .bind(ref_id)
                .bind(&actor.username)
                .bind(now.0)
                .run(&mut *tx, "linking").await?;
        }
        timeline(
            &mut tx,
            id,
            &actor.username,
            "link",
            &format!("Linked confirmed candidate {candidate}"),
            now,
        )
        .await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(&actor.username, "incident.link", format!("incident:{id}"))
                .details(serde_json::json!({"candidate": candidate})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        self.incident_view(actor, id).await
    }

    /// Records that `actor` looked at `camera` for incident `id`, in the
    /// timeline and the audit log. The API checks the camera is near it.
    pub async fn record_incident_camera_view(
        &self,
        actor: &Actor,
        id: i64,
        camera: &str,
        distance_m: f64,
        now: Timestamp,
    ) -> Result<()> {
        actor.require(Permission::Dispatch)?;
        if !actor.covers_camera(camera) {
            return Err(Error::not_found(format!(
                "camera {camera:?} does not exist"
            )));
        }
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        if current(&mut tx, actor, id).await? == IncidentStatus::Closed {
            return Err(precondition(format!(
                "incident {id} is closed; its cameras are no longer viewed through it"
            )));
        }
        timeline(
            &mut tx,
            id,
            &actor.username,
            "camera.view",
            &format!("Viewed camera {camera} ({distance_m:.0} m away)"),
            now,
        )
        .await?;
        append(
            &mut tx,
            key,
            now,
            &AuditRecord::new(
                &actor.username,
                "incident.camera.view",
                format!("incident:{id}"),
            )
            .details(serde_json::json!({"camera": camera, "distance_m": distance_m.round()})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    /// The incident's location, scope-checked (for the API's nearby-camera
    /// search, asked at every camera view: one row, not the whole view).
    pub async fn incident_location(&self, actor: &Actor, id: i64) -> Result<GeoPoint> {
        actor.require(Permission::Dispatch)?;
        let r = sqlx::query("SELECT latitude, longitude, camera_id FROM incident WHERE id = $1")
            .bind(id)
            .optional(&self.pool, "reading incident")
            .await?
            .ok_or_else(|| not_found(id))?;
        if r.get::<Option<String>, _>("camera_id")
            .is_some_and(|c| !actor.covers_camera(&c))
        {
            return Err(not_found(id));
        }
        Ok(GeoPoint {
            latitude: r.get("latitude"),
            longitude: r.get("longitude"),
        })
    }
}

/// Deletes incidents closed before `closed_before_ms` (their timeline,
/// procedure and links go with them), except those under a legal hold.
pub(crate) async fn sweep_incidents(
    conn: &mut AnyConnection,
    closed_before_ms: i64,
) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM incident WHERE status = 'closed' AND closed_at_ms < $1
         AND NOT EXISTS (SELECT 1 FROM legal_hold h WHERE h.lifted_at_ms IS NULL AND h.target = 'incident:' || incident.id)",
    )
    .bind(closed_before_ms)
    .run(&mut *conn, "deleting closed incidents").await?
    .rows_affected())
}

/// An unconfirmed candidate never opens an incident or joins one.
pub(crate) fn check_confirmed(
    id: i64,
    status: &str,
    kind: &str,
    confirmations: i64,
    policy: &ReviewPolicy,
) -> Result<()> {
    let required = if kind == "plate" {
        policy.plate_confirmations
    } else {
        policy.face_confirmations
    };
    match status {
        "confirmed" => Ok(()),
        "candidate" => Err(precondition(format!(
            "candidate {id} is not confirmed ({confirmations} of {required} confirmation(s)): an unconfirmed {} cannot open an incident that dispatches units{}",
            if kind == "plate" {
                "plate hit"
            } else {
                "face match"
            },
            if kind == "plate" {
                "; confirm it in the review queue first".to_owned()
            } else {
                format!("; {required} different people must confirm it first (two-person rule)")
            }
        ))),
        other => Err(precondition(format!(
            "candidate {id} is {other}; only a confirmed candidate can open or join an incident"
        ))),
    }
}
