//! Civitas at scale: the bus on NATS JetStream, and the leases that share
//! cameras among workers.
//!
//! - [`Nats`] connects and declares, under one namespace (so runs and tests
//!   never collide), the durable stream `{ns}_events` (subjects
//!   `{ns}.events.{camera}.{kind}`, file storage, work-queue retention: a
//!   message stays until the store writer acknowledges it).
//! - [`NatsBus`] is the [`Bus`] a worker publishes on: candidates, plate
//!   passes and camera health/stops go to JetStream, each with its stable key
//!   as `Nats-Msg-Id` (the server drops a repeat within its 2-minute window;
//!   the store drops any later one); a publish is retried until the server
//!   acknowledges it, so a result a camera produced while NATS was restarting
//!   is sent when it is back. Per-frame counts go over core NATS (metrics,
//!   not records).
//! - [`consume`] is the store writer's side: a durable pull consumer with
//!   explicit acks; a message is acknowledged only after the handler has
//!   committed it, refused (redelivered after a pause) when the handler
//!   fails, and terminated when it cannot be decoded (named in the log).
//! - [`membership`]: workers' heartbeats and rendezvous hashing of cameras.
//! - [`epochs`]: the epoch a file camera was first started with, shared so a
//!   replay keeps its frame times and stable keys.
//!
//! No face template is ever on the bus: [`Event`] cannot carry one.

pub mod access;
pub mod epochs;
pub mod membership;
pub mod wire;

use async_nats::jetstream;
use civitas_base::{Error, ErrorKind, Result};
use civitas_pipeline::{Bus, Event, InProcessBus};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Where NATS is, which namespace this deployment uses, and how this
/// process proves who it is.
#[derive(Clone, Default)]
pub struct NatsSettings {
    /// `nats://host:port`, or `tls://host:port` (TLS required).
    pub url: String,
    /// Prefix of every stream, consumer, bucket and subject (letters, digits, `_`, `-`).
    pub namespace: String,
    /// CA certificate (PEM) the server's certificate must chain to; set, TLS
    /// is required. Unset with `tls://`: the system's roots.
    pub tls_ca: Option<std::path::PathBuf>,
    /// This process's user name and password on the server (its role's
    /// permissions: [`access`]). Its replies come to its own inbox prefix.
    pub credentials: Option<(String, String)>,
}

impl NatsSettings {
    /// A server on this machine without TLS or credentials (tests, one machine).
    pub fn local(url: impl Into<String>, namespace: impl Into<String>) -> NatsSettings {
        NatsSettings {
            url: url.into(),
            namespace: namespace.into(),
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings")
            .field("url", &self.url)
            .field("namespace", &self.namespace)
            .field("tls_ca", &self.tls_ca)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

pub(crate) fn unavailable(what: impl Into<String>) -> impl FnOnce(String) -> Error {
    let what = what.into();
    move |e| Error::new(ErrorKind::Unavailable, format!("{what}: {e}"))
}

/// A subject token from a camera id: anything NATS treats specially becomes `_`.
pub fn token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A connection to NATS with this deployment's streams declared.
#[derive(Debug, Clone)]
pub struct Nats {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub ns: String,
}

impl Nats {
    /// Connects (retrying until `timeout`) and declares the events stream.
    pub async fn connect(s: &NatsSettings, timeout: Duration) -> Result<Nats> {
        if s.namespace.is_empty() || token(&s.namespace) != s.namespace {
            return Err(Error::invalid(format!(
                "[bus] namespace {:?}: use letters, digits, '_' and '-' only",
                s.namespace
            )));
        }
        // What the server last said (a refused password, a permission
        // violation), for the log and for the message if we give up.
        let last = Arc::new(std::sync::Mutex::new(None::<String>));
        let heard = last.clone();
        let mut opts = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            // Only the server named: never one it advertises (perhaps in clear).
            .ignore_discovered_servers()
            .event_callback(move |ev| {
                let heard = heard.clone();
                async move {
                    tracing::warn!(event = %ev, "NATS");
                    *heard.lock().unwrap_or_else(|p| p.into_inner()) = Some(ev.to_string());
                }
            });
        if let Some(ca) = &s.tls_ca {
            opts = opts.require_tls(true).add_root_certificates(ca.clone());
        } else if s.url.starts_with("tls://") {
            opts = opts.require_tls(true);
        }
        if let Some((user, password)) = &s.credentials {
            opts = opts
                .user_and_password(user.clone(), password.clone())
                .custom_inbox_prefix(access::inbox_prefix(&s.namespace, user));
        }
        // With retries on, `connect` may hand back a client still trying
        // (a refused password retries for ever): wait until it is in.
        let connected = async {
            let client = opts.connect(&s.url).await?;
            while client.connection_state() != async_nats::connection::State::Connected {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, async_nats::ConnectError>(client)
        };
        let client = tokio::time::timeout(timeout, connected)
            .await
            .map_err(|_| {
                let said = last.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let why = said.map_or_else(
                    || "is nats-server running with JetStream?".to_owned(),
                    |e| format!("last: {e}"),
                );
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "NATS at {} did not accept this connection within {:.0} s ({why})",
                        s.url,
                        timeout.as_secs_f64()
                    ),
                )
            })?
            .map_err(|e| unavailable(format!("connecting to NATS at {}", s.url))(e.to_string()))?;
        let js = jetstream::new(client.clone());
        let nats = Nats {
            client,
            js,
            ns: s.namespace.clone(),
        };
        nats.events_stream().await?;
        Ok(nats)
    }

    pub fn events_stream_name(&self) -> String {
        format!("{}_events", self.ns)
    }

    /// The durable events stream (declared if missing: by `serve`, whose
    /// role may; a worker's may not). One that exists with other settings
    /// (an age or size limit, rollups or purges that could drop results not
    /// yet stored, other subjects) is refused.
    pub async fn events_stream(&self) -> Result<jetstream::stream::Stream> {
        let want = jetstream::stream::Config {
            name: self.events_stream_name(),
            subjects: vec![format!("{}.events.>", self.ns)],
            retention: jetstream::stream::RetentionPolicy::WorkQueue,
            storage: jetstream::stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let stream = self.js.get_or_create_stream(want.clone()).await.map_err(|e| {
            unavailable(format!(
                "declaring JetStream stream {} (does nats-server run with -js? with bus users, start serve first: only it may declare the stream)",
                self.events_stream_name()
            ))(e.to_string())
        })?;
        let have = &stream.cached_info().config;
        // The server writes "no limit" as -1 where the request had 0.
        let unlimited = |n: i64| n <= 0;
        let same = have.subjects == want.subjects
            && have.retention == want.retention
            && have.max_age == Duration::ZERO
            && unlimited(have.max_messages)
            && unlimited(have.max_bytes)
            && unlimited(have.max_messages_per_subject)
            && !have.allow_rollup
            && have.mirror.is_none()
            && have.sources.as_ref().is_none_or(|s| s.is_empty());
        if !same {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "JetStream stream {} exists with other settings than Civitas declares (limits, rollups, subjects or sources that could drop or forge results); delete it once its results are stored, and let serve declare it",
                    self.events_stream_name()
                ),
            ));
        }
        Ok(stream)
    }

    /// The subject an event goes to, and whether it is durable.
    pub fn subject(&self, ev: &Event) -> (String, bool) {
        let (camera, kind, durable) = match ev {
            Event::Candidate(c) => (&c.camera, "candidate", true),
            Event::PlatePass(p) => (&p.camera, "plate", true),
            Event::CameraHealth { camera, .. } => (camera, "health", true),
            Event::CameraStopped { camera, .. } => (camera, "stopped", true),
            Event::FrameAnalysed { camera, .. } => (camera, "frame", false),
        };
        let family = if durable { "events" } else { "stats" };
        (
            format!("{}.{family}.{}.{kind}", self.ns, token(&camera.0)),
            durable,
        )
    }

    /// Publishes one event; for durable events, returns once JetStream has
    /// stored it, with `true` when JetStream recognised it as a repeat of one
    /// it stored within its window (the same stable key) and dropped it.
    pub async fn publish(&self, ev: &Event) -> Result<bool> {
        let (subject, durable) = self.subject(ev);
        let payload = bytes::Bytes::from(wire::encode(ev));
        if !durable {
            return self
                .client
                .publish(subject, payload)
                .await
                .map(|()| false)
                .map_err(|e| unavailable("publishing frame counts")(e.to_string()));
        }
        let mut headers = async_nats::HeaderMap::new();
        if let Some(key) = ev.key() {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, key.as_str());
        }
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload)
            .await
            .map_err(|e| unavailable(format!("publishing to {subject}"))(e.to_string()))?;
        let ack = tokio::time::timeout(Duration::from_secs(5), ack)
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("JetStream did not acknowledge {subject} within 5 s"),
                )
            })?
            .map_err(|e| unavailable(format!("JetStream refused {subject}"))(e.to_string()))?;
        Ok(ack.duplicate)
    }
}

/// Counters of a [`NatsBus`].
#[derive(Debug, Default)]
pub struct BusCounters {
    /// Events handed to the bus and not yet acknowledged by NATS.
    pub pending: AtomicU64,
    /// Events NATS acknowledged (durable) or took (frame counts).
    pub published: AtomicU64,
    /// Failed publish attempts (each retried).
    pub retries: AtomicU64,
    /// Results JetStream recognised as repeats (same stable key within its window) and dropped.
    pub duplicates: AtomicU64,
}

/// The bus of a worker: events go to NATS in order, each retried until
/// acknowledged; local subscribers (if any) see them too.
#[derive(Debug, Clone)]
pub struct NatsBus {
    tx: UnboundedSender<Event>,
    local: Arc<InProcessBus>,
    pub counters: Arc<BusCounters>,
}

impl NatsBus {
    /// Starts the publisher task on `rt`.
    pub fn start(nats: Nats, rt: &tokio::runtime::Handle) -> NatsBus {
        let (tx, rx) = unbounded_channel();
        let counters = Arc::new(BusCounters::default());
        rt.spawn(publisher(nats, rx, counters.clone()));
        NatsBus {
            tx,
            local: Arc::new(InProcessBus::default()),
            counters,
        }
    }

    /// Waits until every event handed to the bus is acknowledged, or `timeout`.
    /// Returns the number still pending.
    pub async fn flush(&self, timeout: Duration) -> u64 {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let n = self.counters.pending.load(Ordering::SeqCst);
            if n == 0 || tokio::time::Instant::now() >= until {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Bus for NatsBus {
    fn publish(&self, ev: Event) {
        self.local.publish(ev.clone());
        self.counters.pending.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(ev).is_err() {
            self.counters.pending.fetch_sub(1, Ordering::SeqCst);
            tracing::error!("the NATS publisher has stopped; an event was not sent");
        }
    }

    fn subscribe(&self) -> UnboundedReceiver<Event> {
        self.local.subscribe()
    }
}

async fn publisher(nats: Nats, mut rx: UnboundedReceiver<Event>, counters: Arc<BusCounters>) {
    while let Some(ev) = rx.recv().await {
        let mut backoff = Duration::from_millis(250);
        loop {
            match nats.publish(&ev).await {
                Ok(duplicate) => {
                    if duplicate {
                        counters.duplicates.fetch_add(1, Ordering::SeqCst);
                    }
                    break;
                }
                Err(e) if matches!(ev, Event::FrameAnalysed { .. }) => {
                    // Counts are metrics: dropped, not retried.
                    tracing::debug!(error = %e, "frame counts not published");
                    break;
                }
                Err(e) => {
                    counters.retries.fetch_add(1, Ordering::SeqCst);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "publishing a result; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        counters.published.fetch_add(1, Ordering::SeqCst);
        counters.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a handler did with a delivered event.
#[derive(Debug)]
pub enum Handled {
    /// Applied (or recognised as applied before): acknowledge it.
    Done,
    /// Could not be applied now (the store is down): redeliver after a pause.
    Retry(String),
}

/// Runs the durable consumer `name` on the events stream until `stop` turns
/// true: each event is decoded, given to `handle`, and acknowledged only
/// after `handle` says it is done. Survives NATS restarts (it re-attaches
/// with a pause, the consumer's position kept by the server).
pub async fn consume<F, Fut>(
    nats: &Nats,
    name: &str,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut handle: F,
) -> Result<()>
where
    F: FnMut(Event, u64) -> Fut,
    Fut: std::future::Future<Output = Handled>,
{
    let mut pause = Duration::from_millis(250);
    while !*stop.borrow() {
        let attached = async {
            let stream = nats.events_stream().await?;
            let consumer = stream
                .get_or_create_consumer(
                    name,
                    jetstream::consumer::pull::Config {
                        durable_name: Some(name.to_owned()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait: Duration::from_secs(30),
                        max_ack_pending: 1024,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| unavailable(format!("attaching consumer {name}"))(e.to_string()))?;
            consumer
                .messages()
                .await
                .map_err(|e| unavailable(format!("reading consumer {name}"))(e.to_string()))
        }
        .await;
        let mut messages = match attached {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "NATS consumer not attached; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    // A dropped sender means no one can stop us any more: stop now.
                    r = stop.changed() => if r.is_err() { return Ok(()) },
                }
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        pause = Duration::from_millis(250);
        loop {
            let next = tokio::select! {
                m = messages.next() => m,
                r = stop.changed() => {
                    if r.is_err() {
                        return Ok(());
                    }
                    break;
                }
            };
            let msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "NATS consumer interrupted; re-attaching");
                    tokio::time::sleep(pause).await;
                    break;
                }
                None => break,
            };
            let delivered = msg.info().map(|i| i.delivered as u64).unwrap_or(1);
            let ev = match wire::decode(&msg.payload) {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::error!(subject = %msg.subject, error = %e, "undecodable event; dropping it");
                    let _ = msg.ack_with(jetstream::AckKind::Term).await;
                    continue;
                }
            };
            match handle(ev, delivered).await {
                Handled::Done => {
                    if let Err(e) = msg.double_ack().await {
                        // Applied but not acknowledged: it will come again and be recognised.
                        tracing::warn!(error = %e, "acknowledging an applied event");
                    }
                }
                Handled::Retry(why) => {
                    tracing::warn!(subject = %msg.subject, reason = %why, "event not applied; redelivering in 1 s");
                    let _ = msg
                        .ack_with(jetstream::AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                }
            }
        }
    }
    Ok(())
}
