//! `civitas bench`: speed figures for BENCHMARKS.md (not tests). A crate of
//! its own so the running system (`civitas-runtime`) and the command line
//! (`civitas`) carry none of it; the binary only parses `civitas bench`'s
//! arguments into [`Cmd`] and calls [`main`]. (Over 600 lines: one
//! function per benchmark, independent of each other.)

pub mod login;
pub mod scale;

use anyhow::Result;
use civitas_base::Timestamp;
use civitas_model::{EntryId, FaceTemplate};
use civitas_runtime::engine;
use civitas_vision::WatchlistIndex;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Per-stage timing of the face pipeline on a clip or folder.
    Pipeline {
        /// Video file, image or folder.
        input: PathBuf,
        /// Frames analysed per second of video.
        #[arg(long, default_value_t = 5.0)]
        fps: f64,
        /// Stop after this many frames.
        #[arg(long, default_value_t = 100)]
        frames: u64,
        #[arg(long)]
        json: bool,
    },
    /// H.264 decode throughput on one core (openh264, with and without RGB
    /// conversion) beside `ffmpeg -threads 1 -i FILE -f null -` on the same file.
    Decode {
        /// An Annex B `.h264` file.
        input: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// A fleet of RTSP cameras in this process: decode + motion gate at FPS
    /// analysed frames per second each, detectors off. Reports the CPU this
    /// process used (so cameras per core), the sampled rate each camera
    /// sustained, and frame-to-analysis latency p50/p99 (from the access
    /// unit's arrival off the network to the motion gate's decision).
    /// Pin it to one core with `taskset -c N` to find what one core sustains.
    Fleet {
        /// RTSP URL every camera opens (a shared GStreamer mount: scripts/bench-fleet).
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 8)]
        cameras: usize,
        /// Analysed frames per second per camera.
        #[arg(long, default_value_t = 2.0)]
        fps: f64,
        /// Measured seconds (after 3 s of warm-up).
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// Also record every camera continuously into this folder (what recording adds).
        #[arg(long)]
        record: Option<std::path::PathBuf>,
        /// H.264 decoder: openh264 or libavcodec.
        #[arg(long, default_value = "openh264")]
        decoder: String,
        #[arg(long)]
        json: bool,
    },
    /// Audit log: append rate, verify time at ENTRIES, and what auditing adds to storing a match.
    Audit {
        /// Entries in the log when verifying.
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        /// Single-transaction appends timed for the append rate.
        #[arg(long, default_value_t = 5_000)]
        appends: usize,
        /// How the log is filled to ENTRIES: `each` (one signed head per
        /// entry, as the service writes them, so verify checks a million
        /// signatures) or `batch` (one head per 10,000 entries).
        #[arg(long, default_value = "each")]
        fill: String,
        #[arg(long)]
        json: bool,
    },
    /// Password guessing: GUESSES wrong passwords for one name at once from
    /// one address against the real API on loopback, while the owner logs
    /// in from another; the guesses' answers and latency, and the owner's.
    Login {
        #[arg(long, default_value_t = 50)]
        guesses: usize,
        #[arg(long)]
        json: bool,
    },
    /// Webhook delivery: incidents opened through the store at RATE per
    /// second, delivered by the real deliverer to a loopback receiver that
    /// answers 500 to a fraction FAIL_RATE of requests. Reports delivery
    /// latency (commit to first accepted request) p50/p95/p99/max, attempts
    /// per event, and events lost or delivered twice.
    Webhooks {
        #[arg(long, default_value_t = 200)]
        events: usize,
        /// Incidents opened per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// Fraction of requests the receiver refuses with 500.
        #[arg(long, default_value_t = 0.5)]
        fail_rate: f64,
        /// First retry delay (the config's default is 250).
        #[arg(long, default_value_t = 250)]
        backoff_initial_ms: u64,
        #[arg(long, default_value_t = 60_000)]
        backoff_max_ms: u64,
        #[arg(long)]
        json: bool,
    },
    /// Forensic plate search over READS stored plate reads (random plates of
    /// the EC format spread over one day on CAMERAS cameras, as a national
    /// system's 24-hour no-hit retention holds them): time per search for an
    /// exact plate, a partial one and a confusable one, over a day and an hour.
    PlateSearch {
        #[arg(long, default_value_t = 10_000_000)]
        reads: usize,
        #[arg(long, default_value_t = 5_000)]
        cameras: usize,
        /// Keep the database here (reused when it already holds READS reads).
        #[arg(long)]
        db: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Evidence redaction: decode CLIP, blur every face (SCRFD + dlib
    /// templates; no subject kept) and, with --plates, every line of text
    /// (PP-OCRv4), re-encode with libx264. Reports frames per second and
    /// seconds per minute of video.
    Redact {
        clip: std::path::PathBuf,
        #[arg(long)]
        plates: bool,
        #[arg(long)]
        json: bool,
    },
    /// Load simulation of a national deployment: thousands of cameras
    /// behind a STAND-IN detector of fixed cost, everything after it real
    /// (matching, NATS JetStream, the store writer, audit, live push).
    Scale(crate::scale::Args),
    /// The store writer's hot path on SQLite beside PostgreSQL: idempotent,
    /// audited candidate writes (one transaction each: key check, rejection
    /// window, row, audit entry, signed head), one writer and four at once.
    Store {
        /// Candidates per backend and writer count.
        #[arg(long, default_value_t = 2000)]
        candidates: usize,
        /// PostgreSQL server (a database is created for the run and dropped).
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        pg_url: String,
        #[arg(long)]
        json: bool,
    },
    /// Exact watchlist search over random normalised 128-d templates.
    Search {
        /// Watchlist size.
        #[arg(long, default_value_t = 100_000)]
        entries: usize,
        /// Probes to time.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        #[arg(long)]
        json: bool,
    },
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
pub(crate) fn cpu_seconds() -> Result<f64> {
    let s = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start after ')'.
    let rest = s
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/stat"))?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        Ok(f.get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/self/stat"))?
            .parse::<f64>()?)
    };
    // utime and stime are fields 14 and 15 (1-based); after ')' they are 11 and 12 (0-based from state = 0).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

fn bench_fleet(
    url: &str,
    cameras: usize,
    fps: f64,
    seconds: f64,
    h264: civitas_ingest::avcodec::H264Backend,
    record: Option<&std::path::Path>,
    json: bool,
) -> Result<()> {
    use civitas_ingest::recorder::{self, Mode, RealFs, RecorderConfig};
    use civitas_ingest::rtsp::{RtspSource, Transport};
    use civitas_pipeline::motion::{MotionConfig, MotionGate};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    anyhow::ensure!(cameras > 0, "--cameras must be at least 1");
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let mut threads = Vec::new();
    let mut healths = Vec::new();
    let mut recorders = Vec::new();
    for i in 0..cameras {
        let input = match record {
            Some(dir) => {
                let (input, handle, thread) = recorder::start(
                    RecorderConfig {
                        camera: format!("fleet-{i}"),
                        dir: dir.to_owned(),
                        mode: Mode::Continuous,
                        pre_roll: Duration::from_secs(10),
                        post_roll: Duration::from_secs(10),
                        event_delay: Duration::from_secs(8),
                        segment: Duration::from_secs(300),
                    },
                    RealFs,
                    Box::new(|_| {}),
                )?;
                recorders.push((handle, thread));
                Some(input)
            }
            None => None,
        };
        let mut src = RtspSource::start_recording(
            &format!("fleet-{i}"),
            url,
            fps,
            Transport::Tcp,
            h264,
            input,
        )?;
        healths.push(
            civitas_ingest::FrameSource::health(&src)
                .ok_or_else(|| anyhow::anyhow!("an RTSP source without health"))?,
        );
        let (measuring, stop, latencies) = (measuring.clone(), stop.clone(), latencies.clone());
        threads.push(std::thread::spawn(move || {
            let mut gate = MotionGate::new(MotionConfig::default());
            let (mut analysed, mut lat) = (0u64, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                let Some(f) = src.next_timeout(Duration::from_millis(200)) else {
                    continue;
                };
                gate.admit(&f.image, f.offset_ms);
                if measuring.load(Ordering::SeqCst) {
                    lat.push(f.arrived.elapsed().as_secs_f64() * 1000.0);
                    analysed += 1;
                }
            }
            latencies
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend(lat);
            analysed
        }));
    }
    std::thread::sleep(Duration::from_secs(3));
    let decoded0: u64 = healths.iter().map(|h| h.get().frames_decoded).sum();
    let rec_bytes = |r: &[(recorder::RecorderHandle, std::thread::JoinHandle<()>)]| -> u64 {
        r.iter().map(|(h, _)| h.health().bytes).sum()
    };
    let bytes0 = rec_bytes(&recorders);
    let cpu0 = cpu_seconds()?;
    let t0 = Instant::now();
    measuring.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    measuring.store(false, Ordering::SeqCst);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds()? - cpu0;
    let written = rec_bytes(&recorders) - bytes0;
    let dropped: u64 = recorders.iter().map(|(h, _)| h.health().dropped).sum();
    let decoded: u64 = healths.iter().map(|h| h.get().frames_decoded).sum::<u64>() - decoded0;
    let offline = healths
        .iter()
        .filter(|h| h.get().state != civitas_ingest::rtsp::CameraState::Online)
        .count();
    stop.store(true, Ordering::SeqCst);
    let analysed: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    let mut lat = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let cores = cpu / wall;
    let per_cam_fps = analysed as f64 / wall / cameras as f64;
    let report = serde_json::json!({
        "cameras": cameras, "fps_target": fps, "seconds": wall, "decoder": format!("{h264:?}").to_lowercase(),
        "analysed_fps_per_camera": per_cam_fps,
        "decoded_fps_per_camera": decoded as f64 / wall / cameras as f64,
        "cpu_cores_used": cores,
        "cameras_per_core": cameras as f64 / cores,
        "latency_ms_p50": pct(0.50), "latency_ms_p99": pct(0.99),
        "cameras_not_online": offline,
        "recording": record.is_some(),
        "recorded_bytes_per_s_per_camera": written as f64 / wall / cameras as f64,
        "recorder_dropped_frames": dropped,
    });
    for (h, t) in recorders {
        h.stop();
        let _ = t.join();
    }
    print_report(json, &report)?;
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("civitas-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// xorshift64*: deterministic random numbers with no dependency.
struct Rng(u64);
impl Rng {
    /// xorshift64*.
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn next_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
    fn unit(&mut self, dim: usize) -> FaceTemplate {
        let v: Vec<f32> = (0..dim).map(|_| self.next_f32()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        FaceTemplate::new(v.into_iter().map(|x| x / n).collect())
    }
}

pub fn main(config: &Path, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Scale(a) => crate::scale::main(a),
        Cmd::Login { guesses, json } => {
            engine::tokio()?.block_on(crate::login::bench_login(guesses, json))
        }
        Cmd::Store {
            candidates,
            pg_url,
            json,
        } => bench_store(candidates, &pg_url, json),
        Cmd::Pipeline {
            input,
            fps,
            frames,
            json,
        } => {
            let cfg = engine::load_config(config)?;
            let mut pipe = engine::pipeline(&cfg, "bench", Default::default())?;
            let mut src = civitas_ingest::open_path(&input, fps, false)?;
            let mut decode = Duration::ZERO;
            let mut n = 0u64;
            let mut size = (0, 0);
            let wall = Instant::now();
            loop {
                if n >= frames {
                    break;
                }
                let t = Instant::now();
                let Some(f) = src.next_frame()? else { break };
                decode += t.elapsed();
                size = (f.image.width_px, f.image.height_px);
                pipe.process(&f.image, f.offset_ms, Timestamp(0), Timestamp(0))?;
                n += 1;
            }
            let wall = wall.elapsed();
            let s = pipe.stats();
            let ms = |d: Duration| d.as_secs_f64() * 1000.0 / n.max(1) as f64;
            let report = serde_json::json!({
                "input": input.display().to_string(),
                "size": format!("{}x{}", size.0, size.1),
                "frames": n,
                "faces_per_frame": s.faces as f64 / n.max(1) as f64,
                "threads_per_model": cfg.vision.threads,
                "ms_per_frame": {
                    "decode": ms(decode), "detect": ms(s.detect), "align": ms(s.align),
                    "embed": ms(s.embed), "search": ms(s.search), "track": ms(s.track),
                    "total_wall": ms(wall),
                },
                "fps": n as f64 / wall.as_secs_f64(),
            });
            print_report(json, &report)?;
            Ok(())
        }
        Cmd::Decode { input, json } => {
            let data = std::fs::read(&input)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", input.display()))?;
            let nals = civitas_ingest::h264::split_annexb(&data);
            anyhow::ensure!(
                !nals.is_empty(),
                "{}: no H.264 NAL units (is it Annex B?)",
                input.display()
            );
            let run = |rgb: bool| -> Result<(usize, f64, (usize, usize))> {
                let mut dec =
                    civitas_ingest::h264::H264Decoder::new().map_err(anyhow::Error::msg)?;
                let mut buf = Vec::new();
                let (mut frames, mut size) = (0, (0, 0));
                let t = Instant::now();
                for n in &nals {
                    if let Ok(Some(s)) = dec.decode(n, rgb.then_some(&mut buf)) {
                        frames += 1;
                        size = s;
                    }
                }
                frames += dec.flush();
                Ok((frames, t.elapsed().as_secs_f64(), size))
            };
            let (frames, yuv_s, size) = run(false)?;
            let (_, rgb_s, _) = run(true)?;
            let t = Instant::now();
            let st = std::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-threads", "1", "-i"])
                .arg(&input)
                .args(["-f", "null", "-"])
                .status()?;
            anyhow::ensure!(st.success(), "ffmpeg failed on {}", input.display());
            let ff_s = t.elapsed().as_secs_f64();
            let report = serde_json::json!({
                "input": input.display().to_string(), "size": format!("{}x{}", size.0, size.1), "frames": frames,
                "openh264_fps": frames as f64 / yuv_s, "openh264_with_rgb_fps": frames as f64 / rgb_s,
                "ffmpeg_threads1_fps": frames as f64 / ff_s,
                "ratio_openh264_to_ffmpeg": ff_s / yuv_s,
                "ratio_openh264_rgb_to_ffmpeg": ff_s / rgb_s,
            });
            print_report(json, &report)?;
            Ok(())
        }
        Cmd::Redact { clip, plates, json } => {
            let cfg = engine::load_config(config)?;
            let mut r =
                civitas_runtime::evidence::Redactor::new(&cfg, Vec::new(), plates.then_some(None))?;
            let dir = tempfile_dir()?;
            let out = dir.join("redacted.mp4");
            let t0 = Instant::now();
            let cpu0 = cpu_seconds()?;
            let frames =
                civitas_runtime::evidence::redact_clip(&clip, &out, &mut r, &mut |_, _| {})?;
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_seconds()? - cpu0;
            let (w, h, fps, _) = civitas_runtime::evidence::probe(&clip)?;
            let video_s = frames as f64 / fps;
            let report = serde_json::json!({
                "clip": clip.display().to_string(), "width": w, "height": h, "frames": frames,
                "video_seconds": video_s, "plates": plates,
                "wall_seconds": wall, "frames_per_second": frames as f64 / wall,
                "seconds_per_minute_of_video": wall / video_s * 60.0,
                "cpu_seconds_per_minute_of_video": cpu / video_s * 60.0,
                "faces_blurred": r.faces_blurred, "plates_blurred": r.plates_blurred,
            });
            let _ = std::fs::remove_dir_all(&dir);
            print_report(json, &report)?;
            Ok(())
        }
        Cmd::Fleet {
            url,
            cameras,
            fps,
            seconds,
            decoder,
            record,
            json,
        } => {
            let h264 = match decoder.as_str() {
                "openh264" => civitas_ingest::avcodec::H264Backend::Openh264,
                "libavcodec" => civitas_ingest::avcodec::H264Backend::Libavcodec,
                other => anyhow::bail!("--decoder {other:?}: openh264 or libavcodec"),
            };
            bench_fleet(&url, cameras, fps, seconds, h264, record.as_deref(), json)
        }
        Cmd::Audit {
            entries,
            appends,
            fill,
            json,
        } => {
            let each = match fill.as_str() {
                "each" => true,
                "batch" => false,
                other => anyhow::bail!("--fill {other:?}: expected each or batch"),
            };
            let rt = engine::tokio()?;
            rt.block_on(bench_audit(entries, appends, each, json))
        }
        Cmd::Webhooks {
            events,
            rate,
            fail_rate,
            backoff_initial_ms,
            backoff_max_ms,
            json,
        } => {
            let rt = engine::tokio()?;
            rt.block_on(bench_webhooks(
                events,
                rate,
                fail_rate,
                backoff_initial_ms,
                backoff_max_ms,
                json,
            ))
        }
        Cmd::PlateSearch {
            reads,
            cameras,
            db,
            json,
        } => {
            let rt = engine::tokio()?;
            rt.block_on(bench_plate_search(reads, cameras, db, json))
        }
        Cmd::Search {
            entries,
            queries,
            json,
        } => {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            let mut ix = WatchlistIndex::new(128);
            let far = Timestamp(i64::MAX);
            for i in 0..entries {
                ix.add(EntryId(i as i64), &rng.unit(128), far)?;
            }
            let probes: Vec<FaceTemplate> = (0..queries).map(|_| rng.unit(128)).collect();
            let t = Instant::now();
            let mut hits = 0;
            for p in &probes {
                if let civitas_model::MatchOutcome::Match { .. } = ix.search(p, 0.40, Timestamp(0))
                {
                    hits += 1;
                }
            }
            let per = t.elapsed().as_secs_f64() * 1000.0 / queries as f64;
            let report = serde_json::json!({"entries": entries, "queries": queries, "ms_per_query": per, "random_hits": hits});
            print_report(json, &report)?;
            Ok(())
        }
    }
}

async fn bench_webhooks(
    events: usize,
    rate: f64,
    fail_rate: f64,
    backoff_initial_ms: u64,
    backoff_max_ms: u64,
    json: bool,
) -> Result<()> {
    use civitas_api::webhooks::{Receiver, Webhook, WebhookStats, deliver};
    use civitas_model::incident::{GeoPoint, IncidentSource, IncidentType};
    use civitas_store::{NewIncident, ReviewPolicy, Store};
    use std::sync::Arc;
    anyhow::ensure!(
        events > 0 && rate > 0.0,
        "--events and --rate must be positive"
    );
    anyhow::ensure!(
        (0.0..1.0).contains(&fail_rate),
        "--fail-rate must be in [0, 1)"
    );
    let dir = std::env::temp_dir().join(format!("civitas-bench-webhooks-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key = Arc::new(civitas_audit::AuditKey::from_seed([5; 32]));
    let store = Store::open(&dir.join("w.db")).await?.with_audit_key(key);
    let secret = b"bench-webhook-secret-0123456789".to_vec();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (receiver, server) = Receiver::serve(listener, secret.clone(), fail_rate, 0x5EED);
    let mut hook = Webhook::new(
        "bench",
        &format!("http://127.0.0.1:{port}/hook"),
        secret,
        5_000,
    )?;
    hook.backoff_initial_ms = backoff_initial_ms;
    hook.backoff_max_ms = backoff_max_ms;
    store.outbox_register("bench").await?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let deliverer = tokio::spawn(deliver(
        store.clone(),
        hook,
        Arc::new(civitas_base::SystemClock),
        wake.clone(),
        Arc::new(WebhookStats::default()),
        stop_rx,
    ));
    let actor = civitas_auth::Actor {
        username: "bench".into(),
        role: civitas_auth::Role::Operator,
        scope: vec!["*".into()],
    };
    let kind = IncidentType {
        id: "robbery".into(),
        label: "Robbery".into(),
        priority: 1,
        sop: vec!["Confirm the location".into()],
    };
    let bar = indicatif::ProgressBar::new(events as u64);
    let start = Instant::now();
    let mut opened = Vec::with_capacity(events);
    for i in 0..events {
        let due = start + std::time::Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let t = Instant::now();
        let (v, _) = store
            .open_incident(
                &actor,
                NewIncident {
                    kind: kind.clone(),
                    priority: 1,
                    source: IncidentSource::Call,
                    location: GeoPoint {
                        latitude: -0.22,
                        longitude: -78.51,
                    },
                    address: String::new(),
                    caller_name: String::new(),
                    caller_phone: String::new(),
                    notes: String::new(),
                    camera: None,
                    candidate_id: None,
                    call_id: None,
                },
                &ReviewPolicy::default(),
                civitas_base::Clock::now(&civitas_base::SystemClock),
            )
            .await?;
        wake.notify_waiters();
        opened.push((v.id, t));
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Each incident wrote one outbox event, in order; wait for all to be accepted.
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let accepted = receiver
            .log
            .lock()
            .map(|l| l.iter().filter(|r| r.accepted).count())
            .unwrap_or(0);
        if accepted >= events || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let _ = deliverer.await;
    server.abort();
    let log = receiver.log.lock().map(|l| l.clone()).unwrap_or_default();
    let mut first_ok = std::collections::HashMap::new();
    let mut accepted_per = std::collections::HashMap::<i64, usize>::new();
    for r in log.iter().filter(|r| r.accepted) {
        first_ok.entry(r.delivery).or_insert(r.at);
        *accepted_per.entry(r.delivery).or_default() += 1;
    }
    // Outbox ids follow incident ids one to one here.
    let mut lat: Vec<f64> = opened
        .iter()
        .filter_map(|(id, t)| {
            first_ok
                .get(id)
                .map(|at| at.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let lost = events - first_ok.len().min(events);
    let duplicated = accepted_per.values().filter(|n| **n > 1).count();
    let status = store.outbox_status().await?;
    let report = serde_json::json!({
        "events": events, "rate_per_s": rate, "receiver_fail_rate": fail_rate,
        "backoff_initial_ms": backoff_initial_ms, "backoff_max_ms": backoff_max_ms,
        "requests": log.len(), "answered_500": log.iter().filter(|r| !r.accepted).count(),
        "attempts_per_event": log.len() as f64 / events as f64,
        "bad_signatures": log.iter().filter(|r| !r.signed).count(),
        "latency_ms": {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": lat.last()},
        "lost": lost, "accepted_twice": duplicated,
        "pending_after": status.first().map(|s| s.pending),
    });
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    print_report(json, &report)
}

async fn bench_plate_search(
    reads: usize,
    cameras: usize,
    db: Option<std::path::PathBuf>,
    json: bool,
) -> Result<()> {
    use civitas_store::{PlateQuery, Store};
    anyhow::ensure!(
        reads > 0 && cameras > 0,
        "--reads and --cameras must be positive"
    );
    let path = db.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("civitas-bench-plates-{}.db", std::process::id()))
    });
    let key = std::sync::Arc::new(civitas_audit::AuditKey::from_seed([7; 32]));
    let store = Store::open(&path).await?.with_audit_key(key);
    const DAY: i64 = 86_400_000;
    let t0 = 1_800_000_000_000i64;
    let mut rng = Rng(0xC0FF_EE12_3456_789B);
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let have = store.plate_read_count().await? as usize;
    let mut load_s = None;
    if have < reads {
        let bar = indicatif::ProgressBar::new((reads - have) as u64);
        let t = Instant::now();
        let mut i = have;
        while i < reads {
            let n = (reads - i).min(100_000);
            let batch: Vec<(String, String, i64)> = (0..n)
                .map(|k| {
                    let mut p = String::with_capacity(7);
                    for _ in 0..3 {
                        p.push(letters[(rng.next_u64() % 26) as usize] as char);
                    }
                    p.push_str(&format!("{:04}", rng.next_u64() % 10_000));
                    let at = t0 + ((i + k) as i64 * DAY) / reads as i64;
                    (format!("cam-{}", rng.next_u64() % cameras as u64), p, at)
                })
                .collect();
            store
                .bench_insert_plate_reads(&batch, t0 + 30 * DAY)
                .await?;
            i += n;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        load_s = Some(t.elapsed().as_secs_f64());
    }
    // A known vehicle passing three cameras during the day.
    let probe: Vec<(String, String, i64)> = [(0.2, "cam-7"), (0.5, "cam-900"), (0.8, "cam-7")]
        .iter()
        .map(|(f, c)| {
            (
                c.to_string(),
                "GYE0077".to_string(),
                t0 + (DAY as f64 * f) as i64,
            )
        })
        .collect();
    if store.plate_read_count().await? as usize == reads {
        store
            .bench_insert_plate_reads(&probe, t0 + 30 * DAY)
            .await?;
    }
    let actor = civitas_auth::Actor {
        username: "bench".into(),
        role: civitas_auth::Role::Supervisor,
        scope: vec!["*".into()],
    };
    let now = Timestamp(t0 + DAY);
    let mut rows = Vec::new();
    for (label, pattern, from, to, cams) in [
        ("exact plate, whole day", "GYE0077", t0, t0 + DAY, vec![]),
        (
            "exact plate, one hour",
            "GYE0077",
            t0 + DAY / 2 - 1_800_000,
            t0 + DAY / 2 + 1_800_000,
            vec![],
        ),
        (
            "partial GY?0?77, whole day",
            "GY?0?77",
            t0,
            t0 + DAY,
            vec![],
        ),
        (
            "confusable 6YE0O77, whole day",
            "6YE0O77",
            t0,
            t0 + DAY,
            vec![],
        ),
        (
            "exact plate, one camera, whole day",
            "GYE0077",
            t0,
            t0 + DAY,
            vec!["cam-7".to_string()],
        ),
        (
            "first character unknown ?YE0077, whole day",
            "?YE0077",
            t0,
            t0 + DAY,
            vec![],
        ),
        (
            "first character unknown ?YE0077, one hour",
            "?YE0077",
            t0 + DAY / 2 - 1_800_000,
            t0 + DAY / 2 + 1_800_000,
            vec![],
        ),
        (
            "two leading unknown ??E0?77, whole day",
            "??E0?77",
            t0,
            t0 + DAY,
            vec![],
        ),
        (
            "four leading unknown ????077 (table scan), whole day",
            "????077",
            t0,
            t0 + DAY,
            vec![],
        ),
    ] {
        let q = PlateQuery {
            pattern: pattern.into(),
            from: Timestamp(from),
            to: Timestamp(to),
            cameras: cams,
            justification: "benchmark of the forensic search".into(),
            limit: 100,
        };
        let mut ms = Vec::new();
        let mut found = 0;
        for _ in 0..5 {
            let t = Instant::now();
            found = store.search_plate_reads(&actor, &q, now).await?.len();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        rows.push(serde_json::json!({"search": label, "results": found, "ms_median": ms[2], "ms_min": ms[0], "ms_max": ms[4]}));
    }
    let report = serde_json::json!({
        "reads": store.plate_read_count().await?, "cameras": cameras, "load_seconds": load_s,
        "db_bytes": std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), "searches": rows,
    });
    store.close().await;
    print_report(json, &report)
}

async fn bench_audit(entries: usize, appends: usize, each: bool, json: bool) -> Result<()> {
    use civitas_store::{AuditRecord, ReviewPolicy, Store};
    let dir = std::env::temp_dir().join(format!("civitas-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key = std::sync::Arc::new(civitas_audit::AuditKey::from_seed([3; 32]));
    let public = key.public();
    let store = Store::open(&dir.join("a.db")).await?.with_audit_key(key);
    let now = Timestamp(1_800_000_000_000);
    let rec = |i: usize| {
        AuditRecord::new("olga", "candidate.list", format!("candidates:{i}"))
            .details(serde_json::json!({"shown": 20, "limit": 50}))
    };
    // 1. Append rate: one transaction per entry, as the service writes them.
    let t = Instant::now();
    for i in 0..appends {
        store.audit(now, rec(i)).await?;
    }
    let append_per_s = appends as f64 / t.elapsed().as_secs_f64();
    // 2. Fill to `entries` in batches, then verify the whole log.
    let bar = indicatif::ProgressBar::new(entries as u64);
    let mut n = appends;
    while n < entries {
        let k = (entries - n).min(10_000);
        let batch: Vec<AuditRecord> = (n..n + k).map(rec).collect();
        if each {
            store.bench_audit_each(now, &batch).await?;
        } else {
            store.audit_batch(now, &batch).await?;
        }
        n += k;
        bar.set_position(n as u64);
    }
    bar.finish_and_clear();
    let t = Instant::now();
    let r = store.audit_verify(&public).await?;
    let verify_s = t.elapsed().as_secs_f64();
    // 3. Storing a match with and without its audit entry.
    let store2 = Store::open(&dir.join("m.db"))
        .await?
        .with_audit_key(std::sync::Arc::new(civitas_audit::AuditKey::from_seed(
            [4; 32],
        )));
    let entry = bench_entry(&store2, now).await?;
    let cand = bench_candidate(entry, 0, now);
    let m = 2_000;
    let policy = ReviewPolicy::default();
    let t = Instant::now();
    for _ in 0..m {
        store2
            .bench_insert_candidate_without_audit(&cand, now)
            .await?;
    }
    let plain_ms = t.elapsed().as_secs_f64() * 1000.0 / m as f64;
    let t = Instant::now();
    for i in 0..m {
        // Each a different frame (one key each), as real candidates are.
        store2
            .insert_candidate(&bench_candidate(entry, i, now), now, &policy)
            .await?;
    }
    let audited_ms = t.elapsed().as_secs_f64() * 1000.0 / m as f64;
    store.close().await;
    store2.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    let (one_by_one, batched) = signature_checks(20_000);
    let report = serde_json::json!({
        "append_entries_per_s": append_per_s,
        "verify_entries": r.entries,
        "verify_signed_heads": r.signed_heads,
        "verify_seconds": verify_s,
        "head_signatures_per_s_one_by_one": one_by_one,
        "head_signatures_per_s_batched": batched,
        "batched_over_one_by_one": batched / one_by_one,
        "store_match_ms_without_audit": plain_ms,
        "store_match_ms_with_audit": audited_ms,
        "audit_cost_ratio": audited_ms / plain_ms,
    });
    print_report(json, &report)?;
    Ok(())
}

/// Signed tree heads checked per second on one thread, one by one and in
/// batches (what `audit verify` does), over the same `n` heads.
fn signature_checks(n: u64) -> (f64, f64) {
    let key = civitas_audit::AuditKey::from_seed([6; 32]);
    let heads: Vec<_> = (1..=n).map(|i| key.sign(i, 1_000, [i as u8; 32])).collect();
    let v = civitas_audit::HeadVerifier::new(&key.public()).expect("a valid key");
    let t = Instant::now();
    assert!(heads.iter().all(|h| v.verify(h)));
    let one_by_one = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    assert_eq!(v.first_invalid(&heads), None);
    (one_by_one, n as f64 / t.elapsed().as_secs_f64())
}

/// Prints a report as one JSON line (`--json`) or pretty-printed.
fn print_report(json: bool, report: &serde_json::Value) -> Result<()> {
    if json {
        println!("{report}");
    } else {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(())
}

/// A candidate for the store benchmarks, distinct per `i` (its own stable key).
/// One watchlist entry (a supervisor's enrolment under a benchmark basis)
/// to raise benchmark candidates against.
async fn bench_entry(store: &civitas_store::Store, now: Timestamp) -> Result<EntryId> {
    let basis = civitas_model::LegalBasisInput {
        kind: "court-order".into(),
        authority: "Benchmark".into(),
        reference: "B-1".into(),
        purpose: "benchmark".into(),
        expires: "2099-01-01".into(),
    }
    .validate(now)
    .map_err(anyhow::Error::msg)?;
    let supervisor = civitas_auth::Actor {
        username: "bench".into(),
        role: civitas_auth::Role::Supervisor,
        scope: vec!["*".into()],
    };
    let template = FaceTemplate::new(vec![0.6, 0.8]).into_enrolled_bytes(&basis);
    let everywhere = ["*".to_owned()];
    let templates = vec![("b".to_owned(), template)];
    let e = civitas_store::Enrolment::new("bench", &basis, &everywhere, templates);
    Ok(store.enroll(&supervisor, e, now).await?)
}

fn bench_candidate(entry: EntryId, i: usize, now: Timestamp) -> civitas_model::Candidate {
    civitas_model::Candidate {
        id: None,
        camera: "bench".into(),
        track: civitas_model::TrackId(i as i64),
        entry,
        entry_name: "bench".into(),
        distance: 0.3,
        detector_score: 0.9,
        bbox: civitas_model::BBox::new(0.0, 0.0, 10.0, 10.0),
        frame_time: Timestamp(now.0 + i as i64),
        offset_ms: 0,
        crop_jpeg: vec![0u8; 6_000],
    }
}

/// Writes `n` candidates with `writers` concurrent tasks; candidates per second.
async fn write_rate<F, Fut>(n: usize, writers: usize, write: F) -> Result<f64>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = civitas_base::Result<Option<civitas_model::CandidateId>>>
        + Send,
{
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let write = write.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                write(i).await?;
                i += writers;
            }
            civitas_base::Result::<()>::Ok(())
        }));
    }
    // Every writer finishes (or fails) before the rate is taken or the
    // store is read: a failed writer must not leave the others writing.
    let mut first_error = None;
    for t in tasks {
        if let Err(e) = t.await? {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(n as f64 / t.elapsed().as_secs_f64()),
    }
}

/// One backend's rows: `n` candidates written by one writer, then by four
/// (each run with its own candidates, so none is a repeat of another's).
fn backend_rows<F, Fut>(
    rt: &tokio::runtime::Runtime,
    label: &'static str,
    n: usize,
    write: F,
    rows: &mut Vec<(&'static str, usize, std::result::Result<f64, String>)>,
) where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = civitas_base::Result<Option<civitas_model::CandidateId>>>
        + Send,
{
    for writers in [1usize, 4] {
        let (w, base) = (write.clone(), writers * n);
        let rate = rt.block_on(write_rate(n, writers, move |i| w(base + i)));
        rows.push((label, writers, rate.map_err(|e| format!("{e:#}"))));
    }
}

fn bench_store(n: usize, pg_url: &str, json: bool) -> Result<()> {
    use anyhow::Context;
    use civitas_store::{ReviewPolicy, Store, postgres};
    use std::sync::Arc;
    let rt = engine::tokio()?;
    let key = Arc::new(civitas_audit::AuditKey::from_seed([9; 32]));
    let now = Timestamp(1_800_000_000_000);
    let policy = ReviewPolicy::default();
    // The same store code on each engine: one enrolled entry, then audited
    // candidates from 1 and 4 writers; the audit log verified after.
    let measure = |label: &'static str, url: &str, rows: &mut Vec<_>| -> Result<()> {
        let store = rt
            .block_on(Store::connect(url))?
            .with_audit_key(key.clone());
        let entry = rt.block_on(bench_entry(&store, now))?;
        let (s, p) = (store.clone(), policy);
        backend_rows(
            &rt,
            label,
            n,
            move |i| {
                let s = s.clone();
                async move {
                    s.insert_candidate(&bench_candidate(entry, i, now), now, &p)
                        .await
                }
            },
            rows,
        );
        rt.block_on(store.audit_verify(&key.public()))
            .with_context(|| format!("{label}: the audit log after the run"))?;
        rt.block_on(store.close());
        Ok(())
    };
    let mut rows = Vec::new();
    // SQLite: a file in the temp directory, WAL, synchronous FULL (as run).
    let dir = std::env::temp_dir().join(format!("civitas-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = measure(
        "SQLite (WAL, synchronous=FULL)",
        &format!("sqlite://{}", dir.join("bench.db").display()),
        &mut rows,
    );
    let _ = std::fs::remove_dir_all(&dir);
    sqlite?;
    // PostgreSQL: a database made for the run, dropped after.
    let name = format!("civitas_bench_{}", std::process::id());
    rt.block_on(postgres::create_database(pg_url, &name))?;
    let pg = measure(
        "PostgreSQL 15 (synchronous_commit=on)",
        &postgres::with_database(pg_url, &name),
        &mut rows,
    );
    rt.block_on(postgres::drop_database(pg_url, &name))?;
    pg?;
    let sqlite_1 = rows[0].2.clone().unwrap_or(f64::NAN);
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(b, w, r)| match r {
                Ok(r) => serde_json::json!({"backend": b, "writers": w, "candidates_per_s": r}),
                Err(e) => serde_json::json!({"backend": b, "writers": w, "failed": e}),
            })
            .collect();
        println!("{}", serde_json::json!({"candidates": n, "rows": v}));
    } else {
        println!("| backend | writers | candidates/s | vs SQLite, 1 writer |");
        println!("|---|---|---|---|");
        for (b, w, r) in &rows {
            match r {
                Ok(r) => println!("| {b} | {w} | {r:.0} | {:.2}× |", r / sqlite_1),
                Err(e) => println!("| {b} | {w} | failed: {e} | |"),
            }
        }
    }
    Ok(())
}
