//! Keeping the audit log's signed heads outside the database (see
//! [`civitas_audit::witness`] for why): the service's own witness file, and
//! the client side of `civitas audit witness`, which polls another Civitas
//! over this API.

use civitas_audit::witness::{Seen, Witness, parse_head};
use civitas_base::{Error, ErrorKind, Result};
use civitas_store::Store;
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::time::Duration;

/// Appends every new signed head of `store` to the witness file at `path`
/// (checked against the one kept before it by a consistency proof), polling
/// once a second until `stop` turns true. The file belongs on another disk
/// or mount than the database: whoever can rewrite one should not reach the
/// other. A head that does not extend the last kept one is logged as the
/// `audit_witness_alarm` and never written.
pub async fn keep_local(
    store: Store,
    path: PathBuf,
    public: [u8; 32],
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut witness = match Witness::open(&path, public) {
        Ok(w) => w,
        Err(e) => {
            tracing::error!(alarm = "audit_witness_alarm", file = %path.display(), error = %e, "the audit witness file cannot be used; no heads are witnessed");
            return;
        }
    };
    loop {
        if let Err(e) = observe_local(&store, &mut witness).await {
            if e.kind() == ErrorKind::DataLoss {
                tracing::error!(alarm = "audit_witness_alarm", file = %path.display(), error = %e, "the audit log does not extend the witnessed head");
            } else {
                tracing::warn!(error = %e, "audit witness: will retry");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// The alarm for a log that holds nothing where a head of `size` was witnessed.
fn emptied(size: u64) -> Error {
    Error::new(
        ErrorKind::DataLoss,
        format!(
            "witness: the audit log is empty but a head at size {size} was witnessed: it was emptied"
        ),
    )
}

/// One round of [`keep_local`].
pub async fn observe_local(store: &Store, witness: &mut Witness) -> Result<Seen> {
    let Some(head) = store.audit_head().await? else {
        return match witness.last() {
            Some(last) => Err(emptied(last.tree_size)),
            None => Ok(Seen::Unchanged),
        };
    };
    match witness.last() {
        // Nothing new: no proof to fetch (the log is not re-read each second).
        Some(last) if *last == head => Ok(Seen::Unchanged),
        Some(last) if last.tree_size > 0 && last.tree_size <= head.tree_size => {
            let (_, proof, newer) = store.audit_consistency(last.tree_size).await?;
            // An append between the two reads: prove against the newer head.
            witness.observe(&newer, &proof)
        }
        // Shorter than witnessed (the witness raises "cut back"), or a first head.
        _ => witness.observe(&head, &[]),
    }
}

/// One poll of a remote Civitas at `base` (`http://host:port`) with a
/// bearer token that may `read_audit`: fetches the latest head with a
/// consistency proof from the last kept one, and keeps it if it verifies.
/// Over `https://`, the server's certificate must be signed by a CA in
/// `ca_file` (PEM) or, without one, by one of the system's roots.
pub async fn poll_remote(
    base: &str,
    token: &str,
    ca_file: Option<&std::path::Path>,
    witness: &mut Witness,
) -> Result<Seen> {
    let base = base.trim_end_matches('/');
    let client = crate::tls::client(crate::tls::client_config(ca_file)?, Duration::from_secs(30));
    let get_json = |url: String| get_json(client.clone(), url, token);
    // The head first: a log shorter than (or emptied since) what was
    // witnessed is an alarm, not a proof request that fails and is retried.
    let v = get_json(format!("{base}/api/v1/audit/head")).await?;
    let latest = parse_head(&v["head"].to_string());
    let last = match (witness.last(), &latest) {
        (Some(last), None) => return Err(emptied(last.tree_size)),
        (None, None) => {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("{base}: the audit log is empty; nothing to witness yet"),
            ));
        }
        // A first head, or one shorter than witnessed (the witness raises
        // "cut back"): no proof to fetch.
        (None, Some(h)) => return witness.observe(h, &[]),
        (Some(last), Some(h)) if h.tree_size < last.tree_size => return witness.observe(h, &[]),
        (Some(last), Some(h)) if h == last => return Ok(Seen::Unchanged),
        (Some(last), Some(_)) => last.tree_size,
    };
    let url = format!("{base}/api/v1/audit/consistency?from={last}");
    let v = get_json(url.clone()).await?;
    let head = parse_head(&v["head"].to_string()).ok_or_else(|| {
        Error::new(
            ErrorKind::Unavailable,
            format!("{url}: the answer holds no signed tree head"),
        )
    })?;
    let proof: Vec<civitas_audit::Hash> = v["proof"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|h| h.as_str().and_then(civitas_audit::key::unhex::<32>))
                .collect()
        })
        .unwrap_or_default();
    witness.observe(&head, &proof)
}

async fn get_json(
    client: crate::tls::Client<http_body_util::Empty<hyper::body::Bytes>>,
    url: String,
    token: &str,
) -> Result<serde_json::Value> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| Error::invalid(format!("witness: {url:?} is not a URL: {e}")))?;
    let req = hyper::Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::new())
        .map_err(|e| Error::internal(format!("witness request: {e}")))?;
    let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req))
        .await
        .map_err(|_| Error::new(ErrorKind::Unavailable, format!("{url}: no answer in 30 s")))?
        .map_err(|e| {
            let why = crate::tls::with_causes(&e);
            Error::new(ErrorKind::Unavailable, format!("{url}: {why}"))
        })?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("{url}: {e}")))?
        .to_bytes();
    if !status.is_success() {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "{url}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ),
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("{url}: not JSON: {e}")))
}
