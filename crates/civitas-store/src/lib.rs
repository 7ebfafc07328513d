//! Civitas storage: the only crate that speaks SQL.
//!
//! SQLite is the embedded default (one file, WAL mode); PostgreSQL serves
//! deployments at scale. One [`Store`] runs on either, chosen by its URL,
//! through sqlx's `Any` driver: the same SQL text (`$N` placeholders, which
//! both engines read) wherever the dialects agree, and a text per engine
//! ([`Store::sql`]) where they do not. The schema lives in numbered,
//! forward-only migrations under `migrations/sqlite/` and
//! `migrations/postgres/` (same numbers, same tables and columns), applied
//! at open. Probe templates have no table: the store can only receive templates
//! of enrolled entries, as bytes produced by
//! [`civitas_model::FaceTemplate::into_enrolled_bytes`].

pub mod accountability;
pub mod console;
pub mod incidents;
pub mod plates;
pub mod postgres;
pub mod recordings;
#[cfg(feature = "testing")]
pub mod testing;

pub use accountability::{
    AUDIT_ACTION_MAX, AUDIT_ACTOR_MAX, AUDIT_DETAILS_MAX, AUDIT_JUSTIFICATION_MAX,
    AUDIT_ROW_MAX_BYTES, AUDIT_TARGET_MAX, AuditRecord, AuditVerifyReport, Decision, ReportCounts,
    RetentionPolicy, ReviewOutcome, ReviewPolicy, SweepReport, bounded,
};
pub use console::{BasisView, CandidateView, EntryView, ReviewRecord, TokenActor, TokenView};
pub use incidents::{
    DeliveryStatus, IncidentView, LinkView, NewIncident, OutboxEvent, SopStepView, TimelineEntry,
    UnitSpec, UnitView,
};
pub use plates::{
    CameraEventView, Hotlist, PlateQuery, PlateReadView, PlateRetention, StoredPlateEntry,
};
pub use recordings::{DueRecording, RecordingView};

use civitas_audit::AuditKey;
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::{BBox, Candidate, CandidateId, EntryId, FaceTemplate, LegalBasis};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, Row};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub(crate) fn db_err(what: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Error {
    let what = what.into();
    move |e| {
        let kind = match &e {
            sqlx::Error::RowNotFound => ErrorKind::NotFound,
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => ErrorKind::NotFound,
            sqlx::Error::Database(d) if d.is_check_violation() => ErrorKind::InvalidArgument,
            sqlx::Error::Database(d) if d.is_unique_violation() => ErrorKind::AlreadyExists,
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => ErrorKind::Unavailable,
            // PostgreSQL going away under a transaction: connection exceptions
            // (08), operator intervention such as a shutdown or crash (57),
            // insufficient resources (53). Worth retrying, not a bug.
            sqlx::Error::Database(d)
                if d.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("57") || c.starts_with("53")
                }) =>
            {
                ErrorKind::Unavailable
            }
            // SQLite busy (5) or locked (6) past the busy timeout.
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5" | "6")) => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Internal,
        };
        Error::with_source(kind, what, e)
    }
}

/// A watchlist entry as loaded for matching.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    pub id: EntryId,
    pub name: String,
    pub basis: LegalBasis,
    /// Cameras the basis covers (`*` for all).
    pub scope: Vec<String>,
    pub templates: Vec<FaceTemplate>,
}

impl StoredEntry {
    pub fn covers_camera(&self, camera: &str) -> bool {
        self.scope.iter().any(|s| s == "*" || s == camera)
    }
}

/// A stored candidate, for listing.
#[derive(Debug, Clone)]
pub struct StoredCandidate {
    pub candidate: Candidate,
    pub status: String,
}

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, WAL mode: the embedded default.
    Sqlite,
    /// A PostgreSQL server: deployments at scale.
    Postgres,
}

/// The store, on SQLite or PostgreSQL (the same methods and the same SQL
/// text wherever the dialects agree; see [`Store::sql`]). Writes that must
/// be audited need the audit key ([`Store::with_audit_key`]); without it the
/// store is read-only for them.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) audit_key: Option<Arc<AuditKey>>,
}

/// What a store URL names: `postgres://…` / `postgresql://…`, or a SQLite
/// file as `sqlite://PATH` or a plain path.
fn backend_of(url: &str) -> Backend {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// A pool on `url`. A SQLite file is created if missing and put in WAL
/// mode (which the file keeps); sqlx's SQLite defaults give every connection
/// foreign keys and a 5 s busy timeout.
async fn pool_for(url: &str, max: u32) -> Result<(AnyPool, Backend)> {
    sqlx::any::install_default_drivers();
    let backend = backend_of(url);
    let url = match backend {
        Backend::Postgres => url.to_owned(),
        Backend::Sqlite => {
            let path = Path::new(url.strip_prefix("sqlite://").unwrap_or(url));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::with_source(
                        ErrorKind::Unavailable,
                        format!("creating database directory {}", dir.display()),
                        e,
                    )
                })?;
            }
            let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
                .map_err(db_err(format!("database path {}", path.display())))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let first = opts
                .connect()
                .await
                .map_err(db_err(format!("opening database {}", path.display())))?;
            first
                .close()
                .await
                .map_err(db_err(format!("opening database {}", path.display())))?;
            format!("sqlite://{}", path.display())
        }
    };
    let pool = AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(&url)
        .await
        .map_err(|e| {
            let what = match backend {
                Backend::Postgres => format!(
                    "connecting to PostgreSQL at {} (is it running?)",
                    postgres::mask(&url)
                ),
                Backend::Sqlite => format!("opening database {}", &url["sqlite://".len()..]),
            };
            Error::with_source(ErrorKind::Unavailable, what, e)
        })?;
    Ok((pool, backend))
}

fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &PG_MIGRATIONS,
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database file and applies
    /// pending migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        Store::connect(&format!("sqlite://{}", path.display())).await
    }

    /// Opens the store `url` names (`postgres://…`, or `sqlite://PATH` / a
    /// path) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        let (pool, backend) = pool_for(
            url,
            match backend_of(url) {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            },
        )
        .await?;
        migrator(backend).run(&pool).await.map_err(|e| {
            Error::with_source(
                ErrorKind::DataLoss,
                format!("migrating database {}", postgres::mask(url)),
                e,
            )
        })?;
        Ok(Store {
            pool,
            backend,
            audit_key: None,
        })
    }

    /// The engine this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The SQL text for this store's engine, for the few statements whose
    /// dialects differ (JSON arrays, pattern search, index hints).
    pub(crate) fn sql(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// Test support for the schema-upgrade tests: creates the database at
    /// `url` with only the migrations up to `version` applied, then runs
    /// `seed` (SQL valid at that version) in it.
    #[doc(hidden)]
    pub async fn create_at_version(url: &str, version: i64, seed: &'static str) -> Result<()> {
        let (pool, backend) = pool_for(url, 1).await?;
        migrator(backend)
            .run_to(version, &pool)
            .await
            .map_err(|e| {
                Error::with_source(ErrorKind::DataLoss, format!("migrating to {version}"), e)
            })?;
        sqlx::raw_sql(seed)
            .execute(&pool)
            .await
            .map_err(db_err(format!("seeding at version {version}")))?;
        pool.close().await;
        Ok(())
    }

    /// The schema as the engine describes it, sorted, without sqlx's
    /// bookkeeping; and the number of rows failing SQLite's `PRAGMA
    /// foreign_key_check` (PostgreSQL enforces keys as it goes: 0). SQLite:
    /// every table, index and trigger with its SQL. PostgreSQL: every column
    /// with its type, nullability and default; every index and constraint
    /// with its definition.
    #[doc(hidden)]
    pub async fn schema_dump(&self) -> Result<(Vec<String>, usize)> {
        let rows = sqlx::query(self.sql(
            "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY type, name",
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
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading the schema"))?;
        let fk = match self.backend {
            Backend::Sqlite => sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("checking foreign keys"))?
                .len(),
            Backend::Postgres => 0,
        };
        Ok((rows.iter().map(|r| r.get(0)).collect(), fk))
    }

    /// Every (table, column), sorted: the two engines' are compared by a test.
    pub async fn columns(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(self.sql(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'
              ORDER BY 1, 2",
            "SELECT table_name::text, column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'
              ORDER BY 1, 2",
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading the columns"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The store, able to append to the audit log with `key`.
    pub fn with_audit_key(mut self, key: Arc<AuditKey>) -> Store {
        self.audit_key = Some(key);
        self
    }

    /// Enrols a person: the legal basis (covering `scope`: camera ids, or `*`)
    /// and the entry with its templates, and the audit entry, in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn enroll(
        &self,
        actor: &Actor,
        name: &str,
        basis: &LegalBasis,
        scope: &[String],
        templates: Vec<(String, Vec<u8>)>,
        photo_jpeg: Option<Vec<u8>>,
        now: Timestamp,
    ) -> Result<EntryId> {
        actor.require(Permission::Enroll)?;
        let entered_by = actor.username.as_str();
        if scope.is_empty() {
            return Err(Error::invalid(
                "legal basis: field `scope` is required (camera ids, or * for all)",
            ));
        }
        if templates.is_empty() {
            return Err(Error::invalid(format!(
                "enrolling {name:?}: no face templates to store"
            )));
        }
        let key = self
            .audit_key
            .clone()
            .ok_or_else(|| Error::internal("enrolment needs the audit key"))?;
        let mut tx = self.begin_immediate().await?;
        let basis_id = insert_basis(&mut tx, basis, actor, scope).await?;
        let entry_id: i64 = sqlx::query(
            "INSERT INTO watchlist_entry (name, legal_basis_id, created_at_ms, photo_jpeg) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(basis_id)
        .bind(now.0)
        .bind(photo_jpeg)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err(format!("storing watchlist entry {name:?}")))?
        .get(0);
        let photos = templates.len();
        for (photo, bytes) in templates {
            sqlx::query(
                "INSERT INTO entry_template (entry_id, source_photo, template) VALUES ($1, $2, $3)",
            )
            .bind(entry_id)
            .bind(photo)
            .bind(bytes)
            .execute(&mut *tx)
            .await
            .map_err(db_err("storing enrolled template"))?;
        }
        accountability::append(
            &mut tx,
            &key,
            now,
            &AuditRecord::new(entered_by, "watchlist.enroll", format!("entry:{entry_id}"))
                .why(&basis.purpose)
                .details(serde_json::json!({
                    "basis": basis_id, "kind": basis.kind, "authority": basis.authority, "reference": basis.reference,
                    "expires_at_ms": basis.expires_at.0, "scope": scope, "photos": photos,
                })),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing enrolment"))?;
        Ok(EntryId(entry_id))
    }

    /// Every entry with its legal basis and templates (expired ones included:
    /// the matcher enforces expiry at match time, against its clock).
    pub async fn watchlist(&self) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query(
            "SELECT e.id, e.name, b.id, b.kind, b.authority, b.reference, b.purpose, b.granted_at_ms, b.expires_at_ms, b.scope_json
             FROM watchlist_entry e JOIN legal_basis b ON b.id = e.legal_basis_id WHERE b.status = 'active' AND e.plate IS NULL ORDER BY e.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("loading watchlist"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get(0);
            let trows = sqlx::query(
                "SELECT id, template FROM entry_template WHERE entry_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("loading templates"))?;
            let mut templates = Vec::new();
            for t in trows {
                let tid: i64 = t.get(0);
                let bytes: Vec<u8> = t.get(1);
                templates.push(FaceTemplate::from_enrolled_bytes(&bytes).ok_or_else(|| {
                    Error::new(
                        ErrorKind::DataLoss,
                        format!(
                            "entry_template row {tid}: template is {} bytes, not a list of f32",
                            bytes.len()
                        ),
                    )
                })?);
            }
            out.push(StoredEntry {
                id: EntryId(id),
                name: r.get(1),
                basis: LegalBasis {
                    id: Some(r.get(2)),
                    kind: r.get(3),
                    authority: r.get(4),
                    reference: r.get(5),
                    purpose: r.get(6),
                    granted_at: Timestamp(r.get(7)),
                    expires_at: Timestamp(r.get(8)),
                },
                scope: serde_json::from_str(&r.get::<String, _>(9)).unwrap_or_default(),
                templates,
            });
        }
        Ok(out)
    }

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
            accountability::append(
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
        accountability::append(
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

    /// A number that changes whenever the watchlists or hotlists do
    /// (enrolment, a refused basis, a retention sweep): the sequence number
    /// of the latest audit entry for such a change (-1: none). Workers poll
    /// it and reload their lists when it moves; the audit log's action index
    /// makes it a few index lookups.
    pub async fn watchlist_version(&self) -> Result<i64> {
        sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), -1) FROM audit_log
             WHERE action IN ('watchlist.enroll', 'hotlist.create', 'hotlist.enroll', 'basis.refuse', 'retention.sweep')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("reading the watchlist version"))
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
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing candidates"))?;
        rows.into_iter()
            .map(|r| {
                let bbox: String = r.get(7);
                let bbox: BBox = parse_bbox(&bbox).ok_or_else(|| {
                    Error::new(
                        ErrorKind::DataLoss,
                        format!("candidate row {}: bad bbox_json", r.get::<i64, _>(0)),
                    )
                })?;
                Ok(StoredCandidate {
                    candidate: Candidate {
                        id: Some(CandidateId(r.get(0))),
                        camera: civitas_model::CameraId(r.get(1)),
                        track: civitas_model::TrackId(r.get(2)),
                        entry: EntryId(r.get(3)),
                        entry_name: r.get(4),
                        distance: r.get::<f64, _>(5) as f32,
                        detector_score: r.get::<f64, _>(6) as f32,
                        bbox,
                        frame_time: Timestamp(r.get(8)),
                        offset_ms: r.get(9),
                        crop_jpeg: Vec::new(),
                    },
                    status: r.get(10),
                })
            })
            .collect()
    }

    /// The live schema: every table's and index's `CREATE` statement, and every
    /// column name, as SQLite reports them (for the lines-we-never-cross tests).
    /// On PostgreSQL the same shape: every index's and constraint's
    /// definition as `CREATE …` text, and every `table.column`.
    pub async fn schema(&self) -> Result<Vec<String>> {
        if self.backend == Backend::Postgres {
            let rows = sqlx::query(
                "SELECT indexdef FROM pg_indexes
                  WHERE schemaname = current_schema() AND tablename NOT LIKE '\\_sqlx%'
                 UNION ALL
                 SELECT 'CREATE TABLE ' || conrelid::regclass::text || ' CONSTRAINT ' || conname || ' ' || pg_get_constraintdef(oid)
                   FROM pg_constraint
                  WHERE connamespace = current_schema()::regnamespace AND conrelid::regclass::text NOT LIKE '\\_sqlx%'
                 UNION ALL
                 SELECT table_name || '.' || column_name FROM information_schema.columns
                  WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'
                 ORDER BY 1",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("reading the schema"))?;
            return Ok(rows.iter().map(|r| r.get(0)).collect());
        }
        let rows =
            sqlx::query("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("reading the schema"))?;
        let mut out = Vec::new();
        for r in rows {
            let name: String = r.get(0);
            out.push(r.get::<String, _>(1));
            let cols = sqlx::query("SELECT name FROM pragma_table_info($1)")
                .bind(&name)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("reading table columns"))?;
            out.extend(
                cols.into_iter()
                    .map(|c| format!("{name}.{}", c.get::<String, _>(0))),
            );
        }
        Ok(out)
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

    /// Closes the pool (on SQLite, flushing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
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
        "SELECT COUNT(*) FROM candidate WHERE entry_id = $1 AND camera_id = $2 AND status = 'rejected' AND decided_at_ms >= $3",
    )
    .bind(entry.0)
    .bind(camera)
    .bind(since_ms)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err("checking rejections"))?
    .get(0);
    Ok(n > 0)
}

/// Stores a legal basis covering `scope`; returns its id.
/// Stores a legal basis entered by `actor` over `scope`. The one place a
/// basis is made, so the scope rule cannot be forgotten: a user may grant
/// only cameras in their own scope, and `*` only with a `*` scope (a
/// supervisor of one gate once enrolled a person on every camera).
pub(crate) async fn insert_basis(
    conn: &mut sqlx::AnyConnection,
    basis: &LegalBasis,
    actor: &civitas_auth::Actor,
    scope: &[String],
) -> Result<i64> {
    if !actor.covers_scope(scope) {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "user {:?} may grant a legal basis only over cameras in their own scope ({}); {} is outside it",
                actor.username,
                actor.scope.join(", "),
                scope
                    .iter()
                    .filter(|c| c.as_str() == "*" || !actor.covers_camera(c))
                    .map(|c| format!("{c:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let entered_by = actor.username.as_str();
    Ok(sqlx::query(
        "INSERT INTO legal_basis (kind, authority, reference, purpose, granted_at_ms, expires_at_ms, entered_by, scope_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(&basis.kind)
    .bind(&basis.authority)
    .bind(&basis.reference)
    .bind(&basis.purpose)
    .bind(basis.granted_at.0)
    .bind(basis.expires_at.0)
    .bind(entered_by)
    .bind(serde_json::to_string(scope).unwrap_or_default())
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err("storing legal basis"))?
    .get(0))
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
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err(format!("storing candidate from camera {}", c.camera)))?
    .get(0))
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
        .execute(&mut *conn)
        .await
        .map_err(db_err(format!("recording result {key} as applied")))?;
    Ok(())
}

pub(crate) fn parse_bbox(s: &str) -> Option<BBox> {
    let v: serde_json::Value = serde_json::from_str(s).ok()?;
    let f = |k: &str| v.get(k)?.as_f64().map(|x| x as f32);
    Some(BBox {
        x0: f("x0")?,
        y0: f("y0")?,
        x1: f("x1")?,
        y1: f("y1")?,
    })
}
