//! `civitas run`: the main job. Starts every configured camera (see
//! `civitas_runtime::camera`), the command centre and the sinks, and feeds
//! the in-process bus to the store writer until every camera has stopped.

use crate::cmds::analyze::{describe, describe_pass};
use anyhow::Result;
use civitas_base::{Clock, SystemClock};
use civitas_pipeline::{Bus, InProcessBus};
use civitas_runtime::camera::{CameraTask, spawn};
use civitas_runtime::http::{Api, start_api};
use civitas_runtime::writer::{Applied, Stored, Writer};
use civitas_runtime::{engine, mqtt, recording};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Analyse files as fast as possible instead of at their own speed.
    #[arg(long)]
    fast: bool,
    /// Stop after this many seconds (live cameras otherwise run until interrupted).
    #[arg(long)]
    for_seconds: Option<f64>,
    /// Keep the command centre up after every camera has stopped (until Ctrl-C).
    #[arg(long)]
    keep_serving: bool,
}

/// Prints one line for each stored result.
pub fn print_result(s: Stored<'_>) {
    match s {
        Stored::Candidate(c) => println!("{}", describe(c)),
        Stored::Pass(p) => println!("{}", describe_pass(p)),
    }
}

pub fn main(config: &Path, a: Args) -> Result<()> {
    let cfg = engine::load_config(config)?;
    if cfg.cameras.is_empty() {
        anyhow::bail!(
            "config {}: no [[camera]] configured; see config/demo.toml",
            config.display()
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let rt = engine::tokio()?;
    let store = rt.block_on(engine::open_store(&cfg))?;
    rt.block_on(engine::audit_config(&store, config))?;
    eprintln!(
        "civitas: {} camera(s), store {}",
        cfg.cameras.len(),
        engine::store_label(&cfg)
    );
    let policy = engine::review_policy(&cfg);
    // Read once; each camera gets the entries whose legal basis covers it.
    let entries = rt.block_on(store.watchlist())?;
    let hot_entries = rt.block_on(store.hotlist_entries())?;
    let retention = engine::plate_retention(&cfg);
    let until = a
        .for_seconds
        .map(|s| std::time::Instant::now() + std::time::Duration::from_secs_f64(s));
    let bus = Arc::new(InProcessBus::default());
    let mut rx = bus.subscribe();
    let Api {
        mut push_sources,
        console,
        stop: api_stop,
        hooks_stop,
    } = start_api(&cfg, &rt, &store, until, clock.clone())?;
    let mqtt = cfg.mqtt.enabled.then(|| {
        eprintln!(
            "civitas: publishing events to MQTT at {}:{} under {}/",
            cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.topic_prefix
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = rt.spawn(mqtt::forward(
            cfg.mqtt.clone(),
            console.live.subscribe(),
            rx,
        ));
        (tx, task)
    });
    let (recordings, mut rec_inputs) = recording::start(&cfg, &rt, &store, console.clone())?;
    let mut handles = Vec::new();
    for cam in &cfg.cameras {
        let watchlist = Arc::new(engine::watchlist_for(&entries, &cam.id)?);
        let hotlist = Arc::new(engine::hotlist_for(&hot_entries, &cam.id));
        if cam.anpr {
            eprintln!(
                "camera {}: reads plates; {} hotlist entr(ies) whose legal basis covers it",
                cam.id,
                hotlist.entries.len()
            );
        }
        eprintln!(
            "camera {}: {} enrolled template(s) whose legal basis covers it",
            cam.id,
            watchlist.index.len()
        );
        eprintln!(
            "camera {} ({}): {} — purpose: {}; owner: {}",
            cam.id,
            cam.name,
            civitas_ingest::rtsp::mask_url(&cam.url),
            cam.purpose,
            cam.owner
        );
        let thread = spawn(
            CameraTask {
                cfg: cfg.clone(),
                camera: cam.clone(),
                watchlist,
                hotlist,
                source: push_sources
                    .remove(&cam.id)
                    .map(|p| Box::new(p) as Box<dyn civitas_ingest::FrameSource>),
                recorder: rec_inputs.remove(&cam.id),
                realtime: cam.realtime && !a.fast,
                until,
                stop: Arc::new(AtomicBool::new(false)),
                console: Some(console.clone()),
                epoch: None,
                lists: None,
                clock: clock.clone(),
                announce_stop: true,
            },
            bus.clone(),
        )?;
        handles.push(thread);
    }
    let cameras = cfg.cameras.len();
    let (stored, failed) = rt.block_on(async {
        let writer = Writer {
            recordings: Some(&recordings),
            on_result: Some(&print_result),
            ..Writer::new(&store, &console, &policy, &retention, clock.as_ref())
        };
        let (mut stopped, mut stored, mut failed) = (0, 0u64, 0usize);
        while stopped < cameras {
            let Some(ev) = rx.recv().await else { break };
            console.metrics.set(
                "civitas_bus_queue_depth",
                &[("sink", "store")],
                rx.len() as f64,
            );
            match writer.apply(ev).await? {
                Applied::Stored => stored += 1,
                Applied::Stopped { failed: f } => {
                    stopped += 1;
                    failed += usize::from(f);
                }
                Applied::Other | Applied::Repeat => {}
            }
        }
        if a.keep_serving {
            eprintln!(
                "civitas: every camera has stopped; the command centre stays up until interrupted (Ctrl-C)"
            );
            let _ = tokio::signal::ctrl_c().await;
        }
        recordings.stop().await;
        let _ = api_stop.send(());
        let _ = hooks_stop.send(true);
        if let Some((stop, task)) = mqtt {
            let _ = stop.send(());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
        store.close().await;
        anyhow::Ok((stored, failed))
    })?;
    let (mut frames, mut faces, mut skipped) = (0, 0, 0);
    for s in handles.into_iter().filter_map(|h| h.join().ok()?.ok()) {
        frames += s.frames;
        faces += s.faces;
        skipped += s.skipped_no_motion;
    }
    println!(
        "civitas: done — {frames} frame(s) sampled ({skipped} skipped without motion), {faces} face(s) seen, {stored} candidate(s) stored for human review in {}",
        engine::store_label(&cfg)
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {cameras} camera(s) failed (see above)");
    }
    Ok(())
}
