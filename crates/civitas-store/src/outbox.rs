//! The outbox: incident and unit events committed with the change that made
//! them, delivered to each webhook destination in order from its cursor.

use crate::{Run, Store};
use civitas_base::{Result, Timestamp};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// An event waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: i64,
    pub topic: String,
    pub payload: serde_json::Value,
    pub created_at_ms: i64,
}

/// How one destination (a webhook) is keeping up.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryStatus {
    pub destination: String,
    /// Events written but not yet acknowledged by it.
    pub pending: i64,
    pub delivered_total: i64,
    /// Failed attempts at its next event since the last success.
    pub attempts: i64,
    pub retries_total: i64,
    pub last_error: Option<String>,
    pub last_attempt_ms: Option<i64>,
    pub last_success_ms: Option<i64>,
}

/// Writes an event for other systems, inside the caller's transaction.
pub(crate) async fn outbox(
    conn: &mut AnyConnection,
    topic: &str,
    payload: serde_json::Value,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("INSERT INTO outbox (topic, payload, created_at_ms) VALUES ($1, $2, $3)")
        .bind(topic)
        .bind(payload.to_string())
        .bind(now.0)
        .run(&mut *conn, "writing the outbox")
        .await?;
    Ok(())
}

/// Deletes outbox events older than a week that every webhook has
/// acknowledged (with no webhook registered, every event older than a week).
pub(crate) async fn sweep_outbox(conn: &mut AnyConnection, now: Timestamp) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM outbox WHERE created_at_ms < $1
         AND id <= COALESCE((SELECT MIN(delivered_through) FROM outbox_cursor), id)",
    )
    .bind(now.0 - 7 * 86_400_000)
    .run(&mut *conn, "deleting delivered outbox events")
    .await?
    .rows_affected())
}

impl Store {
    /// Registers a destination; a new one starts after the events already
    /// written (a new integration is not sent the history).
    pub async fn outbox_register(&self, destination: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO outbox_cursor (destination, delivered_through) VALUES ($1, (SELECT COALESCE(MAX(id), 0) FROM outbox)) ON CONFLICT DO NOTHING",
        )
        .bind(destination)
        .run(&self.pool, format!("registering destination {destination}")).await?;
        Ok(())
    }

    /// The next events `destination` has not acknowledged, oldest first.
    pub async fn outbox_next(&self, destination: &str, limit: i64) -> Result<Vec<OutboxEvent>> {
        Ok(sqlx::query(
            "SELECT id, topic, payload, created_at_ms FROM outbox
             WHERE id > (SELECT delivered_through FROM outbox_cursor WHERE destination = $1) ORDER BY id LIMIT $2",
        )
        .bind(destination)
        .bind(limit)
        .all(&self.pool, "reading the outbox").await?
        .iter()
        .map(|r| OutboxEvent {
            id: r.get("id"),
            topic: r.get("topic"),
            payload: serde_json::from_str(&r.get::<String, _>("payload")).unwrap_or_default(),
            created_at_ms: r.get("created_at_ms"),
        })
        .collect())
    }

    /// `destination` acknowledged event `id`.
    pub async fn outbox_delivered(&self, destination: &str, id: i64, now: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE outbox_cursor SET delivered_through = CASE WHEN delivered_through > $1 THEN delivered_through ELSE $1 END, delivered_total = delivered_total + 1,
             attempts = 0, last_error = NULL, last_attempt_ms = $2, last_success_ms = $3 WHERE destination = $4",
        )
        .bind(id)
        .bind(now.0)
        .bind(now.0)
        .bind(destination)
        .run(&self.pool, "recording a delivery").await?;
        Ok(())
    }

    /// An attempt to deliver to `destination` failed with `error`.
    pub async fn outbox_failed(
        &self,
        destination: &str,
        error: &str,
        now: Timestamp,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox_cursor SET attempts = attempts + 1, retries_total = retries_total + 1, last_error = $1, last_attempt_ms = $2 WHERE destination = $3",
        )
        .bind(error)
        .bind(now.0)
        .bind(destination)
        .run(&self.pool, "recording a failed delivery").await?;
        Ok(())
    }

    /// Every destination's state.
    pub async fn outbox_status(&self) -> Result<Vec<DeliveryStatus>> {
        Ok(sqlx::query(
            "SELECT destination, (SELECT COUNT(*) FROM outbox o WHERE o.id > c.delivered_through) AS pending, delivered_total, attempts,
                    retries_total, last_error, last_attempt_ms, last_success_ms FROM outbox_cursor c ORDER BY destination",
        )
        .all(&self.pool, "reading deliveries").await?
        .iter()
        .map(|r| DeliveryStatus {
            destination: r.get("destination"),
            pending: r.get("pending"),
            delivered_total: r.get("delivered_total"),
            attempts: r.get("attempts"),
            retries_total: r.get("retries_total"),
            last_error: r.get("last_error"),
            last_attempt_ms: r.get("last_attempt_ms"),
            last_success_ms: r.get("last_success_ms"),
        })
        .collect())
    }
}
