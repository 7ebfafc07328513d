//! `civitas bench`: speed figures for BENCHMARKS.md (not tests).

use crate::engine;
use anyhow::Result;
use civitas_base::Timestamp;
use civitas_model::{EntryId, FaceTemplate};
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

/// xorshift64*: deterministic random numbers with no dependency.
struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
    fn unit(&mut self, dim: usize) -> FaceTemplate {
        let v: Vec<f32> = (0..dim).map(|_| self.next_f32()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        FaceTemplate::new(v.into_iter().map(|x| x / n).collect())
    }
}

pub fn main(config: &Path, cmd: Cmd) -> Result<()> {
    match cmd {
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
            let s = &pipe.stats;
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
            if json {
                println!("{report}");
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(())
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
            if json {
                println!("{report}")
            } else {
                println!("{}", serde_json::to_string_pretty(&report)?)
            }
            Ok(())
        }
    }
}
