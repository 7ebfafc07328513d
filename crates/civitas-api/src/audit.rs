//! The audit routes: search the log (audited), its signed head and
//! consistency proofs for witnesses, a full verification, and the
//! transparency report.

use crate::auth::{Caller, console};
use crate::{ApiError, ApiState, QueryArgs};
use axum::extract::State;
use civitas_audit::key::hex;
use civitas_base::{Error, Timestamp};
use civitas_store::AuditRecord;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Text to find in the actor, action, target or justification.
    pub q: Option<String>,
    /// Only entries before this sequence number (for paging back).
    pub before: Option<u64>,
    /// At most this many, newest first (1..1000, default 100).
    pub limit: Option<i64>,
}

/// Search the audit log (the search itself is audited).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "Audit entries, newest first", body = Vec<serde_json::Value>),
        (status = 413, body = crate::ErrorBody),
    ))]
pub async fn audit_search(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<AuditQuery>,
) -> Result<axum::Json<Vec<civitas_audit::AuditEntry>>, ApiError> {
    let c = console(&st)?;
    let text = q.q.unwrap_or_default();
    let list = c
        .store
        .audit_search(&caller.actor, &text, q.before, q.limit.unwrap_or(100))
        .await?;
    c.audit(
        AuditRecord::new(&caller.actor.username, "audit.search", "audit")
            .details(serde_json::json!({"q": text, "before": q.before, "returned": list.len()})),
    )
    .await?;
    Ok(axum::Json(list))
}

/// A signed tree head of the audit log: the log's first `tree_size`
/// entries hash to `root`, signed (Ed25519) by the audit key.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct HeadView {
    pub tree_size: u64,
    /// When it was signed (Unix ms).
    pub at_ms: i64,
    /// The Merkle root (RFC 9162), hex.
    pub root: String,
    /// The signature over the size, time and root, hex.
    pub signature: String,
}

impl From<&civitas_audit::SignedTreeHead> for HeadView {
    fn from(h: &civitas_audit::SignedTreeHead) -> HeadView {
        let b = civitas_audit::bundle::Head::from(h);
        HeadView {
            tree_size: b.tree_size,
            at_ms: b.at_ms,
            root: b.root,
            signature: b.signature,
        }
    }
}

/// The latest signed head and the key that verifies it.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct AuditHeadView {
    /// `null` while the log is empty.
    pub head: Option<HeadView>,
    /// The audit key's public half (Ed25519), hex.
    pub public_key: String,
}

/// The latest signed tree head and the key that verifies it.
#[utoipa::path(get, path = "/api/v1/audit/head", tag = "audit",
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "The latest signed head", body = AuditHeadView),
    ))]
pub async fn audit_head(State(st): State<ApiState>) -> Result<axum::Json<AuditHeadView>, ApiError> {
    let c = console(&st)?;
    let head = c.store.audit_head().await?;
    Ok(axum::Json(AuditHeadView {
        head: head.as_ref().map(HeadView::from),
        public_key: hex(&c.audit_public),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The tree size a witness holds a head for. Required.
    pub from: Option<u64>,
}

/// How often one user may have a consistency proof: each rehashes every
/// row, so a `read_audit` token repeating it could keep a core busy.
pub const PROOF_INTERVAL_MS: i64 = 5_000;

/// When each user last had a consistency proof.
#[derive(Debug, Default)]
pub struct ProofPace(std::sync::Mutex<std::collections::HashMap<String, i64>>);

impl ProofPace {
    /// Takes `user`'s turn at `now`, or says when the next one is.
    fn take(&self, user: &str, now: i64) -> civitas_base::Result<()> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // A clock stepped back frees the turn rather than blocking it.
        m.retain(|_, at| (0..PROOF_INTERVAL_MS).contains(&(now - *at)));
        if let Some(at) = m.get(user) {
            let wait = (PROOF_INTERVAL_MS - (now - at)).max(1);
            return Err(Error::new(
                civitas_base::ErrorKind::ResourceExhausted,
                format!(
                    "a consistency proof or a verification rehashes the whole log: one every {} s per user; try again in {wait} ms (a witness polls every 60 s)",
                    PROOF_INTERVAL_MS / 1000
                ),
            ));
        }
        m.insert(user.to_owned(), now);
        Ok(())
    }
}

/// An RFC 9162 consistency proof from the tree at `from` entries to the
/// latest signed head, for a witness (`civitas audit witness`) that keeps
/// heads outside this machine: it checks the proof against the root it
/// holds, so a log rewritten or cut back since is caught. Audited
/// (`audit.consistency`, after the proof, so the head proved is the one
/// before it); one per user every 5 s (429 otherwise).
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit",
    params(ConsistencyQuery),
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "{from_size, proof: [hex], head, public_key}", body = serde_json::Value),
        (status = 404, body = crate::ErrorBody),
        (status = 429, description = "Another proof for this user within 5 s", body = crate::ErrorBody),
    ))]
pub async fn audit_consistency(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<ConsistencyQuery>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let c = console(&st)?;
    let from = q
        .from
        .ok_or_else(|| Error::invalid("query: `from` (a tree size) is required"))?;
    c.proofs.take(&caller.actor.username, c.clock.now().0)?;
    let (_, proof, head) = c.store.audit_consistency(from).await?;
    c.audit(AuditRecord::new(
        &caller.actor.username,
        "audit.consistency",
        format!("size:{from}"),
    ))
    .await?;
    Ok(axum::Json(serde_json::json!({
        "from_size": from,
        "proof": proof.iter().map(|h| hex(h)).collect::<Vec<_>>(),
        "head": head,
        "public_key": hex(&c.audit_public),
    })))
}

/// Rebuilds the Merkle tree from every row and checks every stored head and
/// the latest signature. 200 with `{ok: true, ...}` or `{ok: false, error}`.
#[utoipa::path(post, path = "/api/v1/audit/verify", tag = "audit",
    security(("session" = ["read_audit"]), ("bearer" = ["read_audit"])),
    responses(
        (status = 200, description = "{ok, entries, signed_heads, latest_head} or {ok: false, error}", body = serde_json::Value),
    ))]
pub async fn audit_verify(
    State(st): State<ApiState>,
    caller: Caller,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let c = console(&st)?;
    c.proofs.take(&caller.actor.username, c.clock.now().0)?;
    let r = c.store.audit_verify(&c.audit_public).await;
    let v = match &r {
        Ok(rep) => {
            serde_json::json!({"ok": true, "entries": rep.entries, "signed_heads": rep.signed_heads, "latest_head": rep.latest_head})
        }
        Err(e) => serde_json::json!({"ok": false, "error": e.to_string()}),
    };
    c.audit(
        AuditRecord::new(&caller.actor.username, "audit.verify", "audit")
            .details(serde_json::json!({"ok": r.is_ok()})),
    )
    .await?;
    Ok(axum::Json(v))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Start, `YYYY-MM-DD` or RFC 3339 (default: 30 days ago).
    pub from: Option<String>,
    /// End, exclusive (default: now).
    pub to: Option<String>,
}

/// Transparency report counts for a period: nothing that identifies a person.
#[utoipa::path(get, path = "/api/v1/report", tag = "report",
    params(ReportQuery),
    security(("session" = ["report"]), ("bearer" = ["report"])),
    responses(
        (status = 200, description = "{period, generated_at, counts, audit_head}", body = serde_json::Value),
    ))]
pub async fn report(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<ReportQuery>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let c = console(&st)?;
    let now = c.clock.now();
    let parse = |name: &str, v: Option<&str>, default: Timestamp| -> Result<Timestamp, Error> {
        match v {
            None => Ok(default),
            Some(s) => Timestamp::parse_rfc3339(s).ok_or_else(|| {
                Error::invalid(format!(
                    "{name}: {s:?} is not a date (YYYY-MM-DD or RFC 3339)"
                ))
            }),
        }
    };
    let from = parse("from", q.from.as_deref(), now.plus_ms(-30 * 86_400_000))?;
    let to = parse("to", q.to.as_deref(), now.plus_ms(1))?;
    if from >= to {
        return Err(Error::invalid("from must be before to").into());
    }
    c.store
        .audit(
            now,
            AuditRecord::new(&caller.actor.username, "report.generate", "transparency")
                .details(serde_json::json!({"from": from.0, "to": to.0})),
        )
        .await?;
    let counts = c.store.report_counts(from, to, now).await?;
    let head = c.store.audit_head().await?;
    Ok(axum::Json(serde_json::json!({
        "period": {"from": from.to_rfc3339(), "to": to.to_rfc3339()},
        "generated_at": now.to_rfc3339(),
        "counts": counts,
        "audit_head": head,
    })))
}
