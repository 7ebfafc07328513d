//! The command-centre web console: static files built from `web/` by the
//! set-up command (esbuild) and embedded in the binary at compile time, so
//! the console works offline and needs no CDN. Only files in the embedded
//! table can be served: a request path is a key into it, never a file-system
//! path, so `..` and other traversal can reach nothing.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use civitas_base::Error;

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The embedded file at `path` (relative to `web/dist`).
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| (*t, *b))
}

/// How many files are embedded (0 means the console was not built).
pub fn asset_count() -> usize {
    ASSETS.len()
}

fn serve(path: &str) -> Response {
    match asset(path) {
        Some((ty, bytes)) => (
            [
                (header::CONTENT_TYPE, ty),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response(),
        None => crate::ApiError(Error::not_found(format!(
            "no console file {path:?} (the console's files are built into the binary)"
        )))
        .into_response(),
    }
}

/// `GET /`: the console's single page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /assets/{*path}`.
pub async fn assets(Path(path): Path<String>) -> Response {
    serve(&format!("assets/{path}"))
}

/// Headers on every response: the console loads nothing from elsewhere and
/// cannot be framed; nothing is kept by a browser or proxy cache unless the
/// route says otherwise (the console's own files); browsers that reached it
/// over HTTPS keep to HTTPS for a year (they ignore the header over HTTP).
pub async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    // The live stream carries names: not `no-cache` (axum's), `no-store`.
    let stream = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
    if stream || !h.contains_key(header::CACHE_CONTROL) {
        h.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    for (k, v) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
    ] {
        h.insert(k, header::HeaderValue::from_static(v));
    }
    r
}
