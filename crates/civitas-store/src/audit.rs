//! The audit log: its single appender (every entry in the same transaction
//! as the change it records, serialised by `BEGIN IMMEDIATE` on SQLite and a
//! table lock on PostgreSQL, so the log stays one Merkle tree), its signed
//! tree heads, proofs and verification. Longer than 600 lines because the
//! appender and the verifier must read the same rows the same way; kept
//! together on purpose.

use crate::{Run, Store, db_err};
use civitas_audit::{AuditEntry, AuditKey, Frontier, Hash, SignedTreeHead, verify_sth};
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
    let Some(verifier) = civitas_audit::HeadVerifier::new(public) else {
        return heads.first().map(|(h, _)| h);
    };
    let verifier = &verifier;
    // The first head signed with another key, or whose signature fails.
    let first = |c: &'a [(SignedTreeHead, Vec<u8>)]| {
        let other_key = c
            .iter()
            .position(|(_, k)| k.as_slice() != public.as_slice());
        let checked = other_key.map_or(c, |i| &c[..i]);
        let bad = verifier.first_invalid(checked.iter().map(|(h, _)| h));
        bad.or(other_key).map(|i| &c[i].0)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if heads.len() < 4096 || threads < 2 {
        return first(heads);
    }
    let chunk = heads.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = heads
            .chunks(chunk)
            .map(|c| s.spawn(move || first(c)))
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
        .one(
            &mut *conn,
            "reading the audit frontier and last signed head",
        )
        .await?;
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
        .run(&mut *conn, "appending to the audit log").await?;
        frontier.push(leaf);
    }
    let sth = key.sign(frontier.size(), now.0, frontier.root());
    sqlx::query("INSERT INTO audit_tree_head (tree_size, at_ms, root, signature, public_key) VALUES ($1, $2, $3, $4, $5)")
        .bind(sth.tree_size as i64)
        .bind(sth.at_ms)
        .bind(sth.root.as_slice())
        .bind(sth.signature.as_slice())
        .bind(key.public().as_slice())
        .run(&mut *conn, "storing the signed tree head").await?;
    // A head this key signed is genuine; if its transaction rolls back, the
    // stored head differs from it and is verified in full next time.
    key.signed(&sth);
    sqlx::query("INSERT INTO audit_frontier (id, tree_size, frontier) VALUES (1, $1, $2) ON CONFLICT (id) DO UPDATE SET tree_size = excluded.tree_size, frontier = excluded.frontier")
        .bind(frontier.size() as i64)
        .bind(frontier.to_bytes())
        .run(&mut *conn, "storing the audit frontier").await?;
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

/// Every audit row with its recomputed leaf hash and its stored one, in seq order.
async fn recomputed_leaves(conn: &mut AnyConnection) -> Result<Vec<(AuditEntry, Hash, Vec<u8>)>> {
    let rows = sqlx::query("SELECT seq, at_ms, actor, action, target, justification, details, leaf_hash FROM audit_log ORDER BY seq")
        .all(&mut *conn, "reading the audit log").await?;
    Ok(rows
        .iter()
        .map(|r| {
            let e = entry_from_row(r);
            let h = e.leaf_hash();
            (e, h, r.get::<Vec<u8>, _>("leaf_hash"))
        })
        .collect())
}

/// An audit row selected as `seq, at_ms, actor, action, target, justification, details`.
pub(crate) fn entry_from_row(r: &sqlx::any::AnyRow) -> AuditEntry {
    AuditEntry {
        seq: r.get::<i64, _>("seq") as u64,
        at_ms: r.get("at_ms"),
        actor: r.get("actor"),
        action: r.get("action"),
        target: r.get("target"),
        justification: r.get("justification"),
        details: r.get("details"),
    }
}

fn head_from_row(r: &sqlx::any::AnyRow) -> Result<SignedTreeHead> {
    head_from_parts(
        r.get("tree_size"),
        r.get("at_ms"),
        r.get("root"),
        r.get("signature"),
    )
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
                    .run(&mut *tx, "locking the audit log")
                    .await?;
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

    /// Appends many entries in one transaction, with one signed head for
    /// the batch (covering all of them). For bursts, imports and benchmarks.
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
            .optional(&self.pool, "reading the audit tree head").await?;
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
        .all(&self.pool, "reading the audit log")
        .await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// The newest entry whose action starts with `action_prefix`.
    pub async fn last_audit(&self, action_prefix: &str) -> Result<Option<AuditEntry>> {
        let row = sqlx::query(
            "SELECT seq, at_ms, actor, action, target, justification, details FROM audit_log
             WHERE action LIKE $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(format!("{}%", action_prefix.replace('%', "")))
        .optional(&self.pool, "reading the audit log")
        .await?;
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
        .fetch_all(&self.pool).await.map_err(db_err("finding audit entries"))?
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
            .all(&mut *tx, "reading the audit tree heads").await?;
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
}
