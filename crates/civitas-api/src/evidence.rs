//! Evidence export from the console: start an export of a confirmed
//! candidate's case (a job: blurring takes a while), follow its progress, and
//! download the bundle as a tar archive. The blurring (face and plate models)
//! lives in the binary behind [`Exporter`]; this crate knows no vision.

use crate::auth::{Caller, console};
use crate::{ApiError, ApiState, JsonBody, PathArg};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use civitas_auth::Actor;
use civitas_base::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// An export to start.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportJobRequest {
    /// The confirmed candidate whose case is exported.
    pub candidate: i64,
    /// Why: the court case or data-subject request it answers. Audited.
    pub justification: String,
    /// Also blur every plate but the one concerned.
    #[serde(default)]
    pub blur_plates: bool,
}

civitas_base::wire_enum! {
    /// Where an export is.
    #[derive(ToSchema)]
    pub enum ExportState ("export state") {
        Running = "running", Done = "done", Failed = "failed",
    }
}

/// An export's progress and outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExportJob {
    /// The export's id (follow it at `/api/v1/evidence/{id}`).
    pub id: u64,
    /// The confirmed candidate whose case is exported.
    pub candidate: i64,
    /// Who started it.
    pub started_by: String,
    /// Where it is.
    pub state: ExportState,
    /// Frames blurred so far.
    pub frames_done: u64,
    /// Frames to blur in all.
    pub frames_total: u64,
    /// The failure, in words.
    pub error: Option<String>,
    /// When done: the bundle folder's name.
    pub bundle: Option<String>,
    /// When done: what the export did (files, faces blurred, ...).
    pub summary: Option<serde_json::Value>,
}

/// Runs exports (the binary provides one with the models).
pub trait Exporter: Send + Sync + std::fmt::Debug {
    /// Checks what can be checked at once (permission, a confirmed candidate)
    /// and starts the export in the background.
    fn start(&self, actor: Actor, req: ExportJobRequest) -> civitas_base::Result<ExportJob>;
    fn job(&self, id: u64) -> Option<ExportJob>;
    /// The finished bundle's folder.
    fn bundle_dir(&self, id: u64) -> Option<PathBuf>;
}

/// Starts exporting a confirmed candidate's case: its recordings with every
/// face but the subject's blurred (and plates, if asked), the manifest with
/// hashes, legal basis and audit proofs. 202 with the job; follow it at
/// `/api/v1/evidence/{id}`. One export runs at a time (429 otherwise).
#[utoipa::path(post, path = "/api/v1/evidence", tag = "evidence",
    request_body = ExportJobRequest,
    security(("session" = ["export"]), ("bearer" = ["export"])),
    responses(
        (status = 202, body = ExportJob),
        (status = 404, body = crate::ErrorBody),
        (status = 412, description = "The candidate is not confirmed", body = crate::ErrorBody),
        (status = 429, description = "An export is running", body = crate::ErrorBody),
        (status = 503, description = "This service cannot export (no models)", body = crate::ErrorBody),
    ))]
pub async fn start_export(
    State(st): State<ApiState>,
    caller: Caller,
    body: JsonBody<ExportJobRequest>,
) -> Result<(StatusCode, axum::Json<ExportJob>), ApiError> {
    let c = console(&st)?;
    let req = body.parse()?;
    let ex = exporter(c)?;
    let actor = caller.actor.clone();
    let job = tokio::task::spawn_blocking(move || ex.start(actor, req))
        .await
        .map_err(|e| Error::internal(format!("export: {e}")))??;
    Ok((StatusCode::ACCEPTED, axum::Json(job)))
}

fn exporter(c: &crate::CommandCentre) -> Result<std::sync::Arc<dyn Exporter>, Error> {
    c.exporter.clone().ok_or_else(|| {
        Error::new(
            ErrorKind::Unavailable,
            "this service cannot export evidence (started without the models)",
        )
    })
}

/// The job if the caller may see its candidate (its camera in the caller's
/// scope); a job out of scope reads exactly as one that does not exist (job
/// ids are sequential, so anyone could otherwise walk them).
async fn visible_job(
    c: &crate::CommandCentre,
    caller: &Caller,
    job: Option<ExportJob>,
    id: u64,
) -> Result<ExportJob, Error> {
    let absent = || Error::not_found(format!("export {id} does not exist"));
    let job = job.ok_or_else(absent)?;
    match c.store.candidate_camera(&caller.actor, job.candidate).await {
        Ok(_) => Ok(job),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(absent()),
        Err(e) => Err(e),
    }
}

/// An export's progress (frames blurred of the estimated total) and outcome.
#[utoipa::path(get, path = "/api/v1/evidence/{id}", tag = "evidence",
    params(("id" = u64, Path, description = "export job")),
    security(("session" = ["export"]), ("bearer" = ["export"])),
    responses(
        (status = 200, body = ExportJob),
    ))]
pub async fn export_job(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<u64>,
) -> Result<axum::Json<ExportJob>, ApiError> {
    let c = console(&st)?;
    let job = visible_job(c, &caller, exporter(c)?.job(id), id).await?;
    Ok(axum::Json(job))
}

/// The finished bundle as a tar archive (`CASE/manifest.json`,
/// `CASE/manifest.sig`, `CASE/clips/…`); check it with
/// `tar xf … && civitas evidence verify CASE`. Audited (`evidence.download`).
#[utoipa::path(get, path = "/api/v1/evidence/{id}/bundle", tag = "evidence",
    params(("id" = u64, Path, description = "export job")),
    security(("session" = ["export"]), ("bearer" = ["export"])),
    responses(
        (status = 200, content_type = "application/x-tar", body = crate::Binary),
        (status = 409, description = "The export is not finished", body = crate::ErrorBody),
    ))]
pub async fn bundle(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<u64>,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    let ex = exporter(c)?;
    let job = visible_job(c, &caller, ex.job(id), id).await?;
    let dir = match (job.state, ex.bundle_dir(id)) {
        (ExportState::Done, Some(d)) => d,
        _ => {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "export {id} is {}; the bundle is ready when it is done",
                    job.state
                ),
            )
            .into());
        }
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("case-{id}"));
    let tar = tokio::task::spawn_blocking({
        let (dir, name) = (dir.clone(), name.clone());
        move || tar_dir(&dir, &name)
    })
    .await
    .map_err(|e| Error::internal(format!("bundle: {e}")))?
    .map_err(|e| Error::internal(format!("bundle {}: {e}", dir.display())))?;
    c.store
        .audit(
            c.clock.now(),
            civitas_store::AuditRecord::new(
                &caller.actor.username,
                "evidence.download",
                format!("candidate:{}", job.candidate),
            )
            .details(serde_json::json!({"export": id, "bytes": tar.len()})),
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.tar\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        tar,
    )
        .into_response())
}

/// A ustar archive of a folder's files (regular files, names under 100 bytes).
pub fn tar_dir(dir: &Path, prefix: &str) -> std::io::Result<Vec<u8>> {
    fn walk(base: &Path, rel: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(base.join(rel))?.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let r = rel.join(e.file_name());
            if e.file_type()?.is_dir() {
                walk(base, &r, out)?;
            } else if e.file_type()?.is_file() {
                out.push((r.to_string_lossy().into_owned(), e.path()));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, Path::new(""), &mut files)?;
    let mut out = Vec::new();
    for (rel, path) in files {
        let data = std::fs::read(&path)?;
        let name = format!("{prefix}/{rel}");
        if name.len() >= 100 {
            return Err(std::io::Error::other(format!(
                "{name}: name too long for tar"
            )));
        }
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |h: &mut [u8; 512], at: usize, len: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = len - 1);
            h[at..at + len].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, 0o644);
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, data.len() as u64);
        octal(&mut h, 136, 12, 0);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(&data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tar_archives_unpack_with_gnu_tar() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("case");
        std::fs::create_dir_all(src.join("clips")).unwrap();
        std::fs::write(src.join("manifest.json"), b"{\"a\":1}").unwrap();
        std::fs::write(src.join("clips/x.mp4"), vec![7u8; 1300]).unwrap();
        let tar = super::tar_dir(&src, "case-9").unwrap();
        let out = d.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(d.path().join("b.tar"), &tar).unwrap();
        let ok = std::process::Command::new("tar")
            .arg("xf")
            .arg(d.path().join("b.tar"))
            .arg("-C")
            .arg(&out)
            .status()
            .unwrap();
        assert!(ok.success());
        assert_eq!(
            std::fs::read(out.join("case-9/clips/x.mp4")).unwrap(),
            vec![7u8; 1300]
        );
        assert_eq!(
            std::fs::read(out.join("case-9/manifest.json")).unwrap(),
            b"{\"a\":1}"
        );
    }
}
