//! Recorded video: find the recordings of a camera around a time (audited
//! with a justification) and play one with HTTP range requests (what a
//! browser's `<video>` sends). Playing needs `search` and a scope covering the
//! camera; the start of each playback is audited (`recording.play`), the
//! ranges that follow it are not.

use crate::auth::{Caller, console};
use crate::views::{self, RecordingView};
use crate::{ApiError, ApiState, PathArg, QueryArgs};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use civitas_base::{Error, ErrorKind, Timestamp};
use serde::Deserialize;
use std::io::{Read, Seek, SeekFrom};
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordingQuery {
    /// The camera. Required.
    pub camera: Option<String>,
    /// Why this search is made. Required; audited.
    pub justification: Option<String>,
    /// Window start, Unix ms (default: 1 hour before `to_ms`).
    pub from_ms: Option<i64>,
    /// Window end, Unix ms (default: now). At most 92 days after `from_ms`.
    pub to_ms: Option<i64>,
    /// At most this many, newest first (1..1000, default 100).
    pub limit: Option<i64>,
}

/// The recordings of a camera overlapping a time window, newest first,
/// including those retention deleted (state `deleted`, with when and why).
/// Audited as `recording.search` with its justification.
#[utoipa::path(get, path = "/api/v1/recordings", tag = "recordings",
    params(RecordingQuery),
    security(("session" = ["search"]), ("bearer" = ["search"])),
    responses(
        (status = 200, body = Vec<RecordingView>),
    ))]
pub async fn recordings(
    State(st): State<ApiState>,
    caller: Caller,
    QueryArgs(q): QueryArgs<RecordingQuery>,
) -> Result<axum::Json<Vec<RecordingView>>, ApiError> {
    let c = console(&st)?;
    let camera = q
        .camera
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::invalid("recording search: field `camera` is required"))?;
    let now = c.clock.now();
    let to = q.to_ms.unwrap_or(now.0 + 1);
    Ok(axum::Json(
        c.store
            .recordings(
                &caller.actor,
                &camera,
                Timestamp(q.from_ms.unwrap_or(to.saturating_sub(3_600_000))),
                Timestamp(to),
                q.justification.as_deref().unwrap_or(""),
                q.limit.unwrap_or(100),
                now,
            )
            .await
            .map(views::list)?,
    ))
}

/// When each user's play of each recording was last audited.
#[derive(Debug, Default)]
pub struct PlayLog(std::sync::Mutex<std::collections::HashMap<(String, i64), Timestamp>>);

impl PlayLog {
    /// A play is audited again after this long.
    pub const WINDOW_MS: i64 = 5 * 60_000;

    fn due(&self, user: &str, recording: i64, now: Timestamp) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(user.to_owned(), recording))
            .is_none_or(|t| now.0.saturating_sub(t.0) >= Self::WINDOW_MS || now.0 < t.0)
    }

    fn record(&self, user: &str, recording: i64, now: Timestamp) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, t| now.0.saturating_sub(t.0) < Self::WINDOW_MS);
        }
        map.insert((user.to_owned(), recording), now);
    }
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` against a file of `len` bytes.
fn parse_range(h: &str, len: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // one range only
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, len.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(len.checked_sub(1)?),
        ),
    };
    (start <= end && start < len).then_some((start, end))
}

/// The video of a recording (fragmented MP4), with HTTP range requests.
/// A recording retention deleted answers 410 saying when and why.
#[utoipa::path(get, path = "/api/v1/recordings/{id}/media", tag = "recordings",
    params(("id" = i64, Path, description = "recording id"),
           ("Range" = Option<String>, Header, description = "bytes=START-[END]")),
    security(("session" = ["search"]), ("bearer" = ["search"])),
    responses(
        (status = 200, content_type = "video/mp4", body = crate::Binary),
        (status = 206, content_type = "video/mp4", body = crate::Binary),
        (status = 410, body = crate::ErrorBody),
        (status = 416, body = crate::ErrorBody),
    ))]
pub async fn media(
    State(st): State<ApiState>,
    caller: Caller,
    PathArg(id): PathArg<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = console(&st)?;
    let r = c.store.recording(&caller.actor, id).await?;
    let dir = c.recordings_dir.as_ref().ok_or_else(|| {
        Error::new(
            ErrorKind::Unavailable,
            "this service does not serve recordings (no [recording] dir)",
        )
    })?;
    let path = dir.join(&r.path);
    let f = std::fs::File::open(&path).map_err(|e| {
        Error::new(
            ErrorKind::Gone,
            format!(
                "recording {id} (camera {}): its file is missing ({e}); it was removed outside Civitas",
                r.camera
            ),
        )
    })?;
    let len = f
        .metadata()
        .map_err(|e| Error::internal(format!("recording {id}: {e}")))?
        .len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (start, end, status) = match range {
        None => (0, len.saturating_sub(1), StatusCode::OK),
        Some(h) => match parse_range(h, len) {
            Some((a, b)) => (a, b, StatusCode::PARTIAL_CONTENT),
            None => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                    axum::Json(serde_json::json!({
                        "error": "range not satisfiable",
                        "message": format!("recording {id} has {len} bytes; Range {h:?} is outside it or not one `bytes=A-B` range")
                    })),
                )
                    .into_response());
            }
        },
    };
    // Every request is audited, whatever its range (only those from byte 0
    // once were, so `Range: bytes=1-` fetched a file unaudited), except a
    // player's follow-up ranges of a recording the same user's play of it
    // was audited within the last five minutes.
    let now = c.clock.now();
    if c.plays.due(&caller.actor.username, id, now) {
        c.store.audit_recording_play(&caller.actor, &r, now).await?;
        c.plays.record(&caller.actor.username, id, now);
    }
    // At most 8 MiB an answer: a browser asks again for the rest.
    let end = end.min(start + (8 << 20) - 1);
    // Off the async workers: up to 8 MiB from the disk.
    let buf = tokio::task::spawn_blocking(move || {
        let mut f = f;
        let mut buf = vec![0u8; (end + 1 - start) as usize];
        f.seek(SeekFrom::Start(start))
            .and_then(|_| f.read_exact(&mut buf))
            .map(|()| buf)
    })
    .await
    .map_err(|e| Error::internal(format!("recording {id}: reading: {e}")))?
    .map_err(|e| Error::internal(format!("recording {id}: reading: {e}")))?;
    let status = if end + 1 < len && status == StatusCode::OK {
        StatusCode::PARTIAL_CONTENT
    } else {
        status
    };
    let mut resp = (
        status,
        [
            (header::CONTENT_TYPE, "video/mp4".to_owned()),
            (header::ACCEPT_RANGES, "bytes".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        buf,
    )
        .into_response();
    if status == StatusCode::PARTIAL_CONTENT {
        resp.headers_mut().insert(
            header::CONTENT_RANGE,
            format!("bytes {start}-{end}/{len}")
                .parse()
                .map_err(|_| Error::internal("content range"))?,
        );
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-", 100), Some((0, 99)));
        assert_eq!(parse_range("bytes=10-19", 100), Some((10, 19)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-2", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
        assert_eq!(parse_range("bytes=0-", 0), None);
    }
}
