//! Response units: declared in the config (synced at start), their status
//! and position as dispatchers and field devices report them.

use crate::audit::{AuditRecord, append};
use crate::incidents::*;
use crate::outbox::outbox;
use crate::{Run, Store, db_err};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, Result, Timestamp};
use civitas_model::incident::{GeoPoint, UNIT_KINDS, UnitStatus};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// A unit as the console and the map show it.
#[derive(Debug, Clone, Serialize)]
pub struct UnitView {
    pub id: String,
    /// `police`, `ambulance`, `fire`, `rescue`, `traffic` or `other`.
    pub kind: String,
    pub name: String,
    pub status: UnitStatus,
    pub incident_id: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// When the position was last reported (Unix ms).
    pub position_at_ms: Option<i64>,
    pub updated_at_ms: i64,
}

/// A unit as declared in the config.
#[derive(Debug, Clone)]
pub struct UnitSpec {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub position: Option<GeoPoint>,
}

pub(crate) fn unit_from_row(r: &sqlx::any::AnyRow) -> Result<UnitView> {
    Ok(UnitView {
        id: r.get("id"),
        kind: r.get("kind"),
        name: r.get("name"),
        status: UnitStatus::parse(&r.get::<String, _>("status"))?,
        incident_id: r.get("incident_id"),
        latitude: r.get("latitude"),
        longitude: r.get("longitude"),
        position_at_ms: r.get("position_at_ms"),
        updated_at_ms: r.get("updated_at_ms"),
    })
}

/// A unit's status and the incident it is assigned to; an unknown unit is
/// refused in words.
pub(crate) async fn unit_state(
    conn: &mut AnyConnection,
    unit: &str,
) -> Result<(UnitStatus, Option<i64>)> {
    let u = sqlx::query("SELECT status, incident_id FROM unit WHERE id = $1")
        .bind(unit)
        .optional(&mut *conn, "reading the unit")
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "no unit {unit:?} (units are declared in the config, [[unit]])"
            ))
        })?;
    Ok((
        UnitStatus::parse(&u.get::<String, _>("status"))?,
        u.get("incident_id"),
    ))
}

/// The unit columns `unit_from_row` reads (a macro so queries stay literals).
macro_rules! unit_select {
    () => {
        "SELECT id, kind, name, status, incident_id, latitude, longitude, position_at_ms, updated_at_ms FROM unit"
    };
}

impl Store {
    /// Declares the config's units: new ones are added (available), known
    /// ones keep their status and take the config's kind and name.
    pub async fn sync_units(&self, units: &[UnitSpec], now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        for u in units {
            if !UNIT_KINDS.contains(&u.kind.as_str()) {
                return Err(Error::invalid(format!(
                    "unit {:?}: kind {:?} is not one of {}",
                    u.id,
                    u.kind,
                    UNIT_KINDS.join(", ")
                )));
            }
            let existed = sqlx::query("SELECT 1 FROM unit WHERE id = $1")
                .bind(&u.id)
                .optional(&mut *tx, "reading units")
                .await?
                .is_some();
            if existed {
                sqlx::query("UPDATE unit SET kind = $1, name = $2 WHERE id = $3")
                    .bind(&u.kind)
                    .bind(&u.name)
                    .bind(&u.id)
                    .run(&mut *tx, format!("updating unit {}", u.id))
                    .await?;
                continue;
            }
            sqlx::query(
                "INSERT INTO unit (id, kind, name, latitude, longitude, position_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&u.id)
            .bind(&u.kind)
            .bind(&u.name)
            .bind(u.position.map(|p| p.latitude))
            .bind(u.position.map(|p| p.longitude))
            .bind(u.position.map(|_| now.0))
            .bind(now.0)
            .run(&mut *tx, format!("adding unit {}", u.id)).await?;
            append(
                &mut tx,
                key,
                now,
                &AuditRecord::new("system", "unit.declare", format!("unit:{}", u.id))
                    .details(serde_json::json!({"kind": u.kind, "name": u.name})),
            )
            .await?;
        }
        tx.commit().await.map_err(db_err("committing units"))?;
        Ok(())
    }

    /// A unit reports its status and/or position. `available` or
    /// `out_of_service` frees it from its incident; `on_scene` needs one;
    /// `dispatched` is only reached by assigning it.
    pub async fn set_unit_status(
        &self,
        actor: &Actor,
        unit: &str,
        status: Option<UnitStatus>,
        position: Option<GeoPoint>,
        now: Timestamp,
    ) -> Result<UnitView> {
        actor.require(Permission::Dispatch)?;
        let key = self.key()?;
        if status.is_none() && position.is_none() {
            return Err(Error::invalid(
                "request body: give a `status`, a position (`latitude` and `longitude`), or both",
            ));
        }
        let mut tx = self.begin_immediate().await?;
        let (from, incident) = unit_state(&mut tx, unit).await?;
        if let Some(p) = position {
            sqlx::query("UPDATE unit SET latitude = $1, longitude = $2, position_at_ms = $3, updated_at_ms = $4 WHERE id = $5")
                .bind(p.latitude)
                .bind(p.longitude)
                .bind(now.0)
                .bind(now.0)
                .bind(unit)
                .run(&mut *tx, "updating the unit's position").await?;
        }
        if let Some(to) = status.filter(|s| *s != from) {
            match to {
                UnitStatus::Dispatched => {
                    return Err(precondition(format!(
                        "unit {unit}: a unit becomes dispatched by being assigned to an incident"
                    )));
                }
                UnitStatus::OnScene if incident.is_none() => {
                    return Err(precondition(format!(
                        "unit {unit} is not assigned to an incident, so it cannot be on scene"
                    )));
                }
                UnitStatus::OnScene => {
                    sqlx::query(
                        "UPDATE unit SET status = 'on_scene', updated_at_ms = $1 WHERE id = $2",
                    )
                    .bind(now.0)
                    .bind(unit)
                    .run(&mut *tx, "updating the unit")
                    .await?;
                }
                UnitStatus::Available | UnitStatus::OutOfService => {
                    sqlx::query("UPDATE unit SET status = $1, incident_id = NULL, updated_at_ms = $2 WHERE id = $3")
                        .bind(to.name())
                        .bind(now.0)
                        .bind(unit)
                        .run(&mut *tx, "updating the unit").await?;
                }
            }
            if let Some(i) = incident {
                let text = match to {
                    UnitStatus::OnScene => format!("Unit {unit} on scene"),
                    _ => format!("Unit {unit} released ({})", to.name()),
                };
                timeline(&mut tx, i, &actor.username, "unit.status", &text, now).await?;
                touch(&mut tx, i, now).await?;
            }
            append(
                &mut tx,
                key,
                now,
                &AuditRecord::new(&actor.username, "unit.status", format!("unit:{unit}")).details(
                    serde_json::json!({"from": from.name(), "to": to.name(), "incident": incident}),
                ),
            )
            .await?;
        }
        let view = sqlx::query(concat!(unit_select!(), " WHERE id = $1"))
            .bind(unit)
            .one(&mut *tx, "reading the unit")
            .await
            .and_then(|r| unit_from_row(&r))?;
        outbox(
            &mut tx,
            "unit.status",
            serde_json::json!({"event": "unit.status", "at_ms": now.0, "unit": {
                "id": view.id, "kind": view.kind, "status": view.status, "incident": view.incident_id,
                "latitude": view.latitude, "longitude": view.longitude}}),
            now,
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(view)
    }

    /// Every unit.
    pub async fn units(&self, actor: &Actor) -> Result<Vec<UnitView>> {
        actor.require(Permission::Dispatch)?;
        sqlx::query(concat!(unit_select!(), " ORDER BY kind, id"))
            .all(&self.pool, "listing units")
            .await?
            .iter()
            .map(unit_from_row)
            .collect()
    }
}
