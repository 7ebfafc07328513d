//! `civitas worker`: a stateless analysis worker for deployments on many
//! machines. It holds no data: it reads the watchlists and hotlists from the
//! store (refreshing them when they change), analyses the cameras it owns,
//! and publishes every result on NATS JetStream, where `civitas serve`'s
//! single store writer applies it.
//!
//! Which cameras it owns follows from the live workers
//! (`civitas_nats::membership`: heartbeats, a lease, rendezvous hashing),
//! checked every 200 ms: a camera starts when this worker becomes its owner
//! and stops when another does. A file camera's epoch is shared
//! (`civitas_nats::epochs`), so a worker that takes over a file replays it
//! from the start with the same frame times and the store applies each
//! result once; a live camera resumes from the live stream (what it showed
//! while no worker held it, at most one lease, was not analysed).
//! Snapshot-push cameras are not run by workers: their uploads arrive at
//! the command centre, so they run under `civitas run`.

use anyhow::{Context, Result};
use civitas_base::{Clock, SystemClock, Timestamp};
use civitas_config::{CameraConfig, Config, PUSH_URL};
use civitas_model::CameraId;
use civitas_nats::{Nats, NatsBus, NatsSettings, epochs::Epochs, membership};
use civitas_pipeline::runner::{ListUpdates, Summary};
use civitas_pipeline::{Bus, Event};
use civitas_runtime::camera::{self, CameraTask};
use civitas_runtime::engine;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// This worker's name, unique among the workers (default: host name and process id).
    #[arg(long)]
    id: Option<String>,
    /// Analyse file cameras as fast as possible instead of at their own speed.
    #[arg(long)]
    fast: bool,
    /// Stop after this many seconds (otherwise runs until interrupted).
    #[arg(long)]
    for_seconds: Option<f64>,
}

/// The bus settings `[bus]` gives, with the password read from its file.
pub fn settings(cfg: &Config) -> civitas_base::Result<NatsSettings> {
    let b = &cfg.bus;
    let password = b.password()?;
    Ok(NatsSettings {
        tls_ca: b.tls_ca.clone(),
        credentials: b.user.clone().zip(password),
        ..NatsSettings::local(&b.nats_url, &b.namespace)
    })
}

struct Running {
    stop: Arc<AtomicBool>,
    lists: Arc<ListUpdates>,
    thread: std::thread::JoinHandle<civitas_base::Result<Summary>>,
    epoch_ms: Option<i64>,
}

fn is_file(cam: &CameraConfig) -> bool {
    !cam.url.starts_with("rtsp://") && !cam.url.starts_with("rtsps://") && cam.url != PUSH_URL
}

/// The watchlist and hotlist a camera analyses against, from the store's entries.
struct Lists {
    entries: Vec<civitas_store::StoredEntry>,
    hot: Vec<civitas_store::StoredPlateEntry>,
    version: i64,
}

async fn load_lists(store: &civitas_store::Store) -> Result<Lists> {
    let version = store.watchlist_version().await?;
    Ok(Lists {
        entries: store.watchlist().await?,
        hot: store.hotlist_entries().await?,
        version,
    })
}

pub fn main(config: &Path, a: Args) -> Result<()> {
    let cfg = engine::load_config(config)?;
    // With a bus user, the server lets this worker speak only as that user.
    if let (Some(user), Some(id)) = (&cfg.bus.user, &a.id) {
        anyhow::ensure!(
            user == id,
            "--id {id}: with [bus] user = {user:?} the worker's id is its user; leave --id out or make them equal"
        );
    }
    let me = a
        .id
        .clone()
        .or_else(|| cfg.bus.user.clone())
        .unwrap_or_else(|| {
            let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "host".into());
            format!(
                "{}-{}",
                civitas_nats::token(host.trim()),
                std::process::id()
            )
        });
    let rt = engine::tokio()?;
    let store = rt.block_on(engine::open_store_unsigned(&cfg))?;
    let nats = rt
        .block_on(Nats::connect(&settings(&cfg)?, Duration::from_secs(30)))
        .context("connecting the worker to NATS")?;
    let bus = NatsBus::start(nats.clone(), rt.handle());
    let epochs = rt.block_on(Epochs::open(&nats))?;
    let members = rt.block_on(membership::Membership::join(
        &nats,
        &me,
        Duration::from_millis(cfg.bus.heartbeat_ms),
        Duration::from_millis(cfg.bus.lease_ms),
    ))?;
    let mut lists = rt.block_on(load_lists(&store))?;
    let cameras: Vec<CameraConfig> = cfg
        .cameras
        .iter()
        .filter(|c| {
            if c.url == PUSH_URL {
                eprintln!(
                    "worker {me}: camera {} pushes snapshots to the command centre; run it with `civitas run`",
                    c.id
                );
            }
            c.url != PUSH_URL
        })
        .cloned()
        .collect();
    eprintln!(
        "worker {me}: {} camera(s) in the config, NATS {} namespace {}; claiming after one lease ({} ms)",
        cameras.len(),
        cfg.bus.nats_url,
        cfg.bus.namespace,
        cfg.bus.lease_ms
    );
    let until = a
        .for_seconds
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let i = interrupted.clone();
        rt.spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            i.store(true, Ordering::SeqCst);
        });
    }
    let mut running: HashMap<String, Running> = HashMap::new();
    // File cameras analysed to their end, and cameras that failed to start (config errors).
    let mut done: HashSet<String> = HashSet::new();
    // File cameras analysed to their end, not yet marked so on NATS.
    let mut unfinished: Vec<(String, i64)> = Vec::new();
    let mut last_refresh = Instant::now();
    loop {
        let over = interrupted.load(Ordering::SeqCst) || until.is_some_and(|u| Instant::now() >= u);
        // Reap cameras whose thread ended.
        let ended: Vec<String> = running
            .iter()
            .filter(|(_, r)| r.thread.is_finished())
            .map(|(id, _)| id.clone())
            .collect();
        for id in ended {
            let r = running.remove(&id).expect("listed above");
            let moved = r.stop.load(Ordering::SeqCst);
            let result = r.thread.join().unwrap_or_else(|_| {
                Err(civitas_base::Error::internal(format!(
                    "camera {id}: analysis thread panicked"
                )))
            });
            let error = result.err().map(|e| format!("camera {id}: {}", e.chain()));
            if moved && error.is_none() {
                eprintln!("worker {me}: camera {id} handed over");
                continue;
            }
            if over && error.is_none() {
                continue;
            }
            if let (Some(epoch), None) = (r.epoch_ms, &error) {
                unfinished.push((id.clone(), epoch));
            }
            done.insert(id.clone());
            eprintln!(
                "worker {me}: camera {id} {}",
                error.as_deref().unwrap_or("reached its end")
            );
            bus.publish(Event::CameraStopped {
                camera: CameraId(id),
                error,
            });
        }
        // Marking a file camera finished needs NATS; while it is away, try again next round.
        unfinished.retain(|(id, epoch)| match rt.block_on(epochs.finish(id, *epoch)) {
            Ok(()) => false,
            Err(e) => {
                tracing::warn!(camera = %id, error = %e, "marking a file camera finished; will retry");
                true
            }
        });
        if over {
            break;
        }
        let view = members.view();
        for cam in &cameras {
            let mine = membership::owner(&cam.id, &view.live) == Some(members.me.as_str());
            match running.get(&cam.id) {
                // Another worker owns it now (and we can hear the others): hand it over.
                Some(r) if !mine && view.settled => r.stop.store(true, Ordering::SeqCst),
                None if mine && view.settled && !done.contains(&cam.id) => {
                    let epoch = if is_file(cam) {
                        let e = match rt.block_on(epochs.claim(&cam.id, SystemClock.now())) {
                            Ok(e) => e,
                            Err(e) => {
                                // NATS away: claim it next round.
                                tracing::warn!(camera = %cam.id, error = %e, "reading a file camera's epoch; will retry");
                                continue;
                            }
                        };
                        if e.finished {
                            done.insert(cam.id.clone());
                            continue;
                        }
                        Some(e.epoch_ms)
                    } else {
                        None
                    };
                    eprintln!(
                        "worker {me}: taking camera {} ({} live worker(s){})",
                        cam.id,
                        view.live.len(),
                        epoch
                            .map(|e| format!(", file epoch {e}"))
                            .unwrap_or_default()
                    );
                    running.insert(
                        cam.id.clone(),
                        start_camera(
                            &cfg,
                            cam,
                            &lists,
                            epoch,
                            a.fast,
                            until,
                            Arc::new(bus.clone()),
                        )?,
                    );
                }
                _ => {}
            }
        }
        if last_refresh.elapsed() >= Duration::from_secs(2) {
            last_refresh = Instant::now();
            match rt.block_on(store.watchlist_version()) {
                Ok(v) if v != lists.version => match rt.block_on(load_lists(&store)) {
                    Ok(fresh) => {
                        lists = fresh;
                        for (id, r) in &running {
                            r.lists.set(
                                Arc::new(engine::watchlist_for(&lists.entries, id)?),
                                Arc::new(engine::hotlist_for(&lists.hot, id)),
                            );
                        }
                        eprintln!(
                            "worker {me}: watchlists changed; refreshed {} camera(s)",
                            running.len()
                        );
                    }
                    // The store busy or away: the version is read again in 2 s.
                    Err(e) => tracing::warn!(error = %e, "reloading the watchlists; will retry"),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "checking the watchlists for changes"),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for r in running.values() {
        r.stop.store(true, Ordering::SeqCst);
    }
    for (id, r) in running {
        if let Ok(Err(e)) = r.thread.join() {
            eprintln!("worker {me}: camera {id}: {}", e.chain());
        }
    }
    let pending = rt.block_on(bus.flush(Duration::from_secs(30)));
    rt.block_on(members.leave());
    if pending > 0 {
        anyhow::bail!("worker {me}: {pending} result(s) not acknowledged by NATS before stopping");
    }
    eprintln!(
        "worker {me}: stopped; {} event(s) published, {} repeat(s) dropped by JetStream, {} publish attempt(s) retried",
        bus.counters.published.load(Ordering::SeqCst),
        bus.counters.duplicates.load(Ordering::SeqCst),
        bus.counters.retries.load(Ordering::SeqCst)
    );
    Ok(())
}

fn start_camera(
    cfg: &Config,
    cam: &CameraConfig,
    lists: &Lists,
    epoch_ms: Option<i64>,
    fast: bool,
    until: Option<Instant>,
    bus: Arc<NatsBus>,
) -> Result<Running> {
    let stop = Arc::new(AtomicBool::new(false));
    let updates = Arc::new(ListUpdates::default());
    let thread = camera::spawn(
        CameraTask {
            cfg: cfg.clone(),
            camera: cam.clone(),
            watchlist: Arc::new(engine::watchlist_for(&lists.entries, &cam.id)?),
            hotlist: Arc::new(engine::hotlist_for(&lists.hot, &cam.id)),
            source: None,
            recorder: None,
            realtime: cam.realtime && !fast,
            until,
            stop: stop.clone(),
            console: None,
            epoch: epoch_ms.map(Timestamp),
            lists: Some(updates.clone()),
            clock: Arc::new(SystemClock),
            announce_stop: false,
        },
        bus,
    )?;
    Ok(Running {
        stop,
        lists: updates,
        thread,
        epoch_ms,
    })
}
