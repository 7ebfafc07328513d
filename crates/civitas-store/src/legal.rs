//! Legal-basis refusal (everything derived from a refused basis is deleted)
//! and legal holds (what retention must keep).

use crate::audit::{AuditRecord, append};
use crate::{Run, Store, db_err};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use sqlx::Row;

impl Store {
    /// The authorisation was refused after urgent use: delete every entry under
    /// the basis, their templates, and every candidate (with its face crop)
    /// derived from them; record the deletion.
    pub async fn refuse_basis(
        &self,
        actor: &Actor,
        basis: i64,
        reason: &str,
        now: Timestamp,
    ) -> Result<serde_json::Value> {
        actor.require(Permission::RefuseBasis)?;
        if reason.trim().is_empty() {
            return Err(Error::invalid(
                "field `reason`: say why the basis is refused",
            ));
        }
        let mut tx = self.begin_immediate().await?;
        let absent = || Error::not_found(format!("legal basis {basis} does not exist"));
        let row = sqlx::query("SELECT status, scope_json FROM legal_basis WHERE id = $1")
            .bind(basis)
            .optional(&mut *tx, "reading legal basis")
            .await?
            .ok_or_else(absent)?;
        // The same rule as granting one: a basis reaching beyond the
        // refuser's own cameras reads as absent to them.
        let scope: Vec<String> =
            serde_json::from_str(&row.get::<String, _>("scope_json")).unwrap_or_default();
        if !actor.covers_scope(&scope) {
            return Err(absent());
        }
        let status: String = row.get("status");
        if status == "refused" {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!("legal basis {basis} is already refused"),
            ));
        }
        let count = |sql: &'static str| sqlx::query(sql).bind(basis);
        let candidates: i64 = count("SELECT COUNT(*) AS n FROM candidate WHERE entry_id IN (SELECT id FROM watchlist_entry WHERE legal_basis_id = $1)")
            .one(&mut *tx, "counting").await?
            .get("n");
        let templates: i64 = count("SELECT COUNT(*) AS n FROM entry_template WHERE entry_id IN (SELECT id FROM watchlist_entry WHERE legal_basis_id = $1)")
            .one(&mut *tx, "counting").await?
            .get("n");
        let entries = count("DELETE FROM watchlist_entry WHERE legal_basis_id = $1")
            .run(&mut *tx, "deleting entries")
            .await?
            .rows_affected();
        sqlx::query("UPDATE legal_basis SET status = 'refused', refused_at_ms = $1 WHERE id = $2")
            .bind(now.0)
            .bind(basis)
            .run(&mut *tx, "refusing basis")
            .await?;
        let details = serde_json::json!({"entries_deleted": entries, "templates_deleted": templates, "candidates_deleted": candidates});
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor.username, "basis.refuse", format!("basis:{basis}"))
                .why(reason)
                .details(details.clone()),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing refusal"))?;
        Ok(details)
    }

    pub async fn place_hold(
        &self,
        actor: &Actor,
        target: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<i64> {
        actor.require(Permission::ManageRetention)?;
        let mut tx = self.begin_immediate().await?;
        let id: i64 = sqlx::query("INSERT INTO legal_hold (target, reason, placed_by, placed_at_ms) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(target)
            .bind(reason.trim())
            .bind(&actor.username)
            .bind(now.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_check_violation() => Error::invalid(format!(
                    "legal hold: target {target:?} must be candidate:N, entry:N, incident:N or recording:N, and `reason` is required"
                )),
                _ => db_err("placing legal hold")(e),
            })?
            .get("id");
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor.username, "hold.place", target)
                .why(reason)
                .details(serde_json::json!({"hold": id})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing hold"))?;
        Ok(id)
    }

    pub async fn lift_hold(
        &self,
        actor: &Actor,
        hold: i64,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        actor.require(Permission::ManageRetention)?;
        let mut tx = self.begin_immediate().await?;
        let target: String = sqlx::query("UPDATE legal_hold SET lifted_by = $1, lifted_at_ms = $2 WHERE id = $3 AND lifted_at_ms IS NULL RETURNING target")
            .bind(&actor.username)
            .bind(now.0)
            .bind(hold)
            .optional(&mut *tx, "lifting hold").await?
            .ok_or_else(|| Error::not_found(format!("legal hold {hold} does not exist or was already lifted")))?
            .get("target");
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor.username, "hold.lift", target)
                .why(reason)
                .details(serde_json::json!({"hold": hold})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }
}
