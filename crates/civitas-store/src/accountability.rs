//! Accountability in the store: the audit log's single appender and verifier,
//! users, two-person review of candidates, legal-basis refusal, legal holds,
//! retention sweeps, and the counts behind the transparency report.
//!
//! Every state change here writes its audit entry **in the same transaction**
//! (`BEGIN IMMEDIATE`, which takes SQLite's write lock): the action and its
//! record commit together or not at all, and appends from several processes
//! are serialised by the database, so the log stays one Merkle tree.

use crate::{Store, db_err};
use civitas_audit::{AuditEntry, AuditKey, Frontier, Hash, SignedTreeHead, verify_sth};
use civitas_auth::{Actor, Permission, Role};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

/// What to record.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub justification: String,
    pub details: serde_json::Value,
}

impl AuditRecord {
    pub fn new(actor: &str, action: &str, target: impl Into<String>) -> Self {
        AuditRecord {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.into(),
            justification: String::new(),
            details: serde_json::Value::Null,
        }
    }

    /// A login attempt by `username` with its outcome from
    /// [`Store::check_credentials`] (`login` when `ok`, else `login.failed`).
    pub fn login(username: &str, outcome: &str) -> Self {
        AuditRecord::new(
            username,
            if outcome == "ok" {
                "login"
            } else {
                "login.failed"
            },
            format!("user:{username}"),
        )
        .details(serde_json::json!({ "outcome": outcome }))
    }

    pub fn why(mut self, j: &str) -> Self {
        self.justification = j.to_owned();
        self
    }

    pub fn details(mut self, d: serde_json::Value) -> Self {
        self.details = d;
        self
    }
}

/// What an append reads before it writes, in one round trip (one row,
/// NULLs where absent): the stored frontier, the highest seq, and the last
/// signed head with the key it was signed by.
const APPEND_STATE_SQL: &str = "SELECT f.tree_size AS f_size, f.frontier AS f_bytes,
        (SELECT MAX(seq) FROM audit_log) AS max_seq,
        h.tree_size AS h_size, h.at_ms AS h_at, h.root AS h_root, h.signature AS h_sig, h.public_key AS h_key
    FROM (SELECT 1 AS one) o
    LEFT JOIN audit_frontier f ON f.id = 1
    LEFT JOIN audit_tree_head h ON h.tree_size = (SELECT MAX(tree_size) FROM audit_tree_head)";

/// Appends one entry and a new signed head, inside the caller's transaction.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    key: &AuditKey,
    now: Timestamp,
    r: &AuditRecord,
) -> Result<u64> {
    append_many(conn, key, now, std::slice::from_ref(r)).await
}

/// The frontier stored at `size` (`None`: an empty log), refusing a corrupt one.
pub(crate) fn frontier_from(stored: Option<(i64, Vec<u8>)>) -> Result<Frontier> {
    match stored {
        Some((size, bytes)) => Frontier::from_bytes(&bytes)
            .filter(|f| f.size() == size as u64)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::DataLoss,
                    format!("audit frontier at size {size} is corrupt; run `civitas audit verify`"),
                )
            }),
        None => Ok(Frontier::default()),
    }
}

/// The first head whose signature (or recorded key) does not verify with
/// `public`. Ed25519 verification is the cost of checking a long log (one
/// head per append), so it is spread over the machine's cores.
fn first_unsigned<'a>(
    public: &[u8; 32],
    heads: &'a [(SignedTreeHead, Vec<u8>)],
) -> Option<&'a SignedTreeHead> {
    let ok = |(h, k): &(SignedTreeHead, Vec<u8>)| {
        k.as_slice() == public.as_slice() && verify_sth(public, h)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if heads.len() < 4096 || threads < 2 {
        return heads.iter().find(|h| !ok(h)).map(|(h, _)| h);
    }
    let chunk = heads.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = heads
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().find(|h| !ok(h)).map(|(h, _)| h)))
            .collect();
        handles.into_iter().find_map(|h| h.join().ok().flatten())
    })
}

/// The most bytes each audit field may hold. The API refuses longer input
/// with a 400 naming the field; whatever still arrives longer (a caller in
/// this process, a future route that forgot) is cut here, marked as cut, so
/// no request can write more than [`AUDIT_ROW_MAX_BYTES`] into the permanent
/// log (an anonymous login with a 2 MB user name once stored 4 MB).
pub const AUDIT_ACTOR_MAX: usize = 128;
pub const AUDIT_ACTION_MAX: usize = 64;
pub const AUDIT_TARGET_MAX: usize = 256;
pub const AUDIT_JUSTIFICATION_MAX: usize = 1_000;
pub const AUDIT_DETAILS_MAX: usize = 4_096;
/// The most bytes one audit row's text fields hold together.
pub const AUDIT_ROW_MAX_BYTES: usize = AUDIT_ACTOR_MAX
    + AUDIT_ACTION_MAX
    + AUDIT_TARGET_MAX
    + AUDIT_JUSTIFICATION_MAX
    + AUDIT_DETAILS_MAX;

/// `s` cut to at most `max` bytes on a character boundary, ending in a
/// marker saying how much was cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let marker = format!("…[cut {} bytes]", s.len());
    let mut end = max.saturating_sub(marker.len());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &s[..end])
}

/// `v` with every text value cut to 256 bytes.
fn bounded_json(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(t) => Value::String(bounded(t, 256)),
        Value::Array(a) => Value::Array(a.iter().map(bounded_json).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (bounded(k, 64), bounded_json(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The entry recording `r` as leaf `seq` (the same on every backend), each
/// field within its limit.
pub(crate) fn entry_for(seq: u64, now: Timestamp, r: &AuditRecord) -> AuditEntry {
    AuditEntry {
        seq,
        at_ms: now.0,
        actor: bounded(&r.actor, AUDIT_ACTOR_MAX),
        action: bounded(&r.action, AUDIT_ACTION_MAX),
        target: bounded(&r.target, AUDIT_TARGET_MAX),
        justification: bounded(&r.justification, AUDIT_JUSTIFICATION_MAX),
        details: if r.details.is_null() {
            String::new()
        } else {
            // Each text value cut first, so one long value cannot push the
            // others (a basis's scope, say) out of the record.
            bounded(&bounded_json(&r.details).to_string(), AUDIT_DETAILS_MAX)
        },
    }
}

/// Refuses to extend a log whose stored frontier is not the one the last
/// signed head vouches for: same size, same root, a valid signature by this
/// key. Someone with write access to the database but not the key can
/// rewrite rows, leaf hashes, roots and the frontier consistently; without
/// this check the next append would sign the forgery.
pub(crate) fn check_frontier_signed(
    frontier: &Frontier,
    last_head: Option<(SignedTreeHead, Vec<u8>)>,
    key: &AuditKey,
) -> Result<()> {
    let tamper = |m: String| {
        tracing::error!(alarm = "audit_tampered", "{m}");
        Error::new(
            ErrorKind::DataLoss,
            format!(
                "the audit log was altered outside Civitas ({m}); nothing was appended and nothing audited can be done until `civitas audit verify` is run and the log restored"
            ),
        )
    };
    let Some((sth, stored_key)) = last_head else {
        return if frontier.size() == 0 {
            Ok(())
        } else {
            Err(tamper(format!(
                "its frontier covers {} entries but no signed head exists",
                frontier.size()
            )))
        };
    };
    if stored_key.as_slice() != key.public().as_slice() || !key.verifies(&sth) {
        return Err(tamper(format!(
            "the signed head at size {} does not verify with the audit key",
            sth.tree_size
        )));
    }
    if sth.tree_size != frontier.size() || sth.root != frontier.root() {
        return Err(tamper(format!(
            "the frontier (size {}) is not the tree the last signed head (size {}) vouches for",
            frontier.size(),
            sth.tree_size
        )));
    }
    Ok(())
}

/// Appends entries and one signed head covering them, inside the caller's
/// transaction. Returns the seq of the last entry.
pub(crate) async fn append_many(
    conn: &mut AnyConnection,
    key: &AuditKey,
    now: Timestamp,
    records: &[AuditRecord],
) -> Result<u64> {
    let state = sqlx::query(APPEND_STATE_SQL)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("reading the audit frontier and last signed head"))?;
    let col = |e: sqlx::Error| Error::new(ErrorKind::DataLoss, format!("audit state: {e}"));
    let stored = match (
        state.try_get::<Option<i64>, _>("f_size").map_err(col)?,
        state
            .try_get::<Option<Vec<u8>>, _>("f_bytes")
            .map_err(col)?,
    ) {
        (Some(size), Some(bytes)) => Some((size, bytes)),
        _ => None,
    };
    let mut frontier = frontier_from(stored)?;
    let last_head = match state.try_get::<Option<i64>, _>("h_size").map_err(col)? {
        Some(size) => Some((
            head_from_parts(
                size,
                state.try_get("h_at").map_err(col)?,
                state.try_get("h_root").map_err(col)?,
                state.try_get("h_sig").map_err(col)?,
            )?,
            state.try_get::<Vec<u8>, _>("h_key").map_err(col)?,
        )),
        None => None,
    };
    check_frontier_signed(&frontier, last_head, key)?;
    let max_seq: Option<i64> = state.try_get("max_seq").map_err(col)?;
    if max_seq.map(|m| m + 1).unwrap_or(0) as u64 != frontier.size() {
        return Err(Error::new(
            ErrorKind::DataLoss,
            format!(
                "audit log holds entries up to seq {max_seq:?} but its frontier covers {}; run `civitas audit verify`",
                frontier.size()
            ),
        ));
    }
    for r in records {
        let entry = entry_for(frontier.size(), now, r);
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
    }
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
    // A head this key signed is genuine; if its transaction rolls back, the
    // stored head differs from it and is verified in full next time.
    key.signed(&sth);
    sqlx::query("INSERT INTO audit_frontier (id, tree_size, frontier) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, frontier = excluded.frontier")
        .bind(frontier.size() as i64)
        .bind(frontier.to_bytes())
        .execute(&mut *conn)
        .await
        .map_err(db_err("storing the audit frontier"))?;
    Ok(frontier.size() - 1)
}

/// The outcome of `civitas audit verify`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditVerifyReport {
    pub entries: u64,
    /// Heads whose signatures and roots were checked against the rebuilt tree.
    pub signed_heads: u64,
    /// Heads held by a witness, checked the same way.
    pub witnessed_heads: u64,
    pub latest_head: Option<SignedTreeHead>,
}

/// Review thresholds and windows.
#[derive(Debug, Clone, Copy)]
pub struct ReviewPolicy {
    /// Different people who must confirm a face candidate.
    pub face_confirmations: usize,
    /// ... and a plate candidate.
    pub plate_confirmations: usize,
    /// A candidate unreviewed this long expires (ms).
    pub candidate_expiry_ms: i64,
    /// After a rejection, the same entry is not re-alerted on the same camera for this long (ms).
    pub suppress_after_reject_ms: i64,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            face_confirmations: 2,
            plate_confirmations: 1,
            candidate_expiry_ms: 24 * 3_600_000,
            suppress_after_reject_ms: 3_600_000,
        }
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirm,
    Reject,
}

/// Where a candidate stands after a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewOutcome {
    pub candidate: i64,
    pub status: String,
    pub confirmations: usize,
    pub required: usize,
}

/// Retention periods per data class, in milliseconds (`None` keeps forever).
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub unreviewed_candidates_ms: Option<i64>,
    pub rejected_candidates_ms: Option<i64>,
    pub expired_candidates_ms: Option<i64>,
    pub confirmed_candidates_ms: Option<i64>,
    /// Entries whose legal basis expired this long ago are deleted.
    pub expired_entries_ms: Option<i64>,
    /// Incidents closed this long ago are deleted (caller, notes, timeline).
    pub closed_incidents_ms: Option<i64>,
    /// Camera events (health changes) older than this are deleted.
    pub camera_events_ms: Option<i64>,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        const DAY: i64 = 86_400_000;
        RetentionPolicy {
            unreviewed_candidates_ms: Some(7 * DAY),
            rejected_candidates_ms: Some(30 * DAY),
            expired_candidates_ms: Some(7 * DAY),
            confirmed_candidates_ms: Some(365 * DAY),
            expired_entries_ms: Some(30 * DAY),
            closed_incidents_ms: Some(365 * DAY),
            camera_events_ms: Some(90 * DAY),
        }
    }
}

/// What a sweep deleted, by class.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub candidates_expired: u64,
    pub unreviewed_deleted: u64,
    pub rejected_deleted: u64,
    pub expired_deleted: u64,
    pub confirmed_deleted: u64,
    pub entries_deleted: u64,
    /// Plate reads past their deadline (24 h without a hit by default).
    pub plate_reads_deleted: u64,
    /// Closed incidents past their period, with their timelines.
    pub incidents_deleted: u64,
    /// Outbox events every webhook acknowledged, older than 7 days.
    pub outbox_events_deleted: u64,
    /// Camera health events past their period.
    pub camera_events_deleted: u64,
    pub held_and_kept: u64,
}

/// Counts for the transparency report: nothing that identifies a person.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportCounts {
    pub active_entries_by_basis_kind: std::collections::BTreeMap<String, u64>,
    pub actions: std::collections::BTreeMap<String, u64>,
    pub candidates_raised: u64,
    pub confirmed: u64,
    pub rejected: u64,
    pub expired_unreviewed: u64,
    pub rejection_reasons: std::collections::BTreeMap<String, u64>,
    pub retention_deleted: u64,
    pub bases_refused: u64,
    pub logins_failed: u64,
    /// Incidents opened, by how they came in (`call`, `inbound`, `candidate`, `camera`).
    pub incidents_opened_by_source: std::collections::BTreeMap<String, u64>,
    /// Incidents closed, by reason.
    pub incidents_closed_by_reason: std::collections::BTreeMap<String, u64>,
    /// Units sent to incidents.
    pub units_dispatched: u64,
    /// Cameras viewed through an incident.
    pub incident_camera_views: u64,
    /// Evidence bundles exported.
    pub evidence_exports: u64,
    /// Recordings played.
    pub recordings_played: u64,
}

fn forbid(user: &str, what: &str) -> Error {
    Error::new(
        ErrorKind::PermissionDenied,
        format!("user {:?}: {what}", bounded(user, 64)),
    )
}

impl Store {
    pub(crate) fn key(&self) -> Result<&AuditKey> {
        self.audit_key.as_deref().ok_or_else(|| {
            Error::internal("the store was opened without the audit key; nothing can be written")
        })
    }

    /// A write transaction. Writers are serialised, so the audit log has
    /// one order: SQLite's `BEGIN IMMEDIATE` takes the database's write lock;
    /// on PostgreSQL the transaction's first statement locks
    /// `audit_frontier` in EXCLUSIVE mode (other writers wait, readers do
    /// not).
    pub(crate) async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        match self.backend {
            crate::Backend::Sqlite => self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(db_err("starting a transaction")),
            crate::Backend::Postgres => {
                let mut tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(db_err("starting a transaction"))?;
                sqlx::query("LOCK TABLE audit_frontier IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("locking the audit log"))?;
                Ok(tx)
            }
        }
    }

    /// Appends one audit entry in its own transaction.
    pub async fn audit(&self, now: Timestamp, r: AuditRecord) -> Result<u64> {
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        let seq = append(&mut tx, key, now, &r).await?;
        tx.commit()
            .await
            .map_err(db_err("committing the audit entry"))?;
        Ok(seq)
    }

    /// Appends many entries in one transaction (one signed head per entry, as
    /// always). For bursts, imports and benchmarks.
    pub async fn audit_batch(&self, now: Timestamp, records: &[AuditRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        append_many(&mut tx, key, now, records).await?;
        tx.commit()
            .await
            .map_err(db_err("committing audit entries"))
    }

    /// Benchmark only: appends `records` each with its own signed head (as
    /// the service writes them, one head per append) but in one
    /// transaction, so `civitas bench audit --fill each` can build a log of a
    /// million heads in minutes. Nothing in Civitas calls it.
    #[doc(hidden)]
    pub async fn bench_audit_each(&self, now: Timestamp, records: &[AuditRecord]) -> Result<()> {
        let key = self.key()?;
        let mut tx = self.begin_immediate().await?;
        for r in records {
            append(&mut tx, key, now, r).await?;
        }
        tx.commit()
            .await
            .map_err(db_err("committing audit entries"))
    }

    /// The latest signed tree head, if any entry exists.
    pub async fn audit_head(&self) -> Result<Option<SignedTreeHead>> {
        let row = sqlx::query("SELECT tree_size, at_ms, root, signature FROM audit_tree_head ORDER BY tree_size DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading the audit tree head"))?;
        row.map(|r| head_from_row(&r)).transpose()
    }

    /// Entries, oldest first, optionally from `from_seq` and filtered by action prefix.
    pub async fn audit_entries(
        &self,
        from_seq: u64,
        limit: i64,
        action_prefix: &str,
    ) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, target, justification, details FROM audit_log
             WHERE seq >= $1 AND action LIKE $2 ORDER BY seq LIMIT $3",
        )
        .bind(from_seq as i64)
        .bind(format!("{}%", action_prefix.replace('%', "")))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading the audit log"))?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// The newest entry whose action starts with `action_prefix`.
    pub async fn last_audit(&self, action_prefix: &str) -> Result<Option<AuditEntry>> {
        let row = sqlx::query(
            "SELECT seq, at_ms, actor, action, target, justification, details FROM audit_log
             WHERE action LIKE $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(format!("{}%", action_prefix.replace('%', "")))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading the audit log"))?;
        Ok(row.as_ref().map(entry_from_row))
    }

    /// Consistency proof from the tree at `size` to the latest signed head,
    /// with the root the log had at `size` (rebuilt from the rows).
    pub async fn audit_consistency(&self, size: u64) -> Result<(Hash, Vec<Hash>, SignedTreeHead)> {
        let head = self
            .audit_head()
            .await?
            .ok_or_else(|| Error::not_found("the audit log is empty"))?;
        if size == 0 || size > head.tree_size {
            return Err(Error::invalid(format!(
                "tree size {size} is outside 1..={}",
                head.tree_size
            )));
        }
        let leaves: Vec<Hash> = self
            .recomputed_leaves()
            .await?
            .into_iter()
            .take(head.tree_size as usize)
            .map(|l| l.1)
            .collect();
        if leaves.len() < head.tree_size as usize {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "the latest signed head covers {} entries but the log holds {}: entries were deleted",
                    head.tree_size,
                    leaves.len()
                ),
            ));
        }
        Ok((
            civitas_audit::root(&leaves[..size as usize]),
            civitas_audit::consistency_proof(size as usize, &leaves),
            head,
        ))
    }

    /// All leaf hashes as recomputed from the rows (for proofs).
    async fn recomputed_leaves(&self) -> Result<Vec<(AuditEntry, Hash, Vec<u8>)>> {
        let mut conn = self.pool.acquire().await.map_err(db_err("connecting"))?;
        recomputed_leaves(&mut conn).await
    }

    /// A read-only transaction over one snapshot of the database (SQLite's
    /// deferred transaction in WAL mode; PostgreSQL's repeatable read), so
    /// reads made in it agree with each other while appends go on.
    async fn snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.pool
            .begin_with(self.sql("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            .await
            .map_err(db_err("starting a read transaction"))
    }
}

/// Every audit row with its recomputed leaf hash and its stored one, in seq order.
async fn recomputed_leaves(conn: &mut AnyConnection) -> Result<Vec<(AuditEntry, Hash, Vec<u8>)>> {
    let rows = sqlx::query("SELECT seq, at_ms, actor, action, target, justification, details, leaf_hash FROM audit_log ORDER BY seq")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("reading the audit log"))?;
    Ok(rows
        .iter()
        .map(|r| {
            let e = entry_from_row(r);
            let h = e.leaf_hash();
            (e, h, r.get::<Vec<u8>, _>(7))
        })
        .collect())
}

impl Store {
    /// Inclusion proof for entry `seq` against the latest signed head.
    /// Inclusion proofs for several entries against the latest head (one pass
    /// over the log), with the entries. Entries past the head are left out.
    #[allow(clippy::type_complexity)]
    pub async fn audit_prove_many(
        &self,
        seqs: &[u64],
    ) -> Result<(Vec<(AuditEntry, Vec<Hash>)>, SignedTreeHead)> {
        let head = self
            .audit_head()
            .await?
            .ok_or_else(|| Error::not_found("the audit log is empty"))?;
        let leaves = self.recomputed_leaves().await?;
        let hashes: Vec<Hash> = leaves
            .iter()
            .take(head.tree_size as usize)
            .map(|l| l.1)
            .collect();
        let out = seqs
            .iter()
            .filter(|&&s| s < head.tree_size)
            .filter_map(|&s| {
                let (e, _, _) = leaves.get(s as usize)?.clone();
                Some((e, civitas_audit::inclusion_proof(s as usize, &hashes)))
            })
            .collect();
        Ok((out, head))
    }

    /// The sequence numbers of the entries about any of `targets` (`candidate:3`, `recording:9`...).
    pub async fn audit_seqs_for(&self, targets: &[String]) -> Result<Vec<u64>> {
        let list = serde_json::to_string(targets).unwrap_or_else(|_| "[]".into());
        Ok(sqlx::query_scalar::<_, i64>(self.sql(
            "SELECT seq FROM audit_log WHERE target IN (SELECT value FROM json_each($1)) ORDER BY seq",
            "SELECT seq FROM audit_log WHERE target IN (SELECT json_array_elements_text($1::json)) ORDER BY seq",
        ))
        .bind(list)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("finding audit entries"))?
        .into_iter()
        .map(|s| s as u64)
        .collect())
    }

    pub async fn audit_prove(&self, seq: u64) -> Result<(AuditEntry, Vec<Hash>, SignedTreeHead)> {
        let head = self
            .audit_head()
            .await?
            .ok_or_else(|| Error::not_found("the audit log is empty"))?;
        let leaves = self.recomputed_leaves().await?;
        let (entry, _, _) = leaves.get(seq as usize).cloned().ok_or_else(|| {
            Error::not_found(format!(
                "audit entry {seq} does not exist (the log has {} entries)",
                leaves.len()
            ))
        })?;
        let hashes: Vec<Hash> = leaves
            .iter()
            .take(head.tree_size as usize)
            .map(|l| l.1)
            .collect();
        Ok((
            entry,
            civitas_audit::inclusion_proof(seq as usize, &hashes),
            head,
        ))
    }

    /// Checks the whole log, directly in the database: every row's content
    /// against its leaf hash, the sequence for gaps and reordering, **every**
    /// signed head's signature (over its own size and root, with the key
    /// given), and every head's root against the tree rebuilt from the rows.
    /// The error names the first row or head that fails.
    ///
    /// Checking only the latest signature is not enough: someone with write
    /// access to the database can recompute every root, and the latest head
    /// is the only one the next append would sign.
    pub async fn audit_verify(&self, public: &[u8; 32]) -> Result<AuditVerifyReport> {
        self.audit_verify_witnessed(public, &[]).await
    }

    /// [`Store::audit_verify`], and also that the rows still hash to the root
    /// of every head a witness kept (`witnessed`, each verified with
    /// `public`): a log cut back to an older genuine head, or emptied, is
    /// caught by a witness that saw it longer.
    pub async fn audit_verify_witnessed(
        &self,
        public: &[u8; 32],
        witnessed: &[SignedTreeHead],
    ) -> Result<AuditVerifyReport> {
        let tamper = |m: String| Error::new(ErrorKind::DataLoss, m);
        // Rows and heads from one snapshot: an append committed between two
        // separate reads would look like a deleted or an inserted entry.
        let mut tx = self.snapshot().await?;
        let leaves = recomputed_leaves(&mut tx).await?;
        let rows = sqlx::query("SELECT tree_size, at_ms, root, signature, public_key FROM audit_tree_head ORDER BY tree_size")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("reading the audit tree heads"))?;
        tx.commit()
            .await
            .map_err(db_err("ending the read transaction"))?;
        for (i, (e, h, stored)) in leaves.iter().enumerate() {
            if e.seq != i as u64 {
                return Err(tamper(format!(
                    "audit row seq {} found where seq {i} was expected: an entry was deleted, inserted or renumbered",
                    e.seq
                )));
            }
            if stored.as_slice() != h.as_slice() {
                return Err(tamper(format!(
                    "audit row seq {i} ({} by {}): its content does not match its leaf hash; the row was modified",
                    e.action, e.actor
                )));
            }
        }
        let mut heads = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: Vec<u8> = row.try_get("public_key").unwrap_or_default();
            heads.push((head_from_row(row)?, key));
        }
        if let Some(bad) = first_unsigned(public, &heads) {
            return Err(tamper(format!(
                "signed tree head at size {}: the signature does not verify with the audit public key over its size and root; the head was forged or its root rewritten",
                bad.tree_size
            )));
        }
        // Witnessed heads join the stored ones in the root check below.
        if let Some(w) = witnessed.iter().find(|w| !verify_sth(public, w)) {
            return Err(tamper(format!(
                "witnessed head at size {}: its signature does not verify with the audit public key",
                w.tree_size
            )));
        }
        let mut checks: Vec<(&SignedTreeHead, bool)> = heads
            .iter()
            .map(|(h, _)| (h, false))
            .chain(witnessed.iter().map(|w| (w, true)))
            .collect();
        checks.sort_by_key(|(h, _)| h.tree_size);
        let mut frontier = Frontier::default();
        let mut next = 0usize;
        for (sth, is_witness) in checks {
            if sth.tree_size as usize > leaves.len() {
                return Err(tamper(if is_witness {
                    format!(
                        "a witness holds a signed head at size {} but the log holds {} entries: the log was cut back",
                        sth.tree_size,
                        leaves.len()
                    )
                } else {
                    format!(
                        "signed tree head at size {} covers more entries than the log holds ({}): entries were deleted",
                        sth.tree_size,
                        leaves.len()
                    )
                }));
            }
            while next < sth.tree_size as usize {
                frontier.push(leaves[next].1);
                next += 1;
            }
            if frontier.root() != sth.root {
                return Err(tamper(format!(
                    "{} head at size {}: the entries up to it no longer hash to its signed root; \
                     an entry before seq {} was modified, inserted, deleted or reordered",
                    if is_witness {
                        "witnessed"
                    } else {
                        "signed tree"
                    },
                    sth.tree_size,
                    sth.tree_size
                )));
            }
        }
        let stored_max = heads.last().map(|(h, _)| h.tree_size as usize).unwrap_or(0);
        if stored_max < leaves.len() {
            return Err(tamper(format!(
                "audit rows from seq {stored_max} on are not covered by any signed tree head: they were added outside Civitas"
            )));
        }
        Ok(AuditVerifyReport {
            entries: leaves.len() as u64,
            signed_heads: heads.len() as u64,
            witnessed_heads: witnessed.len() as u64,
            latest_head: heads.pop().map(|(h, _)| h),
        })
    }

    // ---- Users --------------------------------------------------------------

    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM app_user")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("counting users"))?
            .get(0))
    }

    /// Adds a user. `by` is the acting administrator (`None` only for the first user, at init).
    pub async fn add_user(
        &self,
        by: Option<&Actor>,
        username: &str,
        role: Role,
        scope: &[String],
        password_hash: &str,
        now: Timestamp,
    ) -> Result<i64> {
        let creator = match by {
            Some(a) => {
                a.require(Permission::ManageUsers)?;
                a.username.clone()
            }
            None => {
                if self.user_count().await? > 0 {
                    return Err(forbid(
                        username,
                        "only an administrator can add users once the first exists",
                    ));
                }
                "system:init".into()
            }
        };
        if username.trim().is_empty() || username.contains(char::is_whitespace) {
            return Err(Error::invalid(format!(
                "field `username`: {username:?} must be one word"
            )));
        }
        let scope = if scope.is_empty() {
            vec!["*".to_string()]
        } else {
            scope.to_vec()
        };
        let mut tx = self.begin_immediate().await?;
        let id: i64 = sqlx::query("INSERT INTO app_user (username, password_hash, role, scope_json, created_at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(username)
            .bind(password_hash)
            .bind(role.name())
            .bind(serde_json::to_string(&scope).unwrap_or_default())
            .bind(now.0)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err(format!("adding user {username:?}")))?
            .get(0);
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&creator, "user.add", format!("user:{username}"))
                .details(serde_json::json!({"role": role.name(), "scope": scope})),
        )
        .await?;
        tx.commit()
            .await
            .map_err(db_err("committing the new user"))?;
        Ok(id)
    }

    pub async fn disable_user(
        &self,
        by: &Actor,
        username: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<()> {
        by.require(Permission::ManageUsers)?;
        let mut tx = self.begin_immediate().await?;
        let n = sqlx::query("UPDATE app_user SET disabled = 1 WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(db_err("disabling user"))?
            .rows_affected();
        if n == 0 {
            return Err(Error::not_found(format!(
                "user {username:?} does not exist"
            )));
        }
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&by.username, "user.disable", format!("user:{username}")).why(reason),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    /// Checks a password; every attempt, failed or not, is audited.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        now: Timestamp,
    ) -> Result<Actor> {
        let (checked, outcome) = self.check_credentials(username, password).await?;
        self.audit(now, AuditRecord::login(username, outcome))
            .await?;
        checked
    }

    /// Checks a user name and password **without** auditing (the caller
    /// audits: `authenticate`, or `audit verify`, which must check the log
    /// before it writes to it). Returns the outcome (`ok`, `bad credentials`,
    /// `user disabled`) beside the actor or the refusal. The same Argon2 work
    /// is done for an unknown name, on the blocking pool.
    pub async fn check_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Result<Actor>, &'static str)> {
        let row = sqlx::query(
            "SELECT password_hash, role, scope_json, disabled FROM app_user WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading users"))?;
        let phc: Option<String> = row.as_ref().map(|r| r.get("password_hash"));
        // At most as many Argon2 checks at once as there are cores: each
        // holds ~19 MiB, and the blocking pool would otherwise run hundreds.
        static CHECKS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
        let _permit = CHECKS
            .get_or_init(|| {
                tokio::sync::Semaphore::new(
                    std::thread::available_parallelism().map_or(2, |n| n.get()),
                )
            })
            .acquire()
            .await
            .map_err(|e| Error::internal(format!("password check queue: {e}")))?;
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            civitas_auth::verify_password_or_dummy(&pw, phc.as_deref())
        })
        .await
        .map_err(|e| Error::internal(format!("checking a password: {e}")))?;
        let disabled = row
            .as_ref()
            .is_some_and(|r| r.get::<i64, _>("disabled") != 0);
        let outcome = if !ok {
            "bad credentials"
        } else if disabled {
            "user disabled"
        } else {
            "ok"
        };
        let checked = match (row, outcome) {
            (Some(r), "ok") => Ok(Actor {
                username: username.to_owned(),
                role: Role::parse(&r.get::<String, _>("role"))?,
                scope: serde_json::from_str(&r.get::<String, _>("scope_json")).unwrap_or_default(),
            }),
            (_, "user disabled") => Err(forbid(username, "this user is disabled")),
            _ => Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "login as {:?} failed: wrong user name or password",
                    bounded(username, 64)
                ),
            )),
        };
        Ok((checked, outcome))
    }

    pub async fn users(&self) -> Result<Vec<(String, String, String, bool)>> {
        let rows = sqlx::query(
            "SELECT username, role, scope_json, disabled FROM app_user ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing users"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get::<i64, _>(3) != 0))
            .collect())
    }

    // ---- Review ---------------------------------------------------------------

    /// Records a reviewer's decision. A face candidate is confirmed once
    /// `face_confirmations` *different* users confirm it; any rejection rejects it.
    pub async fn review(
        &self,
        actor: &Actor,
        candidate: i64,
        decision: Decision,
        reason: &str,
        now: Timestamp,
        policy: &ReviewPolicy,
    ) -> Result<ReviewOutcome> {
        actor.require(Permission::Confirm)?;
        if decision == Decision::Reject && reason.trim().is_empty() {
            return Err(Error::invalid(
                "field `reason`: a rejection needs a reason (e.g. \"not this person\")",
            ));
        }
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query(
            "SELECT status, kind, created_at_ms, camera_id FROM candidate WHERE id = $1",
        )
        .bind(candidate)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("reading candidate"))?
        .ok_or_else(|| Error::not_found(format!("candidate {candidate} does not exist")))?;
        let (status, kind, created, camera): (String, String, i64, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if !actor.covers_camera(&camera) {
            return Err(forbid(
                &actor.username,
                &format!("camera {camera} is outside this user's scope"),
            ));
        }
        if status != "candidate" {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!("candidate {candidate} is already {status}"),
            ));
        }
        if now.0 - created > policy.candidate_expiry_ms {
            sqlx::query(
                "UPDATE candidate SET status = 'expired', decided_at_ms = $1 WHERE id = $2",
            )
            .bind(now.0)
            .bind(candidate)
            .execute(&mut *tx)
            .await
            .map_err(db_err("expiring candidate"))?;
            append(
                &mut tx,
                self.key()?,
                now,
                &AuditRecord::new(
                    "system:review",
                    "candidate.expire",
                    format!("candidate:{candidate}"),
                ),
            )
            .await?;
            tx.commit().await.map_err(db_err("committing"))?;
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!("candidate {candidate} expired unreviewed; it can no longer be confirmed"),
            ));
        }
        let already: Option<String> = sqlx::query(
            "SELECT decision FROM candidate_review WHERE candidate_id = $1 AND username = $2",
        )
        .bind(candidate)
        .bind(&actor.username)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("reading reviews"))?
        .map(|r| r.get(0));
        if let Some(d) = already {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "user {:?} already {}ed candidate {candidate}; a second confirmation must come from a different person",
                    actor.username, d
                ),
            ));
        }
        let d = if decision == Decision::Confirm {
            "confirm"
        } else {
            "reject"
        };
        sqlx::query("INSERT INTO candidate_review (candidate_id, username, decision, reason, at_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(candidate)
            .bind(&actor.username)
            .bind(d)
            .bind(reason.trim())
            .bind(now.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err("storing review"))?;
        let confirmations: i64 = sqlx::query(
            "SELECT COUNT(*) FROM candidate_review WHERE candidate_id = $1 AND decision = 'confirm'",
        )
        .bind(candidate)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("counting reviews"))?
        .get(0);
        let required = if kind == "plate" {
            policy.plate_confirmations
        } else {
            policy.face_confirmations
        };
        let new_status = match decision {
            Decision::Reject => "rejected",
            Decision::Confirm if confirmations as usize >= required => "confirmed",
            Decision::Confirm => "candidate",
        };
        if new_status != "candidate" {
            sqlx::query("UPDATE candidate SET status = $1, decided_at_ms = $2 WHERE id = $3")
                .bind(new_status)
                .bind(now.0)
                .bind(candidate)
                .execute(&mut *tx)
                .await
                .map_err(db_err("updating candidate"))?;
        }
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor.username, &format!("candidate.{d}"), format!("candidate:{candidate}"))
                .why(reason)
                .details(serde_json::json!({"status": new_status, "confirmations": confirmations, "required": required})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing review"))?;
        Ok(ReviewOutcome {
            candidate,
            status: new_status.into(),
            confirmations: confirmations as usize,
            required,
        })
    }

    // ---- Legal basis refusal ---------------------------------------------------

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
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("reading legal basis"))?
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
        let candidates: i64 = count("SELECT COUNT(*) FROM candidate WHERE entry_id IN (SELECT id FROM watchlist_entry WHERE legal_basis_id = $1)")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("counting"))?
            .get(0);
        let templates: i64 = count("SELECT COUNT(*) FROM entry_template WHERE entry_id IN (SELECT id FROM watchlist_entry WHERE legal_basis_id = $1)")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("counting"))?
            .get(0);
        let entries = count("DELETE FROM watchlist_entry WHERE legal_basis_id = $1")
            .execute(&mut *tx)
            .await
            .map_err(db_err("deleting entries"))?
            .rows_affected();
        sqlx::query("UPDATE legal_basis SET status = 'refused', refused_at_ms = $1 WHERE id = $2")
            .bind(now.0)
            .bind(basis)
            .execute(&mut *tx)
            .await
            .map_err(db_err("refusing basis"))?;
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

    // ---- Legal holds and retention -----------------------------------------------

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
            .get(0);
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
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("lifting hold"))?
            .ok_or_else(|| Error::not_found(format!("legal hold {hold} does not exist or was already lifted")))?
            .get(0);
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

    /// Deletes what retention says is due at `now`, except what a legal hold covers.
    pub async fn sweep(
        &self,
        policy: &RetentionPolicy,
        review: &ReviewPolicy,
        now: Timestamp,
    ) -> Result<SweepReport> {
        let mut tx = self.begin_immediate().await?;
        let mut r = SweepReport::default();
        let expired_now = sqlx::query("UPDATE candidate SET status = 'expired', decided_at_ms = $1 WHERE status = 'candidate' AND created_at_ms < $2")
            .bind(now.0)
            .bind(now.0 - review.candidate_expiry_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err("expiring candidates"))?
            .rows_affected();
        r.candidates_expired = expired_now;
        r.held_and_kept = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM legal_hold WHERE lifted_at_ms IS NULL",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("counting holds"))? as u64;
        for (status, period, slot) in [
            ("candidate", policy.unreviewed_candidates_ms, 0),
            ("rejected", policy.rejected_candidates_ms, 1),
            ("expired", policy.expired_candidates_ms, 2),
            ("confirmed", policy.confirmed_candidates_ms, 3),
        ] {
            let Some(p) = period else { continue };
            let n = sqlx::query(
                "DELETE FROM candidate WHERE status = $1 AND created_at_ms < $2
                 AND NOT EXISTS (SELECT 1 FROM legal_hold h WHERE h.lifted_at_ms IS NULL AND h.target = 'candidate:' || candidate.id)",
            )
                .bind(status)
                .bind(now.0 - p)
                .execute(&mut *tx)
                .await
                .map_err(db_err("deleting candidates"))?
                .rows_affected();
            match slot {
                0 => r.unreviewed_deleted = n,
                1 => r.rejected_deleted = n,
                2 => r.expired_deleted = n,
                _ => r.confirmed_deleted = n,
            }
        }
        if let Some(p) = policy.expired_entries_ms {
            r.entries_deleted = sqlx::query(
                "DELETE FROM watchlist_entry WHERE legal_basis_id IN (SELECT id FROM legal_basis WHERE expires_at_ms < $1)
                 AND NOT EXISTS (SELECT 1 FROM legal_hold h WHERE h.lifted_at_ms IS NULL AND h.target = 'entry:' || watchlist_entry.id)",
            )
            .bind(now.0 - p)
            .execute(&mut *tx)
            .await
            .map_err(db_err("deleting expired entries"))?
            .rows_affected();
        }
        r.plate_reads_deleted = crate::plates::sweep_reads(&mut tx, now).await?;
        if let Some(p) = policy.closed_incidents_ms {
            r.incidents_deleted = crate::incidents::sweep_incidents(&mut tx, now.0 - p).await?;
        }
        r.outbox_events_deleted = crate::incidents::sweep_outbox(&mut tx, now).await?;
        // Result keys only need to outlive redelivery and replay (minutes);
        // a week is generous and keeps the table small.
        sqlx::query("DELETE FROM applied_event WHERE at_ms < $1")
            .bind(now.0 - 7 * 86_400_000)
            .execute(&mut *tx)
            .await
            .map_err(db_err("deleting old result keys"))?;
        if let Some(p) = policy.camera_events_ms {
            r.camera_events_deleted =
                crate::plates::sweep_camera_events(&mut tx, now.0 - p).await?;
        }
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new("system:retention", "retention.sweep", "store")
                .details(serde_json::to_value(&r).unwrap_or_default()),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing sweep"))?;
        Ok(r)
    }

    // ---- Report -----------------------------------------------------------------------

    /// Counts for `[from, to)`, from the audit log and the live tables.
    pub async fn report_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<ReportCounts> {
        let mut c = ReportCounts::default();
        for r in sqlx::query("SELECT b.kind, COUNT(*) FROM watchlist_entry e JOIN legal_basis b ON b.id = e.legal_basis_id WHERE b.expires_at_ms > $1 AND b.status = 'active' GROUP BY b.kind")
            .bind(now.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("counting entries"))?
        {
            c.active_entries_by_basis_kind.insert(r.get(0), r.get::<i64, _>(1) as u64);
        }
        let mut deleted = 0u64;
        for r in
            sqlx::query("SELECT action, details FROM audit_log WHERE at_ms >= $1 AND at_ms < $2")
                .bind(from.0)
                .bind(to.0)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("reading the audit log"))?
        {
            let action: String = r.get(0);
            *c.actions.entry(action.clone()).or_default() += 1;
            let d: serde_json::Value =
                serde_json::from_str(&r.get::<String, _>(1)).unwrap_or_default();
            match action.as_str() {
                "candidate.raise" => c.candidates_raised += 1,
                "candidate.confirm" if d["status"] == "confirmed" => c.confirmed += 1,
                "candidate.reject" => c.rejected += 1,
                "basis.refuse" => c.bases_refused += 1,
                "login.failed" => c.logins_failed += 1,
                "incident.open" => {
                    let src = d["source"].as_str().unwrap_or("unknown").to_owned();
                    *c.incidents_opened_by_source.entry(src).or_default() += 1;
                }
                "incident.status" if d["to"] == "closed" => {
                    let why = d["reason"].as_str().unwrap_or("unknown").to_owned();
                    *c.incidents_closed_by_reason.entry(why).or_default() += 1;
                }
                "incident.dispatch" => c.units_dispatched += 1,
                "incident.camera.view" => c.incident_camera_views += 1,
                "evidence.export" => c.evidence_exports += 1,
                "recording.play" => c.recordings_played += 1,
                "retention.sweep" => {
                    c.expired_unreviewed += d["candidates_expired"].as_u64().unwrap_or(0);
                    for k in [
                        "unreviewed_deleted",
                        "rejected_deleted",
                        "expired_deleted",
                        "confirmed_deleted",
                        "entries_deleted",
                        "plate_reads_deleted",
                        "incidents_deleted",
                    ] {
                        deleted += d[k].as_u64().unwrap_or(0);
                    }
                }
                _ => {}
            }
        }
        c.retention_deleted = deleted;
        for r in sqlx::query("SELECT reason, COUNT(*) FROM candidate_review WHERE decision = 'reject' AND at_ms >= $1 AND at_ms < $2 GROUP BY reason")
            .bind(from.0)
            .bind(to.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("counting rejections"))?
        {
            c.rejection_reasons.insert(r.get(0), r.get::<i64, _>(1) as u64);
        }
        Ok(c)
    }
}

/// An audit row selected as `seq, at_ms, actor, action, target, justification, details`.
pub(crate) fn entry_from_row(r: &sqlx::any::AnyRow) -> AuditEntry {
    AuditEntry {
        seq: r.get::<i64, _>(0) as u64,
        at_ms: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        target: r.get(4),
        justification: r.get(5),
        details: r.get(6),
    }
}

fn head_from_row(r: &sqlx::any::AnyRow) -> Result<SignedTreeHead> {
    head_from_parts(r.get(0), r.get(1), r.get(2), r.get(3))
}

fn head_from_parts(size: i64, at_ms: i64, root: Vec<u8>, sig: Vec<u8>) -> Result<SignedTreeHead> {
    Ok(SignedTreeHead {
        tree_size: size as u64,
        at_ms,
        root: root.try_into().map_err(|_| {
            Error::new(
                ErrorKind::DataLoss,
                format!("signed tree head at size {size}: root is not 32 bytes"),
            )
        })?,
        signature: sig.try_into().map_err(|_| {
            Error::new(
                ErrorKind::DataLoss,
                format!("signed tree head at size {size}: signature is not 64 bytes"),
            )
        })?,
    })
}
