//! Outbound webhooks: incident and unit events POSTed to other agencies'
//! systems (radio dispatch, a partner's 911), signed, retried, in order.
//!
//! Events come from the store's **outbox**, written in the same transaction
//! as the change they describe, so a crash never loses one. Each webhook
//! keeps its own cursor in the store and delivers in order: an event is sent
//! until the receiver answers 2xx, with exponential backoff (initial delay
//! doubling to a cap, ±20% jitter) and a per-request timeout, so a receiver
//! that is down, hangs or answers 500 delays its own events and nobody
//! else's. Failures are recorded in the store (`GET /api/v1/integrations`,
//! the console's incidents page) and counted in `/metrics`.
//!
//! Each request carries `X-Civitas-Delivery` (the event's id: the same on
//! every retry, so a receiver can drop repeats), `X-Civitas-Event` (the
//! topic), `X-Civitas-Timestamp` (ms) and `X-Civitas-Signature:
//! sha256=HEX`, the HMAC-SHA256 of `TIMESTAMP.BODY` under the webhook's
//! secret. Payloads say what and where (type, priority, status, location,
//! units), never who called, the notes, or whom a match concerned.
//!
//! Plain `http://` only: TLS to another agency is terminated by a relay on
//! the operator's network (the service itself holds no certificates).

use civitas_base::{Clock, Error, Result};
use civitas_store::{OutboxEvent, Store};
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// One configured webhook.
#[derive(Clone)]
pub struct Webhook {
    /// Its name (also its cursor in the store).
    pub name: String,
    /// `http://` or `https://host:port/path`.
    pub url: hyper::Uri,
    /// For `https://`: the CA certificates (PEM) to trust for it, in place
    /// of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// The HMAC key.
    pub secret: Vec<u8>,
    /// A request that has not answered in this long has failed.
    pub timeout_ms: u64,
    /// First retry after this long, doubling…
    pub backoff_initial_ms: u64,
    /// …to at most this.
    pub backoff_max_ms: u64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"***")
            .finish()
    }
}

impl Webhook {
    /// Checks a webhook's settings; errors name the webhook and the field.
    pub fn new(name: &str, url: &str, secret: Vec<u8>, timeout_ms: u64) -> Result<Webhook> {
        let bad = |m: String| Error::invalid(format!("webhook {name:?}: {m}"));
        if name.trim().is_empty() {
            return Err(Error::invalid("webhook: field `name` is empty"));
        }
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| bad(format!("url {url:?} is not a URL: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad(format!(
                "url {url:?} must start with https:// (or http:// on your own network)"
            )));
        }
        if uri.host().is_none() {
            return Err(bad(format!("url {url:?} has no host")));
        }
        if secret.len() < 16 {
            return Err(bad(
                "the secret must be at least 16 bytes (it signs every request)".into(),
            ));
        }
        if !(100..=120_000).contains(&timeout_ms) {
            return Err(bad(format!(
                "timeout_ms {timeout_ms} is not between 100 and 120000"
            )));
        }
        Ok(Webhook {
            name: name.trim().to_owned(),
            url: uri,
            ca_file: None,
            secret,
            timeout_ms,
            backoff_initial_ms: 250,
            backoff_max_ms: 60_000,
        })
    }
}

/// `sha256=HEX` of HMAC-SHA256(secret, `TIMESTAMP.BODY`).
pub fn signature(secret: &[u8], timestamp_ms: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// A request header as text ("" when absent or not text), as a receiver reads it.
pub fn header<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Checks a delivery's `X-Civitas-Timestamp` and `X-Civitas-Signature`
/// headers over its body, as a receiver would.
pub fn verify_request(secret: &[u8], headers: &axum::http::HeaderMap, body: &[u8]) -> bool {
    let ts: i64 = header(headers, "x-civitas-timestamp").parse().unwrap_or(0);
    verify_signature(secret, ts, body, header(headers, "x-civitas-signature"))
}

/// Checks a signature as a receiver would (constant time).
pub fn verify_signature(secret: &[u8], timestamp_ms: i64, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

type Client = crate::tls::Client<Full<Bytes>>;

/// Why an attempt failed: the receiver answered with a non-2xx status (it is
/// up), or it did not answer (refused, unreachable, timed out).
#[derive(Debug)]
struct Failure {
    answered: bool,
    error: Error,
}

/// How long to wait before the next attempt after `failures` consecutive
/// failures. A receiver that answers (with 500, say) is up: it is retried
/// after `initial_ms` for the first three failures, then doubling; one that
/// does not answer is backed off doubling from the first failure. Either way
/// at most `max_ms`. (Doubling from the first failure against a receiver that
/// refuses half the requests at random has no bounded mean delay: runs of k
/// failures cost 2^k, with probability 2^-k.)
pub fn retry_delay_ms(initial_ms: u64, max_ms: u64, failures: u32, answered: bool) -> u64 {
    let doublings = if answered {
        failures.saturating_sub(3)
    } else {
        failures.saturating_sub(1)
    };
    initial_ms
        .saturating_mul(1u64 << doublings.min(30))
        .min(max_ms)
}

/// Sends one event; `Ok` only on a 2xx answer within the timeout.
async fn send(
    client: &Client,
    hook: &Webhook,
    ev: &OutboxEvent,
    now_ms: i64,
) -> std::result::Result<(), Failure> {
    let fail = |answered: bool, error: Error| Failure { answered, error };
    let body = serde_json::to_vec(&serde_json::json!({
        "delivery": ev.id, "event": ev.topic, "created_at_ms": ev.created_at_ms, "data": ev.payload,
    }))
    .map_err(|e| {
        fail(
            false,
            Error::internal(format!("encoding event {}: {e}", ev.id)),
        )
    })?;
    let req = hyper::Request::post(hook.url.clone())
        .header("content-type", "application/json")
        .header("user-agent", "civitas-webhook")
        .header("x-civitas-delivery", ev.id.to_string())
        .header("x-civitas-event", &ev.topic)
        .header("x-civitas-timestamp", now_ms.to_string())
        .header(
            "x-civitas-signature",
            signature(&hook.secret, now_ms, &body),
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| fail(false, Error::internal(format!("building the request: {e}"))))?;
    let timeout = Duration::from_millis(hook.timeout_ms);
    let resp = tokio::time::timeout(timeout, async {
        let resp = client.request(req).await?;
        let status = resp.status();
        // Read (and bound) the answer so the connection can be reused.
        let _ = http_body_util::Limited::new(resp.into_body(), 64 << 10)
            .collect()
            .await;
        Ok::<_, hyper_util::client::legacy::Error>(status)
    })
    .await;
    match resp {
        Err(_) => Err(fail(
            false,
            Error::new(
                civitas_base::ErrorKind::Unavailable,
                format!("no answer within {} ms", hook.timeout_ms),
            ),
        )),
        Ok(Err(e)) => {
            let msg = crate::tls::with_causes(&e);
            Err(fail(
                false,
                Error::new(civitas_base::ErrorKind::Unavailable, msg),
            ))
        }
        Ok(Ok(status)) if status.is_success() => Ok(()),
        Ok(Ok(status)) => Err(fail(
            true,
            Error::new(
                civitas_base::ErrorKind::Unavailable,
                format!("answered HTTP {status}"),
            ),
        )),
    }
}

/// Per-attempt outcome, for metrics.
#[derive(Debug, Default)]
pub struct WebhookStats {
    pub delivered: std::sync::atomic::AtomicU64,
    pub failed_attempts: std::sync::atomic::AtomicU64,
}

/// Delivers `hook`'s events until `stop` turns true: wakes on `wake` (the
/// console writes an event) or every second (another process did).
pub async fn deliver(
    store: Store,
    hook: Webhook,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    stats: Arc<WebhookStats>,
    mut stop: watch::Receiver<bool>,
) {
    use std::sync::atomic::Ordering;
    if let Err(e) = store.outbox_register(&hook.name).await {
        tracing::error!(webhook = %hook.name, error = %e, "cannot register the webhook; it will not deliver");
        return;
    }
    let tls = match crate::tls::client_config(hook.ca_file.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(webhook = %hook.name, error = %e, "cannot make the TLS settings; it will not deliver");
            return;
        }
    };
    let client: Client = crate::tls::client(tls, Duration::from_millis(hook.timeout_ms));
    let mut failures = 0u32;
    let mut delay_ms = hook.backoff_initial_ms;
    loop {
        if *stop.borrow() {
            return;
        }
        let batch = match store.outbox_next(&hook.name, 50).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(webhook = %hook.name, error = %e, "reading the outbox");
                Vec::new()
            }
        };
        let mut failed = false;
        for ev in &batch {
            let now = clock.now();
            match send(&client, &hook, ev, now.0).await {
                Ok(()) => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                    failures = 0;
                    if let Err(e) = store.outbox_delivered(&hook.name, ev.id, clock.now()).await {
                        tracing::warn!(webhook = %hook.name, error = %e, "recording a delivery");
                    }
                }
                Err(Failure { answered, error: e }) => {
                    stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    failures += 1;
                    delay_ms = retry_delay_ms(
                        hook.backoff_initial_ms,
                        hook.backoff_max_ms,
                        failures,
                        answered,
                    );
                    let msg = format!("event {} to {}: {}", ev.id, hook.url, e.message());
                    tracing::warn!(webhook = %hook.name, error = %msg, retry_in_ms = delay_ms, "webhook delivery failed");
                    if let Err(e) = store.outbox_failed(&hook.name, &msg, clock.now()).await {
                        tracing::warn!(webhook = %hook.name, error = %e, "recording a failed delivery");
                    }
                    failed = true;
                    break;
                }
            }
        }
        let wait = if failed {
            let jitter = 0.8 + 0.4 * rand_unit();
            Duration::from_millis((delay_ms as f64 * jitter) as u64)
        } else if batch.len() == 50 {
            continue;
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified(), if !failed => {}
            _ = stop.changed() => {}
        }
    }
}

/// A number in [0, 1) for jitter (no need for a cryptographic source).
fn rand_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_any_change_breaks_them() {
        let key = b"0123456789abcdef-secret";
        let sig = signature(key, 1_700_000_000_000, b"{\"a\":1}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify_signature(key, 1_700_000_000_000, b"{\"a\":1}", &sig));
        assert!(!verify_signature(
            key,
            1_700_000_000_001,
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_signature(
            key,
            1_700_000_000_000,
            b"{\"a\":2}",
            &sig
        ));
        assert!(!verify_signature(
            b"another-secret-of-16",
            1_700_000_000_000,
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_signature(
            key,
            1_700_000_000_000,
            b"{\"a\":1}",
            "sha256=zz"
        ));
    }

    #[test]
    fn a_receiver_that_answers_is_retried_soon_one_that_does_not_is_backed_off() {
        let d = |n, answered| retry_delay_ms(250, 60_000, n, answered);
        assert_eq!(
            [d(1, true), d(2, true), d(3, true), d(4, true), d(5, true)],
            [250, 250, 250, 500, 1000]
        );
        assert_eq!(
            [d(1, false), d(2, false), d(3, false), d(4, false)],
            [250, 500, 1000, 2000]
        );
        assert_eq!(d(40, false), 60_000);
        assert_eq!(d(40, true), 60_000);
    }

    #[test]
    fn bad_settings_are_refused_in_words() {
        let s = || b"0123456789abcdef".to_vec();
        assert!(Webhook::new("radio", "http://127.0.0.1:9/hook", s(), 5000).is_ok());
        assert!(Webhook::new("radio", "https://example.org/", s(), 5000).is_ok());
        let e = Webhook::new("radio", "ftp://x/", s(), 5000).unwrap_err();
        assert!(e.message().contains("https://"), "{e}");
        let e = Webhook::new("radio", "http://127.0.0.1/", b"short".to_vec(), 5000).unwrap_err();
        assert!(e.message().contains("16 bytes"), "{e}");
        let e = Webhook::new("radio", "http://127.0.0.1/", s(), 5).unwrap_err();
        assert!(e.message().contains("timeout_ms"), "{e}");
    }
}

/// One request a [`Receiver`] answered.
#[derive(Debug, Clone)]
pub struct Received {
    /// `X-Civitas-Delivery`.
    pub delivery: i64,
    /// `X-Civitas-Event`.
    pub event: String,
    /// When it arrived.
    pub at: std::time::Instant,
    /// Whether the signature verified.
    pub signed: bool,
    /// Whether it was answered 2xx (the rest were answered 500 on purpose).
    pub accepted: bool,
}

/// A webhook receiver for measuring and trying integrations: verifies each
/// signature, and answers 500 to a fraction `fail_rate` of requests (a
/// deterministic sequence from `seed`), 204 to the rest.
#[derive(Debug, Clone, Default)]
pub struct Receiver {
    pub log: Arc<std::sync::Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Serves on `listener` (TCP, or [`crate::tls::Listener`] for HTTPS)
    /// until the task is dropped or aborted.
    pub fn serve<L>(
        listener: L,
        secret: Vec<u8>,
        fail_rate: f64,
        seed: u64,
    ) -> (Receiver, tokio::task::JoinHandle<()>)
    where
        L: axum::serve::Listener,
        L::Addr: std::fmt::Debug,
    {
        use axum::extract::State;
        use axum::http::{HeaderMap, StatusCode};
        let rx = Receiver::default();
        let state = (
            rx.log.clone(),
            Arc::new(secret),
            Arc::new(std::sync::Mutex::new(seed | 1)),
        );
        type St = (
            Arc<std::sync::Mutex<Vec<Received>>>,
            Arc<Vec<u8>>,
            Arc<std::sync::Mutex<u64>>,
        );
        let app = axum::Router::new()
            .fallback(
                move |State((log, secret, rng)): State<St>, headers: HeaderMap, body: Bytes| async move {
                    let h = |n: &str| header(&headers, n).to_owned();
                    let signed = verify_request(&secret, &headers, &body);
                    let roll = {
                        let mut s = rng.lock().unwrap_or_else(|p| p.into_inner());
                        // xorshift64: reproducible failures for a given seed.
                        *s ^= *s << 13;
                        *s ^= *s >> 7;
                        *s ^= *s << 17;
                        (*s >> 11) as f64 / (1u64 << 53) as f64
                    };
                    let accepted = signed && roll >= fail_rate;
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(Received {
                        delivery: h("x-civitas-delivery").parse().unwrap_or(-1),
                        event: h("x-civitas-event"),
                        at: std::time::Instant::now(),
                        signed,
                        accepted,
                    });
                    match (signed, accepted) {
                        (false, _) => StatusCode::UNAUTHORIZED,
                        (true, true) => StatusCode::NO_CONTENT,
                        (true, false) => StatusCode::INTERNAL_SERVER_ERROR,
                    }
                },
            )
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (rx, task)
    }
}
