//! Number plates in the store: hotlists, hotlist entries (watchlist entries
//! that carry a plate, under a legal basis like any entry), plate reads with
//! their deletion deadline, plate candidates, and audited searches.
//! (Over 600 lines with the tests of its search-pattern and window rules,
//! kept beside the rules.)

use crate::audit::{self, AuditRecord};
use crate::review::ReviewPolicy;
use crate::watchlist::{legal_basis_from, scope_from};
use crate::{Run, Store, db_err, insert_basis, parse_bbox, rejected_recently};
use civitas_auth::{Actor, Permission};
use civitas_base::{Error, ErrorKind, Result, Timestamp};
use civitas_model::plate_text::{CONFUSABLE_CLASSES, normalise};
use civitas_model::{BBox, CandidateId, EntryId, LegalBasis, PlatePass};
use serde::Serialize;
use sqlx::Row;

/// Longest time window one search may cover.
pub const MAX_SEARCH_WINDOW_DAYS: i64 = 92;
const DAY_MS: i64 = 86_400_000;

/// A named list of plates with its own match threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hotlist {
    pub id: i64,
    pub name: String,
    pub max_distance: f32,
    pub entries: u64,
}

/// A hotlist entry as loaded for matching.
#[derive(Debug, Clone)]
pub struct StoredPlateEntry {
    pub id: EntryId,
    pub plate: String,
    pub description: String,
    pub hotlist: String,
    pub max_distance: f32,
    pub basis: LegalBasis,
    /// Cameras the basis covers (`*` for all).
    pub scope: Vec<String>,
}

impl StoredPlateEntry {
    pub fn covers_camera(&self, camera: &str) -> bool {
        self.scope.iter().any(|s| s == "*" || s == camera)
    }
}

/// How long plate reads are kept.
#[derive(Debug, Clone, Copy)]
pub struct PlateRetention {
    /// Reads with no hotlist hit.
    pub no_hit_ms: i64,
    /// Reads that hit a hotlist entry.
    pub hit_ms: i64,
}

impl Default for PlateRetention {
    fn default() -> Self {
        PlateRetention {
            no_hit_ms: DAY_MS,
            hit_ms: 90 * DAY_MS,
        }
    }
}

/// A stored read, as a search returns it.
#[derive(Debug, Clone, Serialize)]
pub struct PlateReadView {
    pub id: i64,
    pub camera: String,
    pub plate: String,
    pub format: Option<String>,
    pub confidence: f32,
    pub frames: u32,
    /// The plate's box in the best frame (`x0`, `y0`, `x1`, `y1`, pixels).
    pub bbox: BBox,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub hit_entry: Option<i64>,
    pub hit_distance: Option<f32>,
    pub expires_at_ms: i64,
}

/// A search of stored reads.
#[derive(Debug, Clone)]
pub struct PlateQuery {
    /// Full or partial plate: `?` stands for any one character, and
    /// characters OCR confuses (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G) match each other.
    pub pattern: String,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Only these cameras (empty: every camera the searcher's scope covers).
    pub cameras: Vec<String>,
    /// Why the search is made (required; audited).
    pub justification: String,
    pub limit: i64,
}

/// The SQLite GLOB over `plate_key` for a search pattern (each confusable
/// character written as its class's first, `?` for any one character), or an
/// error naming what is wrong.
pub fn pattern_glob(pattern: &str) -> Result<String> {
    let mut glob = String::new();
    let mut n = 0;
    for c in pattern.chars() {
        match c {
            ' ' | '-' | '.' => continue,
            '?' => glob.push('?'),
            c if c.is_ascii_alphanumeric() => {
                let c = c.to_ascii_uppercase();
                match CONFUSABLE_CLASSES.iter().find(|k| k.contains(c)) {
                    Some(k) => glob.push(k.chars().next().unwrap_or(c)),
                    None => glob.push(c),
                }
            }
            c => {
                return Err(Error::invalid(format!(
                    "plate pattern {pattern:?}: {c:?} is not a letter, digit or ?"
                )));
            }
        }
        n += 1;
    }
    if n == 0 || n > 12 {
        return Err(Error::invalid(format!(
            "plate pattern {pattern:?}: needs 1 to 12 characters"
        )));
    }
    if pattern
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .count()
        < 2
    {
        return Err(Error::invalid(format!(
            "plate pattern {pattern:?}: give at least two known characters (a pattern of only ? would list every vehicle)"
        )));
    }
    Ok(glob)
}

impl Store {
    /// Creates a hotlist; audited.
    pub async fn create_hotlist(
        &self,
        actor: &Actor,
        name: &str,
        max_distance: f32,
        now: Timestamp,
    ) -> Result<i64> {
        actor.require(Permission::Enroll)?;
        if name.trim().is_empty() {
            return Err(Error::invalid("hotlist: field `name` is required"));
        }
        if !(0.0..=2.0).contains(&max_distance) {
            return Err(Error::invalid(format!(
                "hotlist: field `max_distance` is {max_distance}; expected 0..2 (0 = exact reads only, 0.25 per OCR confusion, 1 per other edit)"
            )));
        }
        let mut tx = self.begin_immediate().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO hotlist (name, max_distance, created_by, created_at_ms) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name.trim())
        .bind(max_distance)
        .bind(&actor.username)
        .bind(now.0)
        .one(&mut *tx, format!("creating hotlist {name:?}")).await?
        .get("id");
        audit::append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor.username, "hotlist.create", format!("hotlist:{id}"))
                .details(serde_json::json!({"name": name.trim(), "max_distance": max_distance})),
        )
        .await?;
        tx.commit().await.map_err(db_err("committing hotlist"))?;
        Ok(id)
    }

    /// Every hotlist with its number of entries.
    pub async fn hotlists(&self) -> Result<Vec<Hotlist>> {
        let rows = sqlx::query(
            "SELECT h.id, h.name, h.max_distance, (SELECT COUNT(*) FROM watchlist_entry e WHERE e.hotlist_id = h.id) AS entries
             FROM hotlist h ORDER BY h.name",
        )
        .all(&self.pool, "listing hotlists").await?;
        Ok(rows
            .into_iter()
            .map(|r| Hotlist {
                id: r.get("id"),
                name: r.get("name"),
                max_distance: r.get::<f64, _>("max_distance") as f32,
                entries: r.get::<i64, _>("entries") as u64,
            })
            .collect())
    }

    /// Puts a plate on a hotlist under a legal basis covering `scope`; audited.
    #[allow(clippy::too_many_arguments)]
    pub async fn enroll_plate(
        &self,
        actor: &Actor,
        hotlist: &str,
        plate: &str,
        description: &str,
        basis: &LegalBasis,
        scope: &[String],
        now: Timestamp,
    ) -> Result<EntryId> {
        actor.require(Permission::Enroll)?;
        let plate = normalise(plate).map_err(Error::invalid)?;
        if description.trim().is_empty() {
            return Err(Error::invalid(
                "hotlist entry: field `description` is required (e.g. the vehicle and why it is listed)",
            ));
        }
        if scope.is_empty() {
            return Err(Error::invalid(
                "legal basis: field `scope` is required (camera ids, or * for all)",
            ));
        }
        let mut tx = self.begin_immediate().await?;
        let list: i64 = sqlx::query("SELECT id FROM hotlist WHERE name = $1")
            .bind(hotlist)
            .optional(&mut *tx, "finding hotlist")
            .await?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "hotlist {hotlist:?} does not exist (create it with `civitas hotlist create`)"
                ))
            })?
            .get("id");
        let basis_id = insert_basis(&mut tx, basis, actor, scope).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO watchlist_entry (name, legal_basis_id, created_at_ms, hotlist_id, plate) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(description.trim())
        .bind(basis_id)
        .bind(now.0)
        .bind(list)
        .bind(&plate)
        .one(&mut *tx, format!("storing hotlist entry {plate}")).await?
        .get("id");
        audit::append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor.username, "hotlist.enroll", format!("entry:{id}"))
                .why(&basis.purpose)
                .details(serde_json::json!({
                    "hotlist": hotlist, "plate": plate, "basis": basis_id, "kind": basis.kind,
                    "authority": basis.authority, "reference": basis.reference,
                    "expires_at_ms": basis.expires_at.0, "scope": scope,
                })),
        )
        .await?;
        tx.commit()
            .await
            .map_err(db_err("committing hotlist entry"))?;
        Ok(EntryId(id))
    }

    /// Every plate entry under an active (not refused) basis, expired ones
    /// included: the matcher enforces expiry at match time, against its clock.
    pub async fn hotlist_entries(&self) -> Result<Vec<StoredPlateEntry>> {
        let rows = sqlx::query(
            "SELECT e.id AS entry_id, e.plate, e.name, h.name AS hotlist, h.max_distance,
                    b.id AS basis_id, b.kind, b.authority, b.reference, b.purpose, b.granted_at_ms, b.expires_at_ms, b.scope_json
             FROM watchlist_entry e JOIN hotlist h ON h.id = e.hotlist_id JOIN legal_basis b ON b.id = e.legal_basis_id
             WHERE e.plate IS NOT NULL AND b.status = 'active' ORDER BY e.id",
        )
        .all(&self.pool, "loading hotlists").await?;
        Ok(rows
            .into_iter()
            .map(|r| StoredPlateEntry {
                id: EntryId(r.get("entry_id")),
                plate: r.get("plate"),
                description: r.get("name"),
                hotlist: r.get("hotlist"),
                max_distance: r.get::<f64, _>("max_distance") as f32,
                basis: legal_basis_from(&r),
                scope: scope_from(&r),
            })
            .collect())
    }

    /// Stores one vehicle pass; a hit also raises a plate candidate for review
    /// (audited), unless a reviewer rejected this entry on this camera within
    /// the suppression window. Returns the read's id and the candidate's.
    pub async fn record_plate_pass(
        &self,
        p: &PlatePass,
        retention: &PlateRetention,
        review: &ReviewPolicy,
        now: Timestamp,
    ) -> Result<(i64, Option<CandidateId>)> {
        let plate = normalise(&p.plate).map_err(Error::invalid)?;
        let bbox = serde_json::to_string(&p.bbox).map_err(|e| Error::internal(e.to_string()))?;
        let keep = if p.hit.is_some() {
            retention.hit_ms
        } else {
            retention.no_hit_ms
        };
        let mut tx = self.begin_immediate().await?;
        let dedup = p.key();
        if let Some(prior) = crate::applied(&mut tx, &dedup).await? {
            tx.commit().await.map_err(db_err("committing"))?;
            return Ok((
                prior["plate_read"].as_i64().unwrap_or_default(),
                prior["candidate"].as_i64().map(CandidateId),
            ));
        }
        let read_id: i64 = sqlx::query(
            "INSERT INTO plate_read (camera_id, pass_id, plate, format, confidence, frames, bbox_json, crop_jpeg,
                                     first_seen_ms, last_seen_ms, hit_entry_id, hit_distance, expires_at_ms, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
        )
        .bind(&p.camera.0)
        .bind(p.pass as i64)
        .bind(&plate)
        .bind(&p.format)
        .bind(p.confidence)
        .bind(i64::from(p.frames))
        .bind(&bbox)
        .bind(&p.crop_jpeg)
        .bind(p.first_seen.0)
        .bind(p.last_seen.0)
        .bind(p.hit.as_ref().map(|h| h.entry.0))
        .bind(p.hit.as_ref().map(|h| h.distance))
        .bind(p.first_seen.0.max(now.0) + keep)
        .bind(now.0)
        .one(&mut *tx, format!("storing a plate read from camera {}", p.camera)).await?
        .get("id");
        let Some(hit) = &p.hit else {
            crate::mark_applied(
                &mut tx,
                &dedup,
                serde_json::json!({"plate_read": read_id, "candidate": null}),
                now,
            )
            .await?;
            tx.commit().await.map_err(db_err("committing plate read"))?;
            return Ok((read_id, None));
        };
        let actor = format!("system:camera:{}", p.camera);
        let suppressed = rejected_recently(
            &mut tx,
            hit.entry,
            &p.camera.0,
            now.0 - review.suppress_after_reject_ms,
        )
        .await?;
        if suppressed {
            audit::append(
                &mut tx,
                self.key()?,
                now,
                &AuditRecord::new(&actor, "candidate.suppress", format!("entry:{}", hit.entry))
                    .details(serde_json::json!({"reason": "rejected on this camera within the suppression window", "plate_read": read_id})),
            )
            .await?;
            crate::mark_applied(
                &mut tx,
                &dedup,
                serde_json::json!({"plate_read": read_id, "candidate": null}),
                now,
            )
            .await?;
            tx.commit().await.map_err(db_err("committing"))?;
            return Ok((read_id, None));
        }
        let cid: i64 = sqlx::query(
            "INSERT INTO candidate (camera_id, track_id, entry_id, distance, detector_score, bbox_json, frame_time_ms, offset_ms,
                                    crop_jpeg, created_at_ms, kind, plate_read_id, read_text)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'plate', $11, $12) RETURNING id",
        )
        .bind(&p.camera.0)
        .bind(p.pass as i64)
        .bind(hit.entry.0)
        .bind(hit.distance)
        .bind(p.confidence)
        .bind(&bbox)
        .bind(p.first_seen.0)
        .bind(p.offset_ms)
        .bind(&p.crop_jpeg)
        .bind(now.0)
        .bind(read_id)
        .bind(&plate)
        .one(&mut *tx, format!("storing a plate candidate from camera {}", p.camera)).await?
        .get("id");
        audit::append(
            &mut tx,
            self.key()?,
            now,
            &AuditRecord::new(&actor, "candidate.raise", format!("candidate:{cid}")).details(
                serde_json::json!({"kind": "plate", "entry": hit.entry.0, "hotlist": hit.hotlist,
                                   "distance": hit.distance, "plate_read": read_id, "pass": p.pass}),
            ),
        )
        .await?;
        crate::mark_applied(
            &mut tx,
            &dedup,
            serde_json::json!({"plate_read": read_id, "candidate": cid}),
            now,
        )
        .await?;
        tx.commit()
            .await
            .map_err(db_err("committing plate candidate"))?;
        Ok((read_id, Some(CandidateId(cid))))
    }

    /// Searches stored reads; needs the search permission and a
    /// justification, stays within the searcher's camera scope, and is audited
    /// (pattern, window, cameras, number of results).
    pub async fn search_plate_reads(
        &self,
        actor: &Actor,
        q: &PlateQuery,
        now: Timestamp,
    ) -> Result<Vec<PlateReadView>> {
        let glob = pattern_glob(&q.pattern)?;
        let cameras = check_search(
            actor,
            "plate search",
            &q.justification,
            q.from,
            q.to,
            &q.cameras,
        )?;
        let limit = q.limit.clamp(1, 1000);
        // The plate_key index answers by prefix ranges: the known first
        // characters (an exact plate is one key); leading `?`s (at most
        // three) are expanded into every key character, one range each.
        // Only a pattern with more leading `?`s scans the table.
        let prefixes = key_prefixes(&glob);
        // SQLite matches the key with GLOB; PostgreSQL with the same pattern
        // as an anchored regular expression (`?` is `.`; the rest are key
        // characters, letters and digits) and reaches its `text_pattern_ops`
        // index through the byte-order operators `~>=~` / `~<~`.
        let pattern = match self.backend {
            crate::Backend::Sqlite => glob.clone(),
            crate::Backend::Postgres => format!("^{}$", glob.replace('?', ".")),
        };
        let rows = if prefixes.is_empty() {
            sqlx::query(self.sql(
                "SELECT id, camera_id, plate, format, confidence, frames, bbox_json, first_seen_ms, last_seen_ms,
                        hit_entry_id, hit_distance, expires_at_ms FROM plate_read NOT INDEXED
                 WHERE plate_key GLOB $1 AND first_seen_ms >= $2 AND first_seen_ms < $3
                   AND expires_at_ms > $4 AND ($5 IS NULL OR camera_id IN (SELECT value FROM json_each($6)))
                 ORDER BY first_seen_ms DESC LIMIT $7",
                "SELECT id, camera_id, plate, format, confidence, frames, bbox_json, first_seen_ms, last_seen_ms,
                        hit_entry_id, hit_distance, expires_at_ms FROM plate_read
                 WHERE plate_key ~ $1 AND first_seen_ms >= $2 AND first_seen_ms < $3
                   AND expires_at_ms > $4 AND ($5 IS NULL OR camera_id IN (SELECT json_array_elements_text($6::json)))
                 ORDER BY first_seen_ms DESC LIMIT $7",
            ))
            .bind(pattern)
        } else {
            sqlx::query(self.sql(
                "SELECT r.id, r.camera_id, r.plate, r.format, r.confidence, r.frames, r.bbox_json, r.first_seen_ms, r.last_seen_ms,
                        r.hit_entry_id, r.hit_distance, r.expires_at_ms
                 FROM json_each($1) p JOIN plate_read r INDEXED BY plate_read_key
                   ON r.plate_key >= p.value AND r.plate_key < p.value || '~'
                 WHERE r.plate_key GLOB $2 AND r.first_seen_ms >= $3 AND r.first_seen_ms < $4
                   AND r.expires_at_ms > $5 AND ($6 IS NULL OR r.camera_id IN (SELECT value FROM json_each($7)))
                 ORDER BY r.first_seen_ms DESC LIMIT $8",
                "SELECT r.id, r.camera_id, r.plate, r.format, r.confidence, r.frames, r.bbox_json, r.first_seen_ms, r.last_seen_ms,
                        r.hit_entry_id, r.hit_distance, r.expires_at_ms
                 FROM json_array_elements_text($1::json) p(value) JOIN plate_read r
                   ON r.plate_key ~>=~ p.value AND r.plate_key ~<~ (p.value || '~')
                 WHERE r.plate_key ~ $2 AND r.first_seen_ms >= $3 AND r.first_seen_ms < $4
                   AND r.expires_at_ms > $5 AND ($6 IS NULL OR r.camera_id IN (SELECT json_array_elements_text($7::json)))
                 ORDER BY r.first_seen_ms DESC LIMIT $8",
            ))
            .bind(serde_json::to_string(&prefixes).unwrap_or_else(|_| "[]".into()))
            .bind(pattern)
        }
        .bind(q.from.0)
        .bind(q.to.0)
        .bind(now.0)
        .bind(&cameras)
        .bind(&cameras)
        .bind(limit)
        .all(&self.pool, "searching plate reads").await?;
        let mut out = Vec::new();
        for r in rows {
            let camera: String = r.get("camera_id");
            let id: i64 = r.get("id");
            out.push(PlateReadView {
                id,
                camera,
                plate: r.get("plate"),
                format: r.get("format"),
                confidence: r.get::<f64, _>("confidence") as f32,
                frames: r.get::<i64, _>("frames") as u32,
                bbox: parse_bbox(&r.get::<String, _>("bbox_json")).ok_or_else(|| {
                    Error::new(
                        ErrorKind::DataLoss,
                        format!("plate_read row {id}: bad bbox_json"),
                    )
                })?,
                first_seen_ms: r.get("first_seen_ms"),
                last_seen_ms: r.get("last_seen_ms"),
                hit_entry: r.get("hit_entry_id"),
                hit_distance: r.get::<Option<f64>, _>("hit_distance").map(|d| d as f32),
                expires_at_ms: r.get("expires_at_ms"),
            });
        }
        self.audit(
            now,
            AuditRecord::new(
                &actor.username,
                "plate.search",
                format!("pattern:{}", q.pattern.trim()),
            )
            .why(q.justification.trim())
            .details(serde_json::json!({
                "pattern": q.pattern.trim(), "from_ms": q.from.0, "to_ms": q.to.0,
                "cameras": q.cameras, "results": out.len(),
            })),
        )
        .await?;
        Ok(out)
    }

    /// The best crop of a stored read (JPEG), for a viewer; audited.
    pub async fn plate_read_crop(&self, actor: &Actor, id: i64, now: Timestamp) -> Result<Vec<u8>> {
        actor.require(Permission::Search)?;
        let r = sqlx::query(
            "SELECT camera_id, crop_jpeg FROM plate_read WHERE id = $1 AND expires_at_ms > $2",
        )
        .bind(id)
        .bind(now.0)
        .optional(&self.pool, "reading a plate crop")
        .await?
        .ok_or_else(|| {
            Error::not_found(format!(
                "plate read {id} does not exist (or was deleted by retention)"
            ))
        })?;
        let camera: String = r.get("camera_id");
        if !actor.covers_camera(&camera) {
            return Err(Error::not_found(format!(
                "plate read {id} does not exist (or was deleted by retention)"
            )));
        }
        self.audit(
            now,
            AuditRecord::new(
                &actor.username,
                "plate.image.view",
                format!("plate_read:{id}"),
            ),
        )
        .await?;
        Ok(r.get::<Option<Vec<u8>>, _>("crop_jpeg").unwrap_or_default())
    }

    /// For `civitas bench plate-search` only: stores `(camera, plate,
    /// first_seen_ms)` reads without crops, audit or hotlist matching, in one
    /// transaction, kept until `expires_at_ms`.
    pub async fn bench_insert_plate_reads(
        &self,
        reads: &[(String, String, i64)],
        expires_at_ms: i64,
    ) -> Result<()> {
        let mut tx = self.begin_immediate().await?;
        for (i, (camera, plate, at)) in reads.iter().enumerate() {
            sqlx::query(
                "INSERT INTO plate_read (camera_id, pass_id, plate, format, confidence, frames, bbox_json, first_seen_ms, last_seen_ms, expires_at_ms, created_at_ms)
                 VALUES ($1, $2, $3, 'EC', 0.97, 5, '{\"x0\":0,\"y0\":0,\"x1\":100,\"y1\":30}', $4, $5, $6, $7)",
            )
            .bind(camera)
            .bind(i as i64)
            .bind(plate)
            .bind(at)
            .bind(at + 1_000)
            .bind(expires_at_ms)
            .bind(at)
            .run(&mut *tx, "storing benchmark reads").await?;
        }
        tx.commit()
            .await
            .map_err(db_err("committing benchmark reads"))
    }

    /// Number of stored plate reads (for tests and metrics; identifies nobody).
    pub async fn plate_read_count(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM plate_read")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("counting plate reads"))
    }
}

impl Store {}

/// The characters a `plate_key` holds: A–Z and 0–9 with each confusable
/// class folded into its first character.
fn key_alphabet() -> Vec<char> {
    ('0'..='9')
        .chain('A'..='Z')
        .filter(|c| {
            CONFUSABLE_CLASSES
                .iter()
                .all(|k| !k.contains(*c) || k.starts_with(*c))
        })
        .collect()
}

/// The `plate_key` prefixes whose index ranges cover every key `glob`
/// (a folded pattern, `?` for any character) can match: the characters
/// before the first `?` after the leading ones, with up to three leading
/// `?`s expanded over the key alphabet. Empty when there are more (the
/// caller scans).
fn key_prefixes(glob: &str) -> Vec<String> {
    let lead = glob.chars().take_while(|c| *c == '?').count();
    if lead > 3 {
        return Vec::new();
    }
    let known: String = glob.chars().skip(lead).take_while(|c| *c != '?').collect();
    let mut out = vec![String::new()];
    let alphabet = key_alphabet();
    for _ in 0..lead {
        out = out
            .iter()
            .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
            .collect();
    }
    out.into_iter().map(|p| p + &known).collect()
}

/// Checks what every forensic search needs: the `search` permission, a
/// justification, a window of at most [`MAX_SEARCH_WINDOW_DAYS`], cameras in
/// the searcher's scope. Returns the cameras to search as a JSON array (for
/// SQLite's `json_each`, PostgreSQL's `json_array_elements_text`; `None`:
/// every camera).
pub(crate) fn check_search(
    actor: &Actor,
    what: &str,
    justification: &str,
    from: Timestamp,
    to: Timestamp,
    cameras: &[String],
) -> Result<Option<String>> {
    actor.require(Permission::Search)?;
    if justification.trim().chars().count() < 5 {
        return Err(Error::invalid(format!(
            "{what}: field `justification` is required (why this search is made: case or incident reference)"
        )));
    }
    if to.0 <= from.0 {
        return Err(Error::invalid(format!(
            "{what}: the time window is empty (`to` must be after `from`)"
        )));
    }
    // Checked: client-supplied bounds near i64's ends once wrapped around
    // (release) and passed as a short window, searching all of time.
    match to.0.checked_sub(from.0) {
        Some(span) if span <= MAX_SEARCH_WINDOW_DAYS * DAY_MS => {}
        span => {
            return Err(Error::invalid(format!(
                "{what}: the time window is {}; at most {MAX_SEARCH_WINDOW_DAYS} days may be searched at once",
                span.map_or("longer than any clock can count".to_owned(), |s| format!(
                    "{} days",
                    s / DAY_MS
                ))
            )));
        }
    }
    for c in cameras {
        if !actor.covers_camera(c) {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!("user {:?} may not search camera {c:?}", actor.username),
            ));
        }
    }
    let list: Option<&[String]> = if !cameras.is_empty() {
        Some(cameras)
    } else if actor.scope.iter().any(|s| s == "*") {
        None
    } else {
        Some(&actor.scope)
    };
    Ok(list.map(|l| serde_json::to_string(l).unwrap_or_else(|_| "[]".into())))
}

/// Deletes reads past their deadline, except those whose candidate is under a legal hold.
pub(crate) async fn sweep_reads(conn: &mut sqlx::AnyConnection, now: Timestamp) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM plate_read WHERE expires_at_ms <= $1
         AND NOT EXISTS (SELECT 1 FROM candidate c JOIN legal_hold h ON h.target = 'candidate:' || c.id
                         WHERE c.plate_read_id = plate_read.id AND h.lifted_at_ms IS NULL)",
    )
    .bind(now.0)
    .run(&mut *conn, "deleting expired plate reads").await?
    .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_fold_confusables_and_become_index_prefixes() {
        assert_eq!(pattern_glob("GY?-0O77").unwrap(), "6Y?0077");
        assert_eq!(
            pattern_glob("6YE0O77").unwrap(),
            pattern_glob("GYEOO77").unwrap()
        );
        assert!(pattern_glob("??").is_err());
        assert!(pattern_glob("ЖY1234").is_err());
        let alphabet = key_alphabet();
        assert_eq!(alphabet.len(), 27, "36 characters less the 9 folded away");
        assert!(!alphabet.contains(&'O') && alphabet.contains(&'0') && alphabet.contains(&'Y'));
        assert_eq!(key_prefixes("6Y?0?77"), ["6Y"]);
        assert_eq!(key_prefixes("6YE0077"), ["6YE0077"]);
        let one = key_prefixes("?YE0077");
        assert_eq!(one.len(), 27);
        assert!(one.contains(&"6YE0077".to_string()), "G folds to 6");
        assert_eq!(key_prefixes("??E0?77").len(), 27 * 27);
        assert!(
            key_prefixes("????077").is_empty(),
            "more than three leading ? scans"
        );
    }
}
