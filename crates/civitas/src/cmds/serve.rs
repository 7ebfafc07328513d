//! `civitas serve`: the command centre and the single store writer of a
//! deployment whose cameras are analysed by `civitas worker` processes.
//!
//! The workers publish results on NATS JetStream; this process consumes
//! them through the durable consumer `store` and applies each one (with its
//! audit entry, in one transaction) before acknowledging it, so a result is
//! lost neither when this process dies (it is redelivered) nor when it is
//! delivered twice (its stable key makes the second a no-op). Being the only
//! writer of results is also what keeps the audit log one Merkle tree: every
//! append goes through this process's store connection in order.
//! Per-frame counts arrive over core NATS for the live camera table.

use anyhow::{Context, Result};
use civitas_base::ErrorKind;
use civitas_base::{Clock, SystemClock};
use civitas_nats::{Handled, Nats, consume};
use civitas_runtime::bridge::to_command_centre;
use civitas_runtime::engine;
use civitas_runtime::http::{Api, start_api};
use civitas_runtime::writer::{Applied, Writer};
use futures_util::StreamExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What the store writer did, for the log at stop.
#[derive(Default)]
struct Counts {
    applied: AtomicU64,
    repeats: AtomicU64,
    retried: AtomicU64,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Stop after this many seconds (otherwise runs until interrupted).
    #[arg(long)]
    for_seconds: Option<f64>,
}

pub fn main(config: &Path, a: Args) -> Result<()> {
    let cfg = engine::load_config(config)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rt = engine::tokio()?;
    let store = rt.block_on(engine::open_store(&cfg))?;
    rt.block_on(engine::audit_config(&store, config))?;
    let until = a
        .for_seconds
        .map(|s| std::time::Instant::now() + Duration::from_secs_f64(s));
    let nats = rt
        .block_on(Nats::connect(
            &crate::cmds::worker::settings(&cfg)?,
            Duration::from_secs(30),
        ))
        .context("connecting the command centre to NATS")?;
    let Api {
        push_sources,
        console,
        stop: api_stop,
        hooks_stop,
    } = start_api(&cfg, &rt, &store, until, clock.clone())?;
    for id in push_sources.keys() {
        eprintln!(
            "civitas serve: camera {id} pushes snapshots; workers do not analyse push cameras (run it with `civitas run`)"
        );
    }
    eprintln!(
        "civitas serve: store writer on NATS {} namespace {} (stream {}, consumer store)",
        cfg.bus.nats_url,
        cfg.bus.namespace,
        nats.events_stream_name()
    );
    let policy = engine::review_policy(&cfg);
    let retention = engine::plate_retention(&cfg);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        rt.spawn(async move {
            match until {
                Some(u) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(u.into()) => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            let _ = stop_tx.send(true);
        });
    }
    // Live per-frame counts (not durable) for the camera table.
    let stats = {
        let (nats, console, clock) = (nats.clone(), console.clone(), clock.clone());
        rt.spawn(async move {
            let Ok(mut sub) = nats.client.subscribe(format!("{}.stats.>", nats.ns)).await else {
                return;
            };
            while let Some(m) = sub.next().await {
                if let Ok(ev) = civitas_nats::wire::decode(&m.payload) {
                    to_command_centre(&console, &ev, clock.as_ref());
                }
            }
        })
    };
    let counts = Counts::default();
    rt.block_on(async {
        let writer = Writer {
            on_result: Some(&crate::cmds::run::print_result),
            ..Writer::new(&store, &console, &policy, &retention, clock.as_ref())
        };
        let (w, c) = (&writer, &counts);
        consume(&nats, "store", stop_rx, move |ev, delivered| async move {
            match w.apply(ev).await {
                Ok(Applied::Repeat) => {
                    c.repeats.fetch_add(1, Ordering::Relaxed);
                    Handled::Done
                }
                Ok(_) => {
                    c.applied.fetch_add(1, Ordering::Relaxed);
                    Handled::Done
                }
                Err(e) if e.kind() == ErrorKind::Unavailable => {
                    c.retried.fetch_add(1, Ordering::Relaxed);
                    Handled::Retry(e.chain())
                }
                // An unexpected failure may still be passing: a few more deliveries.
                Err(e) if delivered < 5 => {
                    c.retried.fetch_add(1, Ordering::Relaxed);
                    Handled::Retry(e.chain())
                }
                Err(e) => {
                    // Refused five times: the event, not the store's state; retrying cannot help.
                    tracing::error!(error = %e.chain(), delivered, "a worker's result could not be applied; dropped");
                    eprintln!("civitas serve: result dropped: {}", e.chain());
                    Handled::Done
                }
            }
        })
        .await
    })?;
    stats.abort();
    let _ = api_stop.send(());
    let _ = hooks_stop.send(true);
    rt.block_on(store.close());
    eprintln!(
        "civitas serve: stopped; {} result(s) applied, {} repeat(s) recognised and skipped, {} retried",
        counts.applied.load(Ordering::Relaxed),
        counts.repeats.load(Ordering::Relaxed),
        counts.retried.load(Ordering::Relaxed)
    );
    Ok(())
}
