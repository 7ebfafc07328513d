//! PostgreSQL, the store for deployments at scale: its schema and the store
//! writer's hot path.
//!
//! The schema lives in `migrations/postgres/`, numbered like
//! `migrations/sqlite/` with the same tables and columns (a test compares
//! them) in PostgreSQL's types. What is built on it so far is the path every
//! worker's result takes — the idempotent, audited candidate write
//! ([`PgStore::insert_candidate`]: the stable-key check, the rejection
//! window, the row, the audit entry with its Merkle frontier and signed tree
//! head, one transaction) — so the two backends can be measured side by
//! side (`civitas bench store`). The rest of [`crate::Store`]'s methods
//! (console, incidents, plates, recordings) are SQLite-only until they are
//! ported; `civitas serve` still runs on SQLite.
//!
//! Audit order: each append transaction takes `LOCK TABLE audit_frontier IN
//! EXCLUSIVE MODE` first, the equivalent of SQLite's `BEGIN IMMEDIATE`, so
//! appends are serialised and the tree has one order even with several
//! connections (readers are not blocked).

use crate::accountability::AuditRecord;
use crate::{ReviewPolicy, db_err};
use civitas_audit::{AuditKey, Frontier};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::{Candidate, CandidateId};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};
use std::sync::Arc;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    audit_key: Option<Arc<AuditKey>>,
}

async fn connect(url: &str, max: u32) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(url)
        .await
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Unavailable,
                format!("connecting to PostgreSQL at {}", mask(url)),
                e,
            )
        })
}

/// A database name safe to splice into DDL (which takes no parameters).
fn ident(name: &str) -> Result<&str> {
    if !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(name)
    } else {
        Err(Error::invalid(format!(
            "database name {name:?}: letters, digits and '_' only, at most 63"
        )))
    }
}

/// The URL without its password, for messages.
pub fn mask(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

impl PgStore {
    /// Connects and applies pending migrations.
    pub async fn open(url: &str) -> Result<PgStore> {
        let pool = connect(url, 8).await?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            Error::with_source(
                ErrorKind::DataLoss,
                format!("migrating PostgreSQL database {}", mask(url)),
                e,
            )
        })?;
        Ok(PgStore {
            pool,
            audit_key: None,
        })
    }

    /// Creates database `name` on the server at `admin_url` (tests and
    /// benchmarks make one per run). `name`: letters, digits and `_` only.
    pub async fn create_database(admin_url: &str, name: &str) -> Result<()> {
        Self::admin(admin_url, &format!("CREATE DATABASE {}", ident(name)?)).await
    }

    /// Drops database `name` (closing its connections).
    pub async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
        Self::admin(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name)?),
        )
        .await
    }

    async fn admin(admin_url: &str, sql: &str) -> Result<()> {
        let mut c = PgConnection::connect(admin_url).await.map_err(|e| {
            Error::with_source(
                ErrorKind::Unavailable,
                format!(
                    "connecting to PostgreSQL at {} (is it running?)",
                    mask(admin_url)
                ),
                e,
            )
        })?;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut c)
            .await
            .map_err(db_err(format!("{sql} on {}", mask(admin_url))))?;
        Ok(())
    }

    pub fn with_audit_key(mut self, key: Arc<AuditKey>) -> PgStore {
        self.audit_key = Some(key);
        self
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Test support: applies the migrations up to `version` only, then `seed`.
    #[doc(hidden)]
    pub async fn create_at_version(url: &str, version: i64, seed: &'static str) -> Result<()> {
        let pool = connect(url, 1).await?;
        MIGRATOR.run_to(version, &pool).await.map_err(|e| {
            Error::with_source(ErrorKind::DataLoss, format!("migrating to {version}"), e)
        })?;
        sqlx::raw_sql(seed)
            .execute(&pool)
            .await
            .map_err(db_err(format!("seeding at version {version}")))?;
        pool.close().await;
        Ok(())
    }

    /// The schema as PostgreSQL describes it: every column with its type,
    /// nullability and default; every index and constraint with its
    /// definition; sorted, without sqlx's bookkeeping.
    #[doc(hidden)]
    pub async fn schema_dump(&self) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
                    || is_nullable || ' ' || COALESCE(column_default, '') || ' ' || COALESCE(generation_expression, '')
               FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'
             UNION ALL
             SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes
              WHERE schemaname = current_schema() AND tablename NOT LIKE '\\_sqlx%'
             UNION ALL
             SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ': ' || pg_get_constraintdef(oid)
               FROM pg_constraint
              WHERE connamespace = current_schema()::regnamespace AND conrelid::regclass::text NOT LIKE '\\_sqlx%'
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading the schema"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Every (table, column), sorted: compared with SQLite's by a test.
    pub async fn columns(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'
              ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading the columns"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn key(&self) -> Result<&AuditKey> {
        self.audit_key.as_deref().ok_or_else(|| {
            Error::internal("the store was opened without the audit key; nothing can be written")
        })
    }

    /// Stores a candidate for review, with its `candidate.raise` audit entry,
    /// once per stable key ([`Candidate::key`]); a candidate for an entry
    /// rejected on this camera within the suppression window is not stored
    /// (`candidate.suppress` is audited instead) and answers `None`. The
    /// same behaviour as [`crate::Store::insert_candidate`].
    pub async fn insert_candidate(
        &self,
        c: &Candidate,
        now: Timestamp,
        policy: &ReviewPolicy,
    ) -> Result<Option<CandidateId>> {
        let key = self.key()?;
        let mut conn = self.pool.acquire().await.map_err(db_err("connecting"))?;
        let mut tx = conn
            .begin()
            .await
            .map_err(db_err("starting a transaction"))?;
        lock_audit(&mut tx).await?;
        let dedup = c.key();
        let prior: Option<String> =
            sqlx::query_scalar("SELECT result_json FROM applied_event WHERE key = $1")
                .bind(&dedup)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(format!("looking up result {dedup}")))?;
        if let Some(p) = prior {
            tx.commit().await.map_err(db_err("committing"))?;
            let v: serde_json::Value = serde_json::from_str(&p).unwrap_or_default();
            return Ok(v["candidate"].as_i64().map(CandidateId));
        }
        let rejected: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM candidate WHERE entry_id = $1 AND camera_id = $2 AND status = 'rejected' AND decided_at_ms >= $3",
        )
        .bind(c.entry.0)
        .bind(&c.camera.0)
        .bind(now.0 - policy.suppress_after_reject_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("checking rejections"))?;
        let actor = format!("system:camera:{}", c.camera);
        let (record, id) = if rejected > 0 {
            (
                AuditRecord::new(&actor, "candidate.suppress", format!("entry:{}", c.entry))
                    .details(serde_json::json!({"reason": "rejected on this camera within the suppression window"})),
                None,
            )
        } else {
            let bbox =
                serde_json::to_string(&c.bbox).map_err(|e| Error::internal(e.to_string()))?;
            let id: i64 = sqlx::query_scalar(
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
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err(format!("storing candidate from camera {}", c.camera)))?;
            (
                AuditRecord::new(&actor, "candidate.raise", format!("candidate:{id}")).details(
                    serde_json::json!({"entry": c.entry.0, "distance": c.distance, "track": c.track.0}),
                ),
                Some(id),
            )
        };
        append(&mut tx, key, now, &record).await?;
        sqlx::query("INSERT INTO applied_event (key, result_json, at_ms) VALUES ($1, $2, $3)")
            .bind(&dedup)
            .bind(serde_json::json!({ "candidate": id }).to_string())
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err(format!("recording result {dedup} as applied")))?;
        tx.commit().await.map_err(db_err("committing candidate"))?;
        Ok(id.map(CandidateId))
    }

    /// Benchmark support: one legal basis and one watchlist entry to raise
    /// candidates against (enrolment itself is not ported yet).
    #[doc(hidden)]
    pub async fn bench_seed_entry(&self, now: Timestamp) -> Result<i64> {
        sqlx::query_scalar(
            "WITH b AS (INSERT INTO legal_basis (kind, authority, reference, purpose, granted_at_ms, expires_at_ms, entered_by)
                        VALUES ('court-order', 'Benchmark', 'B-1', 'benchmark', $1, $1 + 86400000, 'bench') RETURNING id)
             INSERT INTO watchlist_entry (name, legal_basis_id, created_at_ms) SELECT 'bench', id, $1 FROM b RETURNING id",
        )
        .bind(now.0)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("seeding a benchmark entry"))
    }

    /// Test and benchmark support: the number of candidates and of audit entries.
    #[doc(hidden)]
    pub async fn counts(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM candidate), (SELECT COUNT(*) FROM audit_log)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("counting"))?;
        Ok((row.get(0), row.get(1)))
    }

    /// Recomputes every leaf and the tree and checks the latest signed head
    /// against it (the PostgreSQL twin of `audit verify`'s core).
    pub async fn audit_root_matches(&self) -> Result<bool> {
        let leaves: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT leaf_hash FROM audit_log ORDER BY seq")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("reading the audit log"))?;
        let mut f = Frontier::default();
        for l in &leaves {
            let h: [u8; 32] = l.as_slice().try_into().map_err(|_| {
                Error::new(ErrorKind::DataLoss, "an audit leaf hash is not 32 bytes")
            })?;
            f.push(h);
        }
        let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT tree_size, root FROM audit_tree_head ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading the tree head"))?;
        Ok(match head {
            Some((size, root)) => size as u64 == f.size() && root.as_slice() == f.root().as_slice(),
            None => leaves.is_empty(),
        })
    }
}

/// Serialises audit appends (see the module's documentation).
async fn lock_audit(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("LOCK TABLE audit_frontier IN EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await
        .map_err(db_err("locking the audit log"))?;
    Ok(())
}

/// Appends one entry and a signed head covering it inside the caller's
/// transaction (which holds [`lock_audit`]); the same tree as SQLite's.
async fn append(
    conn: &mut PgConnection,
    key: &AuditKey,
    now: Timestamp,
    r: &AuditRecord,
) -> Result<u64> {
    let last: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT tree_size, frontier FROM audit_frontier WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("reading the audit frontier"))?;
    let mut frontier = crate::accountability::frontier_from(last)?;
    let entry = crate::accountability::entry_for(frontier.size(), now, r);
    let leaf = entry.leaf_hash();
    sqlx::query(
        "INSERT INTO audit_log (seq, at_ms, actor, action, target, justification, details, leaf_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(entry.seq as i64)
    .bind(entry.at_ms)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.justification)
    .bind(&entry.details)
    .bind(leaf.as_slice())
    .execute(&mut *conn)
    .await
    .map_err(db_err("appending to the audit log"))?;
    frontier.push(leaf);
    let sth = key.sign(frontier.size(), now.0, frontier.root());
    sqlx::query("INSERT INTO audit_tree_head (tree_size, at_ms, root, signature, public_key) VALUES ($1, $2, $3, $4, $5)")
        .bind(sth.tree_size as i64)
        .bind(sth.at_ms)
        .bind(sth.root.as_slice())
        .bind(sth.signature.as_slice())
        .bind(key.public().as_slice())
        .execute(&mut *conn)
        .await
        .map_err(db_err("storing the signed tree head"))?;
    sqlx::query("INSERT INTO audit_frontier (id, tree_size, frontier) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, frontier = excluded.frontier")
        .bind(frontier.size() as i64)
        .bind(frontier.to_bytes())
        .execute(&mut *conn)
        .await
        .map_err(db_err("storing the audit frontier"))?;
    Ok(frontier.size() - 1)
}
