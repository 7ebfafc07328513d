//! What the command centre reads: candidates with their evidence and legal
//! basis, watchlist summaries, audit search, and machines' bearer tokens.
//! Reads here do not audit themselves: the API records each read (who saw
//! which candidate or image, who searched what) with the caller's identity,
//! which only it knows. (A few lines over 600: the candidate and entry views
//! share the legal-basis columns and row helpers kept here.)

use crate::audit::{AuditRecord, append, entry_from_row};
use crate::{Run, Store, db_err};
use civitas_audit::AuditEntry;
use civitas_auth::{Actor, Permission, Role};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::{CandidateKind, CandidateStatus, Decision};
use serde::Serialize;
use sqlx::Row;

/// One reviewer's decision on a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewRecord {
    pub username: String,
    pub decision: Decision,
    pub reason: String,
    pub at_ms: i64,
}

/// The legal basis an entry is held under, as shown to reviewers.
#[derive(Debug, Clone, Serialize)]
pub struct BasisView {
    pub id: i64,
    pub kind: String,
    pub authority: String,
    pub reference: String,
    pub purpose: String,
    pub expires_at_ms: i64,
    pub status: String,
}

/// A candidate as the review queue shows it (images are fetched separately).
#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    pub id: i64,
    pub kind: CandidateKind,
    pub status: CandidateStatus,
    pub camera: String,
    pub entry_id: i64,
    pub entry_name: String,
    pub distance: f64,
    pub detector_score: f64,
    pub frame_time_ms: i64,
    pub created_at_ms: i64,
    pub basis: BasisView,
    pub reviews: Vec<ReviewRecord>,
    pub has_crop: bool,
    pub has_entry_photo: bool,
    /// Plate candidates: the plate as read (voted over the pass).
    pub read_text: Option<String>,
    /// Plate candidates: the plate as listed, and its hotlist.
    pub plate: Option<String>,
    pub hotlist: Option<String>,
}

/// A watchlist entry without its templates.
#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub id: i64,
    pub name: String,
    pub created_at_ms: i64,
    pub templates: i64,
    pub scope: Vec<String>,
    pub basis: BasisView,
    /// Hotlist entries: the plate and its hotlist (absent for a person).
    pub plate: Option<String>,
    pub hotlist: Option<String>,
}

/// A machine's token, without the token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub id: i64,
    pub username: String,
    pub label: String,
    pub only: Option<Vec<String>>,
    pub created_at_ms: i64,
    /// After this the token is refused (Unix ms).
    pub expires_at_ms: i64,
    pub revoked: bool,
}

/// How long a token is valid unless said otherwise.
pub const TOKEN_DEFAULT_DAYS: i64 = 365;
/// The longest a token may be valid.
pub const TOKEN_MAX_DAYS: i64 = 3650;

/// Who a bearer token acts as.
#[derive(Debug, Clone)]
pub struct TokenActor {
    pub actor: Actor,
    pub token_id: i64,
    /// The permissions the token is narrowed to, if any.
    pub only: Option<Vec<Permission>>,
}

/// The candidate columns the views read (a macro so queries stay literals).
macro_rules! candidate_select {
    () => {
        "SELECT c.id, c.kind, c.status, c.camera_id, c.entry_id, e.name AS entry_name, c.distance, c.detector_score,
        c.frame_time_ms, c.created_at_ms, b.id AS basis_id, b.kind AS basis_kind, b.authority AS basis_authority,
        b.reference AS basis_reference, b.purpose AS basis_purpose, b.expires_at_ms AS basis_expires_at_ms,
        b.status AS basis_status,
        CASE WHEN length(c.crop_jpeg) > 0 THEN 1 ELSE 0 END AS has_crop,
        CASE WHEN e.photo_jpeg IS NULL THEN 0 ELSE 1 END AS has_entry_photo,
        c.read_text, e.plate, (SELECT h.name FROM hotlist h WHERE h.id = e.hotlist_id) AS hotlist
 FROM candidate c JOIN watchlist_entry e ON e.id = c.entry_id JOIN legal_basis b ON b.id = e.legal_basis_id"
    };
}

/// The legal basis of a row that selects its columns as `basis_id`,
/// `basis_kind`, `basis_authority`, `basis_reference`, `basis_purpose`,
/// `basis_expires_at_ms` and `basis_status`.
fn basis_from(r: &sqlx::any::AnyRow) -> BasisView {
    BasisView {
        id: r.get("basis_id"),
        kind: r.get("basis_kind"),
        authority: r.get("basis_authority"),
        reference: r.get("basis_reference"),
        purpose: r.get("basis_purpose"),
        expires_at_ms: r.get("basis_expires_at_ms"),
        status: r.get("basis_status"),
    }
}

impl Store {
    /// Candidates, newest first, optionally only those with `status`, only
    /// from cameras in `actor`'s scope.
    pub async fn candidate_views(
        &self,
        actor: &Actor,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<CandidateView>> {
        actor.require(Permission::ViewCandidates)?;
        let status = status
            .map(CandidateStatus::parse)
            .transpose()?
            .map(CandidateStatus::name);
        let rows = sqlx::query(concat!(
            candidate_select!(),
            " WHERE ($1 IS NULL OR c.status = $2) ORDER BY c.id DESC LIMIT $3"
        ))
        .bind(status)
        .bind(status)
        .bind(limit.clamp(1, 1000))
        .all(&self.pool, "listing candidates")
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let camera: String = r.get("camera_id");
            if !actor.covers_camera(&camera) {
                continue;
            }
            out.push(self.candidate_from_row(&r).await?);
        }
        Ok(out)
    }

    async fn candidate_from_row(&self, r: &sqlx::any::AnyRow) -> Result<CandidateView> {
        let id: i64 = r.get("id");
        let reviews = sqlx::query(
            "SELECT username, decision, reason, at_ms FROM candidate_review WHERE candidate_id = $1 ORDER BY at_ms, id",
        )
        .bind(id)
        .all(&self.pool, "reading reviews").await?
        .iter()
        .map(|x| {
            Ok(ReviewRecord {
                username: x.get("username"),
                decision: Decision::parse(&x.get::<String, _>("decision"))?,
                reason: x.get("reason"),
                at_ms: x.get("at_ms"),
            })
        })
        .collect::<Result<_>>()?;
        Ok(CandidateView {
            id,
            kind: CandidateKind::parse(&r.get::<String, _>("kind"))?,
            status: CandidateStatus::parse(&r.get::<String, _>("status"))?,
            camera: r.get("camera_id"),
            entry_id: r.get("entry_id"),
            entry_name: r.get("entry_name"),
            distance: r.get("distance"),
            detector_score: r.get("detector_score"),
            frame_time_ms: r.get("frame_time_ms"),
            created_at_ms: r.get("created_at_ms"),
            basis: basis_from(r),
            reviews,
            has_crop: r.get::<i64, _>("has_crop") != 0,
            has_entry_photo: r.get::<i64, _>("has_entry_photo") != 0,
            read_text: r.get("read_text"),
            plate: r.get("plate"),
            hotlist: r.get("hotlist"),
        })
    }

    /// One candidate, if it exists and its camera is in `actor`'s scope.
    /// The camera of candidate `id`, if the actor's scope covers it; one out
    /// of scope is "not found", exactly like an absent one.
    pub async fn candidate_camera(&self, actor: &Actor, id: i64) -> Result<String> {
        let camera: Option<String> =
            sqlx::query_scalar("SELECT camera_id FROM candidate WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading candidate"))?;
        camera
            .filter(|c| actor.covers_camera(c))
            .ok_or_else(|| Error::not_found(format!("candidate {id} does not exist")))
    }

    pub async fn candidate_view(&self, actor: &Actor, id: i64) -> Result<CandidateView> {
        actor.require(Permission::ViewCandidates)?;
        let r = sqlx::query(concat!(candidate_select!(), " WHERE c.id = $1"))
            .bind(id)
            .optional(&self.pool, "reading candidate")
            .await?
            .ok_or_else(|| Error::not_found(format!("candidate {id} does not exist")))?;
        let camera: String = r.get("camera_id");
        if !actor.covers_camera(&camera) {
            // Out of scope reads the same as absent: scope is not an oracle.
            return Err(Error::not_found(format!("candidate {id} does not exist")));
        }
        self.candidate_from_row(&r).await
    }

    /// Forensic search of **confirmed** matches (face and plate): by the
    /// listed person's or plate's name (`name`, a case-insensitive part of
    /// it) or entry id, in a time window of at most 92 days, on the given
    /// cameras (all in the searcher's scope when empty). Needs the `search`
    /// permission and a justification; audited with both. Faces of people on
    /// no list are never stored, so they cannot be searched.
    #[allow(clippy::too_many_arguments)]
    pub async fn search_matches(
        &self,
        actor: &Actor,
        name: &str,
        entry: Option<i64>,
        from: Timestamp,
        to: Timestamp,
        cameras: &[String],
        justification: &str,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<CandidateView>> {
        let scope =
            crate::plates::check_search(actor, "match search", justification, from, to, cameras)?;
        if name.trim().is_empty() && entry.is_none() {
            return Err(Error::invalid(
                "match search: give a `name` (part of it) or an `entry` id",
            ));
        }
        let like = format!(
            "%{}%",
            name.trim()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(self.sql(
            concat!(
                candidate_select!(),
                " WHERE c.status = 'confirmed' AND c.frame_time_ms >= $1 AND c.frame_time_ms < $2
                   AND ($3 IS NULL OR c.entry_id = $4)
                   AND ($5 = '%%' OR LOWER(e.name) LIKE LOWER($6) ESCAPE '\\' OR LOWER(e.plate) LIKE LOWER($7) ESCAPE '\\')
                   AND ($8 IS NULL OR c.camera_id IN (SELECT value FROM json_each($9)))
                 ORDER BY c.frame_time_ms DESC LIMIT $10"
            ),
            concat!(
                candidate_select!(),
                " WHERE c.status = 'confirmed' AND c.frame_time_ms >= $1 AND c.frame_time_ms < $2
                   AND ($3 IS NULL OR c.entry_id = $4)
                   AND ($5 = '%%' OR LOWER(e.name) LIKE LOWER($6) ESCAPE '\\' OR LOWER(e.plate) LIKE LOWER($7) ESCAPE '\\')
                   AND ($8 IS NULL OR c.camera_id IN (SELECT json_array_elements_text($9::json)))
                 ORDER BY c.frame_time_ms DESC LIMIT $10"
            ),
        ))
        .bind(from.0)
        .bind(to.0)
        .bind(entry)
        .bind(entry)
        .bind(&like)
        .bind(&like)
        .bind(&like)
        .bind(&scope)
        .bind(&scope)
        .bind(limit.clamp(1, 1000))
        .all(&self.pool, "searching confirmed matches").await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.candidate_from_row(r).await?);
        }
        self.audit(
            now,
            crate::AuditRecord::new(
                &actor.username,
                "match.search",
                format!("name:{}", name.trim()),
            )
            .why(justification.trim())
            .details(serde_json::json!({
                "name": name.trim(), "entry": entry, "from_ms": from.0, "to_ms": to.0,
                "cameras": cameras, "results": out.iter().map(|v| v.id).collect::<Vec<_>>(),
            })),
        )
        .await?;
        Ok(out)
    }

    /// The probe crop of a candidate (JPEG), scope-checked.
    pub async fn candidate_crop(&self, actor: &Actor, id: i64) -> Result<Vec<u8>> {
        self.candidate_view(actor, id).await?;
        let r = sqlx::query("SELECT crop_jpeg FROM candidate WHERE id = $1")
            .bind(id)
            .one(&self.pool, "reading candidate crop")
            .await?;
        r.get::<Option<Vec<u8>>, _>("crop_jpeg")
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Error::not_found(format!("candidate {id} has no crop")))
    }

    /// The enrolled photo of the entry a candidate resembles (JPEG).
    pub async fn candidate_entry_photo(&self, actor: &Actor, id: i64) -> Result<Vec<u8>> {
        let c = self.candidate_view(actor, id).await?;
        let r = sqlx::query("SELECT photo_jpeg FROM watchlist_entry WHERE id = $1")
            .bind(c.entry_id)
            .one(&self.pool, "reading entry photo")
            .await?;
        r.get::<Option<Vec<u8>>, _>("photo_jpeg")
            .ok_or_else(|| Error::not_found(format!("entry {} has no enrolment photo", c.entry_id)))
    }

    /// Every entry under an active legal basis, with expiry, without templates.
    pub async fn entry_views(&self, actor: &Actor) -> Result<Vec<EntryView>> {
        actor.require(Permission::Enroll)?;
        let rows = sqlx::query(
            "SELECT e.id, e.name, e.created_at_ms, (SELECT COUNT(*) FROM entry_template t WHERE t.entry_id = e.id) AS templates,
                    b.scope_json, b.id AS basis_id, b.kind AS basis_kind, b.authority AS basis_authority,
                    b.reference AS basis_reference, b.purpose AS basis_purpose, b.expires_at_ms AS basis_expires_at_ms,
                    b.status AS basis_status, e.plate, (SELECT h.name FROM hotlist h WHERE h.id = e.hotlist_id) AS hotlist
             FROM watchlist_entry e JOIN legal_basis b ON b.id = e.legal_basis_id ORDER BY b.expires_at_ms, e.id",
        )
        .all(&self.pool, "listing watchlist entries").await?;
        // Only entries that apply to a camera the caller may see: a
        // supervisor of one gate must not read who is listed elsewhere.
        Ok(rows
            .iter()
            .map(|r| EntryView {
                id: r.get("id"),
                name: r.get("name"),
                created_at_ms: r.get("created_at_ms"),
                templates: r.get("templates"),
                scope: serde_json::from_str(&r.get::<String, _>("scope_json")).unwrap_or_default(),
                basis: basis_from(r),
                plate: r.get("plate"),
                hotlist: r.get("hotlist"),
            })
            .filter(|e| actor.overlaps_scope(&e.scope))
            .collect())
    }

    /// Audit entries, newest first, whose actor, action or target contains
    /// `text` (case-insensitive; empty matches all), before `before_seq`.
    pub async fn audit_search(
        &self,
        actor: &Actor,
        text: &str,
        before_seq: Option<u64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        actor.require(Permission::ReadAudit)?;
        if text.len() > 200 {
            return Err(Error::new(
                ErrorKind::TooLarge,
                "audit search: the text is longer than 200 characters",
            ));
        }
        let like = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, target, justification, details FROM audit_log
             WHERE seq < $1 AND (LOWER(actor) LIKE LOWER($2) ESCAPE '\\' OR LOWER(action) LIKE LOWER($2) ESCAPE '\\'
                                 OR LOWER(target) LIKE LOWER($2) ESCAPE '\\' OR LOWER(justification) LIKE LOWER($2) ESCAPE '\\')
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(before_seq.map_or(i64::MAX, |s| s as i64))
        .bind(&like)
        .bind(limit.clamp(1, 1000))
        .all(&self.pool, "searching the audit log").await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    // ---- Machines' tokens ---------------------------------------------------------

    /// Creates a bearer token acting as `username`, optionally narrowed to
    /// `only`; returns the token (shown once; only its SHA-256 is stored).
    /// A token valid for [`TOKEN_DEFAULT_DAYS`].
    pub async fn create_token(
        &self,
        by: &Actor,
        username: &str,
        label: &str,
        only: Option<&[Permission]>,
        now: Timestamp,
    ) -> Result<String> {
        self.create_token_for_days(by, username, label, only, TOKEN_DEFAULT_DAYS, now)
            .await
    }

    /// A token valid for `days` (1 to [`TOKEN_MAX_DAYS`]): no token is valid forever.
    pub async fn create_token_for_days(
        &self,
        by: &Actor,
        username: &str,
        label: &str,
        only: Option<&[Permission]>,
        days: i64,
        now: Timestamp,
    ) -> Result<String> {
        by.require(Permission::ManageUsers)?;
        if !(1..=TOKEN_MAX_DAYS).contains(&days) {
            return Err(Error::invalid(format!(
                "field `days`: {days} is outside 1..{TOKEN_MAX_DAYS} (a token is valid for a set time)"
            )));
        }
        let expires_at_ms = now.0 + days * 86_400_000;
        if label.trim().is_empty() {
            return Err(Error::invalid(
                "field `label`: say what the token is for (e.g. \"prometheus\")",
            ));
        }
        let mut tx = self.begin_immediate().await?;
        let row = sqlx::query("SELECT id, role FROM app_user WHERE username = $1")
            .bind(username)
            .optional(&mut *tx, "reading users")
            .await?
            .ok_or_else(|| Error::not_found(format!("user {username:?} does not exist")))?;
        let (user_id, role): (i64, String) = (row.get("id"), row.get("role"));
        let role = Role::parse(&role)?;
        if let Some(only) = only
            && let Some(p) = only.iter().find(|p| !role.can(**p))
        {
            return Err(Error::invalid(format!(
                "a token cannot have more than its user: {username:?} ({}) lacks {}",
                role.name(),
                p.name()
            )));
        }
        let token = civitas_auth::generate_token();
        let only_json =
            only.map(|o| serde_json::to_string(&o.iter().map(|p| p.name()).collect::<Vec<_>>()));
        let only_json = only_json
            .transpose()
            .map_err(|e| Error::internal(e.to_string()))?;
        let id: i64 = sqlx::query(
            "INSERT INTO api_token (user_id, label, token_sha256, only_json, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(label.trim())
        .bind(civitas_auth::token_sha256(&token).to_vec())
        .bind(&only_json)
        .bind(now.0)
        .bind(expires_at_ms)
        .one(&mut *tx, "storing the token").await?
        .get("id");
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&by.username, "token.create", format!("token:{id}")).details(
                serde_json::json!({"user": username, "label": label.trim(), "only": only.map(|o| o.iter().map(|p| p.name()).collect::<Vec<_>>()), "expires_at_ms": expires_at_ms}),
            ),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing the token"))?;
        Ok(token)
    }

    pub async fn revoke_token(&self, by: &Actor, id: i64, now: Timestamp) -> Result<()> {
        by.require(Permission::ManageUsers)?;
        let mut tx = self.begin_immediate().await?;
        let n = sqlx::query(
            "UPDATE api_token SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now.0)
        .bind(id)
        .run(&mut *tx, "revoking the token")
        .await?
        .rows_affected();
        if n == 0 {
            return Err(Error::not_found(format!(
                "token {id} does not exist or is already revoked"
            )));
        }
        append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&by.username, "token.revoke", format!("token:{id}")),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing"))?;
        Ok(())
    }

    pub async fn tokens(&self, by: &Actor) -> Result<Vec<TokenView>> {
        by.require(Permission::ManageUsers)?;
        let rows = sqlx::query(
            "SELECT t.id, u.username, t.label, t.only_json, t.created_at_ms, t.expires_at_ms,
                    CASE WHEN t.revoked_at_ms IS NULL THEN 0 ELSE 1 END AS revoked
             FROM api_token t JOIN app_user u ON u.id = t.user_id ORDER BY t.id",
        )
        .all(&self.pool, "listing tokens")
        .await?;
        Ok(rows
            .iter()
            .map(|r| TokenView {
                id: r.get("id"),
                username: r.get("username"),
                label: r.get("label"),
                only: r
                    .get::<Option<String>, _>("only_json")
                    .and_then(|s| serde_json::from_str(&s).ok()),
                created_at_ms: r.get("created_at_ms"),
                expires_at_ms: r.get::<Option<i64>, _>("expires_at_ms").unwrap_or(0),
                revoked: r.get::<i64, _>("revoked") != 0,
            })
            .collect())
    }

    /// Who the token with this SHA-256 acts as. Unknown or revoked tokens and
    /// tokens of disabled users are refused in words; refusals of a known
    /// token are audited.
    pub async fn authenticate_token(
        &self,
        sha256: &[u8; 32],
        now: Timestamp,
    ) -> Result<TokenActor> {
        let row = sqlx::query(
            "SELECT t.id, t.only_json, CASE WHEN t.revoked_at_ms IS NULL THEN 0 ELSE 1 END AS revoked, t.expires_at_ms, u.username, u.role, u.scope_json, u.disabled
             FROM api_token t JOIN app_user u ON u.id = t.user_id WHERE t.token_sha256 = $1",
        )
        .bind(sha256.to_vec())
        .optional(&self.pool, "reading tokens").await?
        .ok_or_else(|| Error::new(ErrorKind::Unauthenticated, "unknown bearer token"))?;
        let (id, username): (i64, String) = (row.get("id"), row.get("username"));
        // No token is valid forever: one without an expiry is refused too.
        let expires: Option<i64> = row.get("expires_at_ms");
        let refusal = if row.get::<i64, _>("revoked") != 0 {
            Some("this token was revoked")
        } else if expires.is_none_or(|e| e <= now.0) {
            Some("this token expired")
        } else if row.get::<i64, _>("disabled") != 0 {
            Some("the token's user is disabled")
        } else {
            None
        };
        if let Some(why) = refusal {
            self.audit(
                now,
                AuditRecord::new(&username, "token.refused", format!("token:{id}"))
                    .details(serde_json::json!({"outcome": why})),
            )
            .await?;
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                format!("bearer token {id} of user {username:?}: {why}"),
            ));
        }
        let only = match row.get::<Option<String>, _>("only_json") {
            None => None,
            Some(s) => {
                let names: Vec<String> = serde_json::from_str(&s).map_err(|e| {
                    Error::new(ErrorKind::DataLoss, format!("token {id}: only_json: {e}"))
                })?;
                Some(
                    names
                        .iter()
                        .map(|n| Permission::parse(n))
                        .collect::<Result<Vec<_>>>()?,
                )
            }
        };
        Ok(TokenActor {
            actor: Actor {
                role: Role::parse(&row.get::<String, _>("role"))?,
                scope: serde_json::from_str(&row.get::<String, _>("scope_json"))
                    .unwrap_or_default(),
                username,
            },
            token_id: id,
            only,
        })
    }
}
