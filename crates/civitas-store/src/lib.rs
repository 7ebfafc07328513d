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
//!
//! One module per concern, each adding its methods to [`Store`]; the ones
//! below use the ones above, never the reverse:
//! - [`audit`]: the audit log's single appender, signed heads, proofs, verification;
//! - [`users`]: users and login; [`review`]: the two-person review rule;
//! - [`watchlist`], [`candidates`]: enrolment under a legal basis, matches stored once;
//! - [`plates`] (hotlists, plate reads), [`camera_events`], [`recordings`];
//! - [`outbox`] (events for webhooks), [`incidents`], [`units`];
//! - [`legal`]: legal-basis refusal and legal holds;
//! - [`retention`] (above everything it sweeps) and [`report`] (counts);
//! - [`views`]: what the command centre reads (candidates, entries, tokens).

pub mod audit;
pub mod camera_events;
pub mod candidates;
pub mod incidents;
pub mod legal;
pub mod outbox;
pub mod plates;
pub mod postgres;
pub mod recordings;
pub mod report;
pub mod retention;
pub mod review;
#[cfg(feature = "testing")]
pub mod testing;
pub mod units;
pub mod users;
pub mod views;
pub mod watchlist;

pub use audit::{
    AUDIT_ACTION_MAX, AUDIT_ACTOR_MAX, AUDIT_DETAILS_MAX, AUDIT_JUSTIFICATION_MAX,
    AUDIT_ROW_MAX_BYTES, AUDIT_TARGET_MAX, AuditRecord, AuditVerifyReport, bounded,
};
pub use camera_events::CameraEventView;
pub use candidates::StoredCandidate;
pub(crate) use candidates::{applied, mark_applied, parse_bbox, rejected_recently};
pub use incidents::{IncidentView, LinkView, NewIncident, SopStepView, TimelineEntry};
pub use outbox::{DeliveryStatus, OutboxEvent};
pub use plates::{Hotlist, PlateQuery, PlateReadView, PlateRetention, StoredPlateEntry};
pub use recordings::{DueRecording, RecordingView};
pub use report::ReportCounts;
pub use retention::{RetentionPolicy, SweepReport};
pub use review::{ReviewOutcome, ReviewPolicy};
pub use units::{UnitSpec, UnitView};
pub use users::UserRecord;
pub use views::{
    BasisView, CandidateView, EntryView, ReviewRecord, TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS,
    TokenActor, TokenView,
};
pub(crate) use watchlist::insert_basis;
pub use watchlist::{Enrolment, StoredEntry};

use civitas_audit::AuditKey;
use civitas_base::{Error, ErrorKind, Result};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, Row};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Runs a query and names the step in its error (through [`db_err`]): one
/// call where `.fetch_all(..).await.map_err(db_err(..))` took three lines.
/// `all`, `one`, `optional` and `run` stand for sqlx's `fetch_all`,
/// `fetch_one`, `fetch_optional` and `execute`.
macro_rules! run_methods {
    ($($name:ident => $sqlx:ident -> $out:ty;)*) => {
        pub(crate) trait Run {
            $(fn $name<'e, 'c: 'e, E: 'e + sqlx::Executor<'c, Database = sqlx::Any>>(self, on: E, what: impl Into<String>)
                -> impl std::future::Future<Output = Result<$out>> + Send + 'e where Self: 'e;)*
        }

        impl Run for sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
            $(fn $name<'e, 'c: 'e, E>(
                self,
                on: E,
                what: impl Into<String>,
            ) -> impl std::future::Future<Output = Result<$out>> + Send + 'e
            where
                Self: 'e,
                E: 'e + sqlx::Executor<'c, Database = sqlx::Any>,
            {
                let err = db_err(what.into());
                async move { self.$sqlx(on).await.map_err(err) }
            })*
        }
    };
}

run_methods! {
    all => fetch_all -> Vec<sqlx::any::AnyRow>;
    one => fetch_one -> sqlx::any::AnyRow;
    optional => fetch_optional -> Option<sqlx::any::AnyRow>;
    run => execute -> sqlx::any::AnyQueryResult;
}

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
                // The cause in words (a refused certificate, a refused
                // password); sqlx's messages do not repeat the URL.
                Backend::Postgres => {
                    let refused = matches!(&e, sqlx::Error::Io(io)
                        if io.kind() == std::io::ErrorKind::ConnectionRefused);
                    let hint = if refused { " (is it running?)" } else { "" };
                    format!(
                        "connecting to PostgreSQL at {}: {e}{hint}",
                        postgres::mask(&url)
                    )
                }
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
            "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') AS line FROM sqlite_master
             WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY type, name",
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
                    || is_nullable || ' ' || COALESCE(column_default, '') || ' ' || COALESCE(generation_expression, '') AS line
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
        .all(&self.pool, "reading the schema").await?;
        let fk = match self.backend {
            Backend::Sqlite => sqlx::query("PRAGMA foreign_key_check")
                .all(&self.pool, "checking foreign keys")
                .await?
                .len(),
            Backend::Postgres => 0,
        };
        Ok((rows.iter().map(|r| r.get("line")).collect(), fk))
    }

    /// Every (table, column), sorted: the two engines' are compared by a test.
    pub async fn columns(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(self.sql(
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p
              WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'
              ORDER BY 1, 2",
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%'
              ORDER BY 1, 2",
        ))
        .all(&self.pool, "reading the columns").await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("table_name"), r.get("column_name")))
            .collect())
    }

    /// The store, able to append to the audit log with `key`.
    pub fn with_audit_key(mut self, key: Arc<AuditKey>) -> Store {
        self.audit_key = Some(key);
        self
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
            .all(&self.pool, "reading the schema").await?;
            return Ok(rows.iter().map(|r| r.get("indexdef")).collect());
        }
        let rows =
            sqlx::query("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                .all(&self.pool, "reading the schema")
                .await?;
        let mut out = Vec::new();
        for r in rows {
            let name: String = r.get("name");
            out.push(r.get::<String, _>("sql"));
            let cols = sqlx::query("SELECT name FROM pragma_table_info($1)")
                .bind(&name)
                .all(&self.pool, "reading table columns")
                .await?;
            out.extend(
                cols.into_iter()
                    .map(|c| format!("{name}.{}", c.get::<String, _>("name"))),
            );
        }
        Ok(out)
    }

    /// Test and benchmark support: the number of candidates and of audit entries.
    #[doc(hidden)]
    pub async fn counts(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM candidate) AS candidates, (SELECT COUNT(*) FROM audit_log) AS audit_entries",
        )
        .one(&self.pool, "counting").await?;
        Ok((row.get("candidates"), row.get("audit_entries")))
    }

    /// Closes the pool (on SQLite, flushing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    /// Columns are read by name: a read by position (`row.get(3)`) shifts
    /// silently when a column is added to its query.
    #[test]
    fn no_column_is_read_by_position() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            for (i, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                let mut rest = line;
                while let Some(at) = rest.find("get") {
                    let before = &rest[..at];
                    let after = &rest[at + 3..];
                    rest = after;
                    if !(before.ends_with('.') || before.ends_with(".try_")) {
                        continue;
                    }
                    let after = after.strip_prefix("::<").map_or(after, |t| {
                        // Skip the turbofish (nested generics included).
                        let mut depth = 1;
                        let end = t
                            .char_indices()
                            .find(|&(_, c)| {
                                depth += i32::from(c == '<') - i32::from(c == '>');
                                depth == 0
                            })
                            .map_or(t.len(), |(j, _)| j + 1);
                        &t[end..]
                    });
                    if let Some(arg) = after.strip_prefix('(')
                        && arg.trim_start().starts_with(|c: char| c.is_ascii_digit())
                    {
                        found.push(format!("{}:{}: {}", e.path().display(), i + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "columns read by position:\n{}",
            found.join("\n")
        );
    }
}
