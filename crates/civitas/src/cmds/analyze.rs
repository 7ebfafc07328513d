//! `civitas analyze`: runs the face pipeline (and with `--plates` the plate
//! stage) over an image, a folder of images or a video file, prints
//! candidates and plate reads (JSON lines with `--json`) and stores them.

use anyhow::Result;
use civitas_base::{Clock, SystemClock};
use civitas_model::CameraId;
use civitas_pipeline::runner::analyse_source;
use civitas_pipeline::{Bus, Event, InProcessBus};
use civitas_runtime::engine;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image, folder of images, or video file.
    path: PathBuf,
    /// Frames analysed per second of video.
    #[arg(long, default_value_t = 2.0)]
    fps: f64,
    /// Print one JSON object per line (candidates, then a summary).
    #[arg(long)]
    json: bool,
    /// Camera id to record candidates under.
    #[arg(long, default_value = "analyze")]
    camera: String,
    /// Do not write candidates to the store (the watchlist is still read from it).
    #[arg(long)]
    no_store: bool,
    /// Skip frames without motion (as live cameras do) instead of analysing every sampled frame.
    #[arg(long)]
    motion_gate: bool,
    /// Read number plates too (`[anpr]` settings), one read per vehicle pass,
    /// matched against the hotlists. On by itself for a camera configured with `anpr = true`.
    #[arg(long)]
    plates: bool,
}

/// One line for a plate pass.
pub fn describe_pass(p: &civitas_model::PlatePass) -> String {
    let hit = match &p.hit {
        Some(h) => format!(
            " — HIT on hotlist {} (entry {}, plate {}, distance {:.2}): candidate for review",
            h.hotlist, h.entry, h.plate, h.distance
        ),
        None => String::new(),
    };
    format!(
        "plate {} on camera {} at {} ms ({} frame(s), confidence {:.2}{}){hit}",
        p.plate,
        p.camera,
        p.offset_ms,
        p.frames,
        p.confidence,
        p.format
            .as_deref()
            .map(|f| format!(", format {f}"))
            .unwrap_or_default()
    )
}

pub fn describe(c: &civitas_model::Candidate) -> String {
    format!(
        "CANDIDATE camera {} at {:.1} s: resembles {:?} (entry {}), distance {:.3}, track {} — awaiting human review",
        c.camera,
        c.offset_ms as f64 / 1000.0,
        c.entry_name,
        c.entry,
        c.distance,
        c.track
    )
}

/// The hotlist entries (read even with `--no-store`, like the watchlist).
async fn store_or_opened_hotlist(
    store: &Option<civitas_store::Store>,
    cfg: &civitas_config::Config,
) -> Result<Vec<civitas_store::StoredPlateEntry>> {
    match store {
        Some(s) => Ok(s.hotlist_entries().await?),
        None => {
            let s = engine::open_store(cfg).await?;
            let list = s.hotlist_entries().await?;
            s.close().await;
            Ok(list)
        }
    }
}

pub fn main(config: &Path, a: Args) -> Result<()> {
    let cfg = engine::load_config(config)?;
    let rt = engine::tokio()?;
    // The watchlist is always read; --no-store only skips writing candidates.
    let opened = rt.block_on(engine::open_store(&cfg))?;
    let watchlist = engine::watchlist_for(&rt.block_on(opened.watchlist())?, &a.camera)?;
    let store = (!a.no_store).then_some(opened);
    if watchlist.index.is_empty() {
        tracing::warn!("the watchlist is empty: every face will be reported as unknown");
    }
    let mut pipe = engine::pipeline(&cfg, &a.camera, Arc::new(watchlist))?;
    let plates_on = a.plates || cfg.cameras.iter().any(|c| c.id == a.camera && c.anpr);
    let mut plates = match plates_on {
        true => {
            let list = rt.block_on(store_or_opened_hotlist(&store, &cfg))?;
            Some(engine::plate_pipeline(
                &cfg,
                &a.camera,
                Arc::new(engine::hotlist_for(&list, &a.camera)),
            )?)
        }
        false => None,
    };
    let mut source = civitas_ingest::open_path(&a.path, a.fps, false)?;
    let stills = a.path.is_dir()
        || civitas_ingest::IMAGE_EXTENSIONS.contains(
            &a.path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase()
                .as_str(),
        );
    let progress = match (a.json, source.len_hint()) {
        (false, Some(n)) if n > 1 => {
            let p = ProgressBar::new(n);
            p.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} frames ({per_sec}, eta {eta})")
                    .expect("valid template"),
            );
            Some(p)
        }
        _ => None,
    };
    let bus = InProcessBus::default();
    let mut rx = bus.subscribe();
    let camera = CameraId(a.camera.clone());
    let summary = analyse_source(
        &mut pipe,
        plates.as_mut(),
        source.as_mut(),
        &camera,
        &bus,
        &civitas_base::SystemClock,
        || {
            if let Some(p) = &progress {
                p.inc(1);
            }
        },
        civitas_pipeline::runner::RunOptions {
            stills,
            motion: a.motion_gate.then(Default::default),
            ..Default::default()
        },
    )?;
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    drop(bus);
    let policy = engine::review_policy(&cfg);
    let retention = engine::plate_retention(&cfg);
    rt.block_on(async {
        while let Some(ev) = rx.recv().await {
            if let Event::PlatePass(p) = &ev {
                let mut candidate = None;
                if let Some(s) = &store {
                    let (read, cand) = s
                        .record_plate_pass(p, &retention, &policy, SystemClock.now())
                        .await?;
                    tracing::debug!(read, "plate read stored");
                    candidate = cand;
                }
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({"type": "plate", "pass": p, "candidate": candidate.map(|c| c.0)})
                    );
                } else {
                    println!("{}", describe_pass(p));
                }
                continue;
            }
            if let Event::Candidate(mut c) = ev {
                if let Some(s) = &store {
                    match s.insert_candidate(&c, SystemClock.now(), &policy).await? {
                        Some(id) => c.id = Some(id),
                        None => {
                            tracing::info!(entry = %c.entry, camera = %c.camera, "suppressed: rejected on this camera recently");
                            continue;
                        }
                    }
                }
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({"type": "candidate", "candidate": c})
                    );
                } else {
                    println!("{}", describe(&c));
                }
            }
        }
        if let Some(s) = &store {
            s.close().await;
        }
        anyhow::Ok(())
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({"type": "summary", "source": a.path.display().to_string(), "summary": summary})
        );
    } else {
        println!(
            "{}: {} frame(s) ({} skipped without motion), {} face(s) ({} too small or unsure to match), {} unknown, {} candidate(s)",
            a.path.display(),
            summary.frames,
            summary.skipped_no_motion,
            summary.faces,
            summary.too_small,
            summary.unknown,
            summary.candidates
        );
        if plates_on {
            println!(
                "{}: {} plate read(s) in frames, {} vehicle pass(es), {} hotlist hit(s)",
                a.path.display(),
                summary.plate_reads,
                summary.plate_passes,
                summary.plate_hits
            );
        }
    }
    Ok(())
}
