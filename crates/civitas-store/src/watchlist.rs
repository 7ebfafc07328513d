//! The face watchlist: enrolment under a legal basis (checked against the
//! enroller's camera scope) and the entries cameras match against.

use crate::audit::{self, AuditRecord};
use crate::{Run, Store, db_err};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::{EntryId, FaceTemplate, LegalBasis};
use sqlx::Row;

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
    .one(&mut *conn, "storing legal basis").await?
    .get("id"))
}

/// The legal basis of a row selecting `basis_id`, `kind`, `authority`,
/// `reference`, `purpose`, `granted_at_ms` and `expires_at_ms` from it.
pub(crate) fn legal_basis_from(r: &sqlx::any::AnyRow) -> LegalBasis {
    LegalBasis {
        id: Some(r.get("basis_id")),
        kind: r.get("kind"),
        authority: r.get("authority"),
        reference: r.get("reference"),
        purpose: r.get("purpose"),
        granted_at: Timestamp(r.get("granted_at_ms")),
        expires_at: Timestamp(r.get("expires_at_ms")),
    }
}

/// The cameras a row's legal basis covers (`scope_json`).
pub(crate) fn scope_from(r: &sqlx::any::AnyRow) -> Vec<String> {
    serde_json::from_str(&r.get::<String, _>("scope_json")).unwrap_or_default()
}

/// A person to put on the watchlist: under which legal basis, on which
/// cameras, with their templates (source photo, enrolled bytes) and the
/// photo reviewers compare candidates with.
#[derive(Debug, Clone)]
pub struct Enrolment<'a> {
    pub name: &'a str,
    pub basis: &'a LegalBasis,
    /// Camera ids the basis covers, or `*` for all.
    pub scope: Vec<String>,
    pub templates: Vec<(String, Vec<u8>)>,
    pub photo_jpeg: Option<Vec<u8>>,
}

impl<'a> Enrolment<'a> {
    /// `name` under `basis` on the cameras of `scope` (`*`: all; always
    /// said, never assumed), without a photo.
    pub fn new(
        name: &'a str,
        basis: &'a LegalBasis,
        scope: &[String],
        templates: Vec<(String, Vec<u8>)>,
    ) -> Self {
        Enrolment {
            name,
            basis,
            scope: scope.to_vec(),
            templates,
            photo_jpeg: None,
        }
    }

    /// With the photo reviewers compare candidates with.
    pub fn with_photo(self, jpeg: Option<Vec<u8>>) -> Self {
        Enrolment {
            photo_jpeg: jpeg,
            ..self
        }
    }
}

impl Store {
    /// Enrols a person: the legal basis (covering its scope) and the entry
    /// with its templates, and the audit entry, in one transaction.
    pub async fn enroll(&self, actor: &Actor, e: Enrolment<'_>, now: Timestamp) -> Result<EntryId> {
        let Enrolment {
            name,
            basis,
            scope,
            templates,
            photo_jpeg,
        } = e;
        let scope = scope.as_slice();
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
        .one(&mut *tx, format!("storing watchlist entry {name:?}")).await?
        .get("id");
        let photos = templates.len();
        for (photo, bytes) in templates {
            sqlx::query(
                "INSERT INTO entry_template (entry_id, source_photo, template) VALUES ($1, $2, $3)",
            )
            .bind(entry_id)
            .bind(photo)
            .bind(bytes)
            .run(&mut *tx, "storing enrolled template")
            .await?;
        }
        audit::append(
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
            "SELECT e.id, e.name, b.id AS basis_id, b.kind, b.authority, b.reference, b.purpose, b.granted_at_ms, b.expires_at_ms, b.scope_json
             FROM watchlist_entry e JOIN legal_basis b ON b.id = e.legal_basis_id WHERE b.status = 'active' AND e.plate IS NULL ORDER BY e.id",
        )
        .all(&self.pool, "loading watchlist").await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get("id");
            let trows = sqlx::query(
                "SELECT id, template FROM entry_template WHERE entry_id = $1 ORDER BY id",
            )
            .bind(id)
            .all(&self.pool, "loading templates")
            .await?;
            let mut templates = Vec::new();
            for t in trows {
                let tid: i64 = t.get("id");
                let bytes: Vec<u8> = t.get("template");
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
                name: r.get("name"),
                basis: legal_basis_from(&r),
                scope: scope_from(&r),
                templates,
            });
        }
        Ok(out)
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
        .fetch_one(&self.pool).await.map_err(db_err("reading the watchlist version"))
    }
}
