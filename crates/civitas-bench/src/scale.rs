//! `civitas bench scale`: the load simulation of a national deployment.
//!
//! STAND-IN AT THE MODEL BOUNDARY: no camera is decoded and no network
//! runs. Each simulated camera yields one frame per `1/fps` s (cameras
//! staggered over the period); the stand-in detector busy-waits a fixed
//! `--detect-us` per frame and reports one face at a random place with a
//! synthetic template (a stranger's, or every `--match-every` frames one
//! close to an enrolled entry's). Everything after it is the real code:
//! `FaceMatcher` (watchlist search with expiry, IoU tracking, candidate
//! decision, face crop JPEG), the worker's `NatsBus` to NATS JetStream (a
//! real server; per-frame counts over core NATS), the store writer of
//! `civitas serve` (`Writer` fed by the durable consumer: SQLite, audit
//! append, stable-key dedup) and the command centre's live push (the
//! console's live channel, which the SSE route streams).
//!
//! Workers are threads here, each with its own NATS connection and share of
//! the cameras (`camera index mod workers`), as separate processes would have.

use anyhow::{Context, Result};
use civitas_base::{Clock, SystemClock};
use civitas_model::{BBox, CameraId, FaceDetection, FaceTemplate, Landmarks5, RgbImage};
use civitas_nats::{Handled, Nats, NatsBus, NatsSettings, consume};
use civitas_pipeline::face::{FaceMatcher, FaceStageConfig};
use civitas_pipeline::{Bus, Event};
use civitas_runtime::writer::Writer;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Simulated cameras.
    #[arg(long, default_value_t = 5000)]
    cameras: usize,
    /// Analysed frames per second per camera.
    #[arg(long, default_value_t = 1.0)]
    fps: f64,
    /// Seconds of load per worker count.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Worker counts to try, e.g. 1,2,4.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 2, 4])]
    workers: Vec<usize>,
    /// The stand-in detector's fixed cost per frame, in microseconds (busy-wait).
    #[arg(long, default_value_t = 100)]
    detect_us: u64,
    /// One frame in this many shows a watchlisted person (per camera).
    #[arg(long, default_value_t = 600)]
    match_every: u64,
    /// Enrolled entries in the watchlist.
    #[arg(long, default_value_t = 1000)]
    entries: usize,
    /// NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[arg(long)]
    json: bool,
}

/// splitmix64: a reproducible generator, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn template(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..128).map(|_| self.unit() - 0.5).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn near(base: &[f32], rng: &mut Rng) -> FaceTemplate {
    let v: Vec<f32> = base.iter().map(|x| x + (rng.unit() - 0.5) * 0.02).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    FaceTemplate::new(v.into_iter().map(|x| x / n).collect())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Debug, serde::Serialize)]
struct Figures {
    workers: usize,
    cameras: usize,
    offered_fps: f64,
    sustained_fps: f64,
    frames: u64,
    frame_lateness_p50_ms: f64,
    frame_lateness_p99_ms: f64,
    candidates_published: u64,
    candidates_stored: u64,
    duplicates_stored: u64,
    result_latency_p50_ms: f64,
    result_latency_p99_ms: f64,
    bus_to_live_p50_ms: f64,
    bus_to_live_p99_ms: f64,
    drain_s: f64,
    /// Candidates stored per second over the run and its drain (the writer's rate when it is the bottleneck).
    stored_per_s: f64,
    cpu_cores: f64,
}

pub fn main(a: Args) -> Result<()> {
    let mut all = Vec::new();
    eprintln!(
        "bench scale: STAND-IN DETECTOR ({} µs busy-wait, one synthetic face per frame); {} cameras at {} fps; everything after the detector real",
        a.detect_us, a.cameras, a.fps
    );
    for &w in &a.workers {
        let f = run_one(&a, w.max(1))?;
        eprintln!(
            "workers {w}: {:.0}/{:.0} frames/s, lateness p50 {:.0} ms p99 {:.0} ms, {} candidate(s) stored of {} published ({} duplicated), capture→stored+live p50 {:.0} ms p99 {:.0} ms (of which decided→stored+live p50 {:.1} ms p99 {:.1} ms), drained in {:.1} s ({:.0} stored/s), {:.2} cores",
            f.sustained_fps,
            f.offered_fps,
            f.frame_lateness_p50_ms,
            f.frame_lateness_p99_ms,
            f.candidates_stored,
            f.candidates_published,
            f.duplicates_stored,
            f.result_latency_p50_ms,
            f.result_latency_p99_ms,
            f.bus_to_live_p50_ms,
            f.bus_to_live_p99_ms,
            f.drain_s,
            f.stored_per_s,
            f.cpu_cores
        );
        all.push(f);
    }
    let needed = all
        .iter()
        .find(|f| {
            f.sustained_fps >= 0.99 * f.offered_fps && f.frame_lateness_p99_ms < 1000.0 / a.fps
        })
        .map(|f| f.workers);
    if a.json {
        println!(
            "{}",
            serde_json::json!({"detect_us": a.detect_us, "stand_in_detector": true, "runs": all, "workers_needed": needed})
        );
    } else {
        match needed {
            Some(n) => println!("workers needed on this machine: {n}"),
            None => println!("no tried worker count kept up"),
        }
    }
    Ok(())
}

fn run_one(a: &Args, workers: usize) -> Result<Figures> {
    let rt = civitas_runtime::engine::tokio()?;
    let dir = std::env::temp_dir().join(format!(
        "civitas-bench-scale-{}-{workers}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir)?;
    let key = Arc::new(civitas_audit::AuditKey::from_seed([7; 32]));
    let store = rt
        .block_on(civitas_store::Store::open(&dir.join("scale.db")))?
        .with_audit_key(key.clone());
    let now = SystemClock.now();
    let basis = civitas_model::LegalBasisInput {
        kind: "court-order".into(),
        authority: "Load simulation".into(),
        reference: "SIM-1".into(),
        purpose: "load simulation".into(),
        expires: "2099-01-01".into(),
    }
    .validate(now)
    .map_err(anyhow::Error::msg)?;
    let sup = civitas_auth::Actor {
        username: "bench".into(),
        role: civitas_auth::Role::Supervisor,
        scope: vec!["*".into()],
    };
    let mut rng = Rng(42);
    let mut enrolled = Vec::new();
    for i in 0..a.entries {
        let t = rng.template();
        enrolled.push(t.clone());
        let template = FaceTemplate::new(t).into_enrolled_bytes(&basis);
        let name = format!("entry {i}");
        let all = ["*".to_owned()];
        let e = civitas_store::Enrolment::new(&name, &basis, &all, vec![("sim".into(), template)]);
        rt.block_on(store.enroll(&sup, e, now))?;
    }
    let entries = rt.block_on(store.watchlist())?;
    let wl = Arc::new(civitas_runtime::engine::watchlist_for(&entries, "any")?);
    let enrolled = Arc::new(enrolled);
    let console = civitas_api::CommandCentre::new(
        store.clone(),
        Arc::new(SystemClock),
        civitas_store::ReviewPolicy::default(),
        key.public(),
        civitas_api::Settings::default(),
    );
    let ns = format!("bench_{}_{workers}", std::process::id());
    let settings = NatsSettings::local(&a.nats_url, ns);
    let nats = rt
        .block_on(Nats::connect(&settings, Duration::from_secs(10)))
        .context("the load simulation needs NATS with JetStream")?;
    let policy = civitas_store::ReviewPolicy::default();
    let retention = civitas_store::PlateRetention::default();
    // Live push: what the console's SSE route would stream.
    let result_latency = Arc::new(Mutex::new(Vec::<f64>::new()));
    let bus_latency = Arc::new(Mutex::new(Vec::<f64>::new()));
    // When each candidate was handed to the bus, by (camera, frame time).
    let handed: Arc<Mutex<std::collections::HashMap<(String, i64), Instant>>> = Default::default();
    let mut live = console.live.subscribe();
    let (lat, blat, handed2) = (result_latency.clone(), bus_latency.clone(), handed.clone());
    rt.spawn(async move {
        while let Ok(ev) = live.recv().await {
            if let civitas_api::LivePayload::Candidate(n) = &ev.payload {
                let (t, cam) = (n.frame_time_ms, n.camera.as_str());
                let ms = (SystemClock.now().0 - t) as f64;
                lat.lock().unwrap_or_else(|p| p.into_inner()).push(ms);
                if let Some(at) = handed2
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&(cam.to_owned(), t))
                {
                    let ms = at.elapsed().as_secs_f64() * 1000.0;
                    blat.lock().unwrap_or_else(|p| p.into_inner()).push(ms);
                }
            }
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let console = Arc::new(console);
    let writer_task = {
        let (nats, store, console) = (nats.clone(), store.clone(), console);
        rt.spawn(async move {
            let writer = Writer::new(&store, &console, &policy, &retention, &SystemClock);
            let w = &writer;
            consume(&nats, "store", stop_rx, move |ev, _| async move {
                match w.apply(ev).await {
                    Ok(_) => Handled::Done,
                    Err(e) => Handled::Retry(e.chain()),
                }
            })
            .await
        })
    };
    let frames = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let lateness = Arc::new(Mutex::new(Vec::<f64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let cpu0 = crate::cpu_seconds()?;
    let start = Instant::now() + Duration::from_millis(500);
    let period = Duration::from_secs_f64(1.0 / a.fps);
    let mut threads = Vec::new();
    let mut buses = Vec::new();
    for wi in 0..workers {
        let nats = rt.block_on(Nats::connect(&settings, Duration::from_secs(10)))?;
        let bus = NatsBus::start(nats, rt.handle());
        buses.push(bus.clone());
        let cams: Vec<usize> = (0..a.cameras).filter(|c| c % workers == wi).collect();
        let handed = handed.clone();
        let (wl, enrolled, frames, published, lateness, stop) = (
            wl.clone(),
            enrolled.clone(),
            frames.clone(),
            published.clone(),
            lateness.clone(),
            stop.clone(),
        );
        let (detect, match_every, total) =
            (Duration::from_micros(a.detect_us), a.match_every, a.cameras);
        threads.push(std::thread::spawn(move || {
            let frame = RgbImage::zeros(640, 360);
            let mut rng = Rng(wi as u64 + 1);
            let mut matchers: Vec<FaceMatcher> = cams
                .iter()
                .map(|c| {
                    FaceMatcher::new(
                        CameraId(format!("cam-{c:05}")),
                        wl.clone(),
                        FaceStageConfig::default(),
                    )
                })
                .collect();
            let mut late = Vec::new();
            let mut k = 0u64;
            while !stop.load(Ordering::SeqCst) {
                for (j, m) in matchers.iter_mut().enumerate() {
                    // Camera j's frame k, cameras staggered over the period.
                    let due = start + period.mul_f64(k as f64 + (cams[j] as f64 / total as f64));
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let captured = SystemClock.now();
                    let spin = Instant::now();
                    while spin.elapsed() < detect {
                        std::hint::spin_loop();
                    }
                    let (x, y) = (rng.unit() * 560.0, rng.unit() * 280.0);
                    let face = FaceDetection {
                        bbox: BBox::new(x, y, x + 60.0, y + 60.0),
                        landmarks: Landmarks5([
                            [x + 20.0, y + 25.0],
                            [x + 40.0, y + 25.0],
                            [x + 30.0, y + 35.0],
                            [x + 22.0, y + 45.0],
                            [x + 38.0, y + 45.0],
                        ]),
                        score: 0.9,
                    };
                    let tpl = if (k + cams[j] as u64 * 7919).is_multiple_of(match_every) {
                        near(
                            &enrolled[(rng.next() % enrolled.len() as u64) as usize],
                            &mut rng,
                        )
                    } else {
                        FaceTemplate::new(rng.template())
                    };
                    let offset_ms = (k as f64 * period.as_secs_f64() * 1000.0) as i64;
                    let out = m.observe(
                        &frame,
                        vec![face],
                        vec![tpl],
                        &[],
                        offset_ms,
                        captured,
                        captured,
                    );
                    for c in out.candidates {
                        published.fetch_add(1, Ordering::SeqCst);
                        handed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert((c.camera.0.clone(), c.frame_time.0), Instant::now());
                        bus.publish(Event::Candidate(c));
                    }
                    let since = due.elapsed().as_secs_f64() * 1000.0;
                    bus.publish(Event::FrameAnalysed {
                        camera: CameraId(format!("cam-{:05}", cams[j])),
                        offset_ms,
                        faces: out.faces,
                        too_small: out.too_small,
                        unknown: out.unknown,
                        analyse_ms: spin.elapsed().as_secs_f64() * 1000.0,
                        since_arrival_ms: since,
                    });
                    late.push(since);
                    frames.fetch_add(1, Ordering::SeqCst);
                }
                k += 1;
            }
            // Tracks still open at the end decide now.
            for m in &mut matchers {
                for c in m.finish() {
                    published.fetch_add(1, Ordering::SeqCst);
                    bus.publish(Event::Candidate(c));
                }
            }
            lateness
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(late);
        }));
    }
    std::thread::sleep(Duration::from_secs_f64(a.seconds) + Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let ran = start.elapsed().as_secs_f64();
    let n_frames = frames.load(Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let drain_t = Instant::now();
    for b in &buses {
        rt.block_on(b.flush(Duration::from_secs(120)));
    }
    let want = published.load(Ordering::SeqCst);
    let stream = rt.block_on(nats.events_stream())?;
    loop {
        let left = rt
            .block_on(async { stream.clone().info().await.map(|i| i.state.messages) })
            .unwrap_or(1);
        if left == 0 || drain_t.elapsed() > Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let drain_s = drain_t.elapsed().as_secs_f64();
    let cpu = crate::cpu_seconds()? - cpu0;
    let _ = stop_tx.send(true);
    let _ = rt.block_on(writer_task);
    let stored = rt.block_on(store.candidates(1_000_000))?;
    let keys: std::collections::HashSet<String> =
        stored.iter().map(|c| c.candidate.key()).collect();
    let _ = rt.block_on(nats.js.delete_stream(nats.events_stream_name()));
    rt.block_on(store.close());
    let _ = std::fs::remove_dir_all(&dir);
    let mut late = std::mem::take(&mut *lateness.lock().unwrap_or_else(|p| p.into_inner()));
    let mut rl = std::mem::take(&mut *result_latency.lock().unwrap_or_else(|p| p.into_inner()));
    let mut bl = std::mem::take(&mut *bus_latency.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Figures {
        workers,
        cameras: a.cameras,
        offered_fps: a.cameras as f64 * a.fps,
        sustained_fps: n_frames as f64 / ran,
        frames: n_frames,
        frame_lateness_p50_ms: pct(&mut late, 0.5),
        frame_lateness_p99_ms: pct(&mut late, 0.99),
        candidates_published: want,
        candidates_stored: stored.len() as u64,
        duplicates_stored: (stored.len() - keys.len()) as u64,
        result_latency_p50_ms: pct(&mut rl, 0.5),
        result_latency_p99_ms: pct(&mut rl, 0.99),
        bus_to_live_p50_ms: pct(&mut bl, 0.5),
        bus_to_live_p99_ms: pct(&mut bl, 0.99),
        drain_s,
        stored_per_s: stored.len() as f64 / (ran + drain_s),
        cpu_cores: cpu / (ran + drain_s),
    })
}
