//! `civitas eval`: accuracy figures.
//!
//! - `faces`: verification on an LFW-style pairs file (10-fold: the threshold is
//!   chosen on nine folds and accuracy measured on the tenth), TAR at FAR 1e-3,
//!   and a ROC as CSV. `--distances` evaluates distances computed elsewhere (a
//!   peer's) with exactly the same protocol code.
//! - `detect`: detection recall and precision against a box file.
//! - `plates`: number-plate reading on a labelled folder (exact reads,
//!   per-character accuracy, detection recall, time per image).
//!
//! (Over 600 lines with its tests: one module per evaluation would repeat
//! the shared report and progress code; it is a candidate for a crate of its
//! own like `civitas-bench`.)

use anyhow::{Context, Result, bail};
use civitas_model::{BBox, FaceTemplate};
use civitas_runtime::engine;
use clap::Subcommand;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Face verification on an LFW-style pairs file.
    Faces {
        /// pairs.txt: a header `FOLDS PAIRS_PER_FOLD`, then `name i j` (same person) or `name1 i name2 j` (different).
        #[arg(long)]
        pairs: PathBuf,
        /// Image root: ROOT/name/name_0001.jpg, as in LFW.
        #[arg(long)]
        root: PathBuf,
        /// Write the ROC (threshold, FAR, TAR) as CSV here.
        #[arg(long)]
        roc: Option<PathBuf>,
        /// Evaluate these distances (one per pair line, `nan` = failure) instead of running the models.
        #[arg(long)]
        distances: Option<PathBuf>,
        /// Write our per-pair distances here.
        #[arg(long)]
        write_distances: Option<PathBuf>,
        /// Detect in one pass, without the second, bordered pass for stills (to measure what it adds).
        #[arg(long)]
        one_pass: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Open-set 1:N identification as a watchlist is used: FNIR at fixed FPIR, rank-1, the DET curve.
    Identify(super::identify::Args),
    /// Detection recall and precision against a box file.
    Detect {
        /// Lines `file<TAB>x0<TAB>y0<TAB>x1<TAB>y1`, one per true face, files relative to --root.
        #[arg(long)]
        boxes: PathBuf,
        #[arg(long)]
        root: PathBuf,
        /// IoU at which a detection counts as finding a true face.
        #[arg(long, default_value_t = 0.4)]
        iou: f32,
    },
    /// Number-plate reading on a folder of labelled images.
    Plates {
        /// Folder of images, each with a `.txt` beside it holding one line
        /// `file<TAB>x<TAB>y<TAB>w<TAB>h<TAB>TEXT` (the plate's box and characters).
        #[arg(long)]
        dir: PathBuf,
        /// Plate format presets to accept (overrides `[anpr] formats`), e.g. `--formats EC,BO`.
        #[arg(long, value_delimiter = ',')]
        formats: Option<Vec<String>>,
        /// Write each image's outcome (file, truth, read, confidence, found) as CSV here.
        #[arg(long)]
        details: Option<PathBuf>,
        /// Score text lines read elsewhere (a peer's) instead of running the
        /// models: lines `file<TAB>x0<TAB>y0<TAB>x1<TAB>y1<TAB>confidence<TAB>text`,
        /// and a line `# ms_per_image N`. The same plate rules apply to them.
        #[arg(long)]
        reads: Option<PathBuf>,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// One labelled plate.
#[derive(Debug, Clone, PartialEq)]
pub struct PlateTruth {
    pub file: PathBuf,
    pub bbox: BBox,
    pub text: String,
}

/// Reads the `.txt` labels in a folder; errors name the file and line.
pub fn plate_truth(dir: &Path) -> Result<Vec<PlateTruth>> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    for f in files {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let at = || format!("{} line {}", f.display(), i + 1);
            let p: Vec<&str> = l.split('\t').collect();
            if p.len() != 6 {
                bail!(
                    "{}: expected file, x, y, w, h and TEXT separated by tabs",
                    at()
                );
            }
            let n: Vec<f32> = p[1..5]
                .iter()
                .map(|v| {
                    v.trim()
                        .parse()
                        .with_context(|| format!("{}: {v:?} is not a number", at()))
                })
                .collect::<Result<_>>()?;
            let text = civitas_vision::plate_text::normalise(p[5])
                .map_err(|e| anyhow::anyhow!("{}: {e}", at()))?;
            out.push(PlateTruth {
                file: dir.join(p[0]),
                bbox: BBox::new(n[0], n[1], n[0] + n[2], n[1] + n[3]),
                text,
            });
        }
    }
    if out.is_empty() {
        bail!("{}: no .txt labels found", dir.display());
    }
    Ok(out)
}

/// Text lines read elsewhere, by image file name, and the reader's time per image.
type ExternalReads = (HashMap<String, Vec<(BBox, String, f32)>>, f64);

fn external_reads(path: &Path) -> Result<ExternalReads> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut by_file: HashMap<String, Vec<(BBox, String, f32)>> = HashMap::new();
    let mut ms = f64::NAN;
    for (i, l) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{} line {}", path.display(), i + 1);
        if let Some(v) = l.strip_prefix("# ms_per_image ") {
            ms = v
                .trim()
                .parse()
                .with_context(|| format!("{}: {v:?} is not a number", at()))?;
            continue;
        }
        let f: Vec<&str> = l.splitn(7, '\t').collect();
        if f.len() != 7 {
            bail!(
                "{}: expected file, x0, y0, x1, y1, confidence and text separated by tabs",
                at()
            );
        }
        let n: Vec<f32> = f[1..6]
            .iter()
            .map(|v| {
                v.trim()
                    .parse()
                    .with_context(|| format!("{}: {v:?} is not a number", at()))
            })
            .collect::<Result<_>>()?;
        by_file.entry(f[0].to_owned()).or_default().push((
            BBox::new(n[0], n[1], n[2], n[3]),
            f[6].to_owned(),
            n[4],
        ));
    }
    if ms.is_nan() {
        bail!("{}: no `# ms_per_image N` line", path.display());
    }
    Ok((by_file, ms))
}

/// Plain edit distance (every edit costs 1), for per-character accuracy.
fn levenshtein(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            cur[j] = (prev[j] + 1)
                .min(cur[j - 1] + 1)
                .min(prev[j - 1] + usize::from(a[i - 1] != b[j - 1]));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Plate-reading figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlateReport {
    pub images: usize,
    /// Plates whose best read in their box equals the truth.
    pub exact_reads: usize,
    pub exact_read_accuracy: f64,
    /// Mean of 1 − edit distance / length over plates (a missed plate scores 0).
    pub char_accuracy: f64,
    /// Plates with a line of text found in their box.
    pub detected: usize,
    pub detection_recall: f64,
    /// Reads outside every labelled box (other text, or unlabelled plates).
    pub reads_elsewhere: usize,
    pub ms_per_image: f64,
    /// Of which finding text, and reading it (Civitas only).
    pub ms_detect_per_image: f64,
    pub ms_read_per_image: f64,
    pub formats: Vec<String>,
}

/// One pair from the pairs file.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub a: PathBuf,
    pub b: PathBuf,
    pub same: bool,
    pub fold: usize,
}

/// Parses an LFW pairs file; errors name the line.
pub fn parse_pairs(text: &str, root: &Path) -> Result<(usize, Vec<Pair>)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().context("pairs file is empty")?;
    let h: Vec<usize> = header
        .split_whitespace()
        .map(|v| {
            v.parse()
                .with_context(|| format!("pairs line 1: {v:?} is not a number"))
        })
        .collect::<Result<_>>()?;
    let (folds, per_fold) = match h.as_slice() {
        [f, n] => (*f, *n),
        [n] => (1, *n),
        _ => bail!("pairs line 1: expected `FOLDS PAIRS_PER_FOLD`"),
    };
    let img = |name: &str, i: &str, line: usize| -> Result<PathBuf> {
        let i: u32 = i
            .parse()
            .with_context(|| format!("pairs line {line}: {i:?} is not an image number"))?;
        Ok(root.join(name).join(format!("{name}_{i:04}.jpg")))
    };
    let mut pairs = Vec::new();
    for (k, (ln, l)) in lines.enumerate() {
        let ln = ln + 1;
        let f: Vec<&str> = l.split_whitespace().collect();
        let fold = if per_fold == 0 {
            0
        } else {
            (k / (2 * per_fold)).min(folds.saturating_sub(1))
        };
        let p = match f.as_slice() {
            [n, i, j] => Pair {
                a: img(n, i, ln)?,
                b: img(n, j, ln)?,
                same: true,
                fold,
            },
            [n1, i, n2, j] => Pair {
                a: img(n1, i, ln)?,
                b: img(n2, j, ln)?,
                same: false,
                fold,
            },
            _ => bail!("pairs line {ln}: expected 3 or 4 fields, got {}", f.len()),
        };
        pairs.push(p);
    }
    if pairs.is_empty() {
        bail!("pairs file has a header but no pairs");
    }
    Ok((folds.max(1), pairs))
}

/// Verification figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub pairs: usize,
    pub same_pairs: usize,
    pub different_pairs: usize,
    /// Pairs where a face was not found in one image (counted as "different").
    pub failures: usize,
    pub folds: usize,
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub best_threshold_mean: f64,
    /// TAR at the smallest threshold whose FAR is ≤ 1e-3 (with few impostor pairs this is FAR = 0).
    pub tar_at_far_1e3: f64,
    pub far_resolution: f64,
}

fn accuracy(d: &[(f64, bool)], t: f64) -> f64 {
    let ok = d.iter().filter(|(x, same)| (*x <= t) == *same).count();
    ok as f64 / d.len().max(1) as f64
}

fn best_threshold(d: &[(f64, bool)]) -> f64 {
    let mut cands: Vec<f64> = d.iter().map(|x| x.0).filter(|x| x.is_finite()).collect();
    cands.sort_by(f64::total_cmp);
    cands.dedup();
    let mut best = (f64::NEG_INFINITY, 0.6);
    // Midpoints between consecutive distances, plus the ends.
    let mut ts: Vec<f64> = cands.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    if let (Some(f), Some(l)) = (cands.first(), cands.last()) {
        ts.push(f - 1e-6);
        ts.push(l + 1e-6);
    }
    for t in ts {
        let a = accuracy(d, t);
        if a > best.0 {
            best = (a, t);
        }
    }
    best.1
}

/// The 10-fold protocol and ROC over (distance, same) pairs; NaN distances are failures.
pub fn verify(folds: usize, pairs: &[Pair], dist: &[f64]) -> (VerifyReport, Vec<(f64, f64, f64)>) {
    let data: Vec<(f64, bool, usize)> = pairs
        .iter()
        .zip(dist)
        .map(|(p, d)| (if d.is_nan() { f64::INFINITY } else { *d }, p.same, p.fold))
        .collect();
    let mut accs = Vec::new();
    let mut ths = Vec::new();
    for k in 0..folds {
        let train: Vec<(f64, bool)> = data
            .iter()
            .filter(|x| x.2 != k || folds == 1)
            .map(|x| (x.0, x.1))
            .collect();
        let test: Vec<(f64, bool)> = data
            .iter()
            .filter(|x| x.2 == k)
            .map(|x| (x.0, x.1))
            .collect();
        if test.is_empty() {
            continue;
        }
        let t = best_threshold(&train);
        ths.push(t);
        accs.push(accuracy(&test, t));
    }
    let mean = accs.iter().sum::<f64>() / accs.len().max(1) as f64;
    let std =
        (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / accs.len().max(1) as f64).sqrt();
    let same: Vec<f64> = data.iter().filter(|x| x.1).map(|x| x.0).collect();
    let diff: Vec<f64> = data.iter().filter(|x| !x.1).map(|x| x.0).collect();
    let mut ts: Vec<f64> = data.iter().map(|x| x.0).filter(|x| x.is_finite()).collect();
    ts.sort_by(f64::total_cmp);
    ts.dedup();
    let rate =
        |v: &[f64], t: f64| v.iter().filter(|x| **x <= t).count() as f64 / v.len().max(1) as f64;
    let roc: Vec<(f64, f64, f64)> = ts
        .iter()
        .map(|t| (*t, rate(&diff, *t), rate(&same, *t)))
        .collect();
    let tar = roc
        .iter()
        .filter(|r| r.1 <= 1e-3)
        .map(|r| r.2)
        .fold(0.0, f64::max);
    (
        VerifyReport {
            pairs: data.len(),
            same_pairs: same.len(),
            different_pairs: diff.len(),
            failures: dist.iter().filter(|d| d.is_nan()).count(),
            folds,
            accuracy_mean: mean,
            accuracy_std: std,
            best_threshold_mean: ths.iter().sum::<f64>() / ths.len().max(1) as f64,
            tar_at_far_1e3: tar,
            far_resolution: 1.0 / diff.len().max(1) as f64,
        },
        roc,
    )
}

/// The template of the face nearest the image centre (LFW's convention: the
/// subject is centred), or `None` if no face is found.
fn central_template(
    pipe: &mut civitas_pipeline::FacePipeline,
    path: &Path,
) -> Result<Option<FaceTemplate>> {
    let img = civitas_ingest::load_image(path)?;
    Ok(super::identify::central_face(pipe, &img)?.map(|(_, t)| t))
}

pub fn main(config: &Path, cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Identify(a) => super::identify::main(config, a),
        Cmd::Faces {
            pairs,
            root,
            roc,
            distances,
            write_distances,
            one_pass,
            json,
        } => {
            let text = std::fs::read_to_string(&pairs)
                .with_context(|| format!("reading {}", pairs.display()))?;
            let (folds, list) =
                parse_pairs(&text, &root).with_context(|| format!("in {}", pairs.display()))?;
            let dist: Vec<f64> = match distances {
                Some(f) => {
                    let t = std::fs::read_to_string(&f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    let v: Vec<f64> = t
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .enumerate()
                        .map(|(i, l)| {
                            l.trim()
                                .parse()
                                .with_context(|| format!("{} line {}: {l:?}", f.display(), i + 1))
                        })
                        .collect::<Result<_>>()?;
                    if v.len() != list.len() {
                        bail!(
                            "{}: {} distances for {} pairs",
                            f.display(),
                            v.len(),
                            list.len()
                        );
                    }
                    v
                }
                None => {
                    let cfg = engine::load_config(config)?;
                    let mut pipe = engine::pipeline(&cfg, "eval", Default::default())?;
                    pipe.still_pass = !one_pass;
                    let mut cache: HashMap<PathBuf, Option<FaceTemplate>> = HashMap::new();
                    let bar = indicatif::ProgressBar::new(list.len() as u64);
                    let mut out = Vec::with_capacity(list.len());
                    for p in &list {
                        for img in [&p.a, &p.b] {
                            if !cache.contains_key(img) {
                                let t = central_template(&mut pipe, img)?;
                                cache.insert(img.clone(), t);
                            }
                        }
                        out.push(match (&cache[&p.a], &cache[&p.b]) {
                            (Some(a), Some(b)) => a.distance(b) as f64,
                            _ => f64::NAN,
                        });
                        bar.inc(1);
                    }
                    bar.finish_and_clear();
                    out
                }
            };
            if let Some(w) = write_distances {
                let s: String = dist.iter().map(|d| format!("{d}\n")).collect();
                std::fs::write(&w, s).with_context(|| format!("writing {}", w.display()))?;
            }
            let (rep, curve) = verify(folds, &list, &dist);
            if let Some(r) = roc {
                let mut s = String::from("threshold,far,tar\n");
                for (t, far, tar) in curve {
                    s.push_str(&format!("{t:.6},{far:.6},{tar:.6}\n"));
                }
                std::fs::write(&r, s).with_context(|| format!("writing {}", r.display()))?;
            }
            if json {
                println!("{}", serde_json::to_string(&rep)?);
            } else {
                println!(
                    "pairs {} ({} same, {} different, {} failures), {}-fold accuracy {:.4} ± {:.4}, mean threshold {:.3}, TAR@FAR≤1e-3 {:.4} (FAR resolution {:.1e})",
                    rep.pairs,
                    rep.same_pairs,
                    rep.different_pairs,
                    rep.failures,
                    rep.folds,
                    rep.accuracy_mean,
                    rep.accuracy_std,
                    rep.best_threshold_mean,
                    rep.tar_at_far_1e3,
                    rep.far_resolution
                );
            }
            Ok(())
        }
        Cmd::Plates {
            dir,
            formats,
            details,
            reads,
            json,
        } => {
            let mut cfg = engine::load_config(config)?;
            if let Some(f) = formats {
                cfg.anpr.formats = f;
            }
            let truth = plate_truth(&dir)?;
            let external = reads.as_deref().map(external_reads).transpose()?;
            let mut rec = match external {
                Some(_) => None,
                None => Some(engine::plate_recogniser(&cfg.vision, &cfg.anpr)?),
            };
            let rules = civitas_vision::anpr::AnprConfig {
                formats: civitas_vision::plate_text::formats_for(&cfg.anpr.formats)
                    .map_err(anyhow::Error::msg)?,
                min_confidence: cfg.anpr.min_confidence,
                min_text_height_px: cfg.anpr.min_text_height_px,
                ..Default::default()
            };
            let (mut exact, mut detected, mut elsewhere) = (0usize, 0usize, 0usize);
            let (mut chars, mut busy) = (0.0f64, std::time::Duration::ZERO);
            let (mut det_t, mut read_t) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
            let mut csv = String::from("file,truth,read,confidence,found\n");
            let step = (truth.len() / 10).max(1);
            for (k, t) in truth.iter().enumerate() {
                // (box, plate text, confidence) for every line of text found.
                let lines: Vec<(BBox, Option<String>, f32)> = match (&mut rec, &external) {
                    (Some(rec), _) => {
                        let img = civitas_ingest::load_image(&t.file)
                            .with_context(|| format!("image {}", t.file.display()))?;
                        let t0 = std::time::Instant::now();
                        let scan = rec.scan(&img)?;
                        busy += t0.elapsed();
                        det_t += scan.detect;
                        read_t += scan.read;
                        let mut v: Vec<_> = scan
                            .reads
                            .iter()
                            .map(|r| (r.bbox, Some(r.text.clone()), r.confidence))
                            .collect();
                        v.extend(scan.lines.iter().map(|l| (l.bbox(), None, 0.0)));
                        v
                    }
                    (None, Some((by_file, _))) => {
                        let name = t.file.file_name().unwrap_or_default().to_string_lossy();
                        by_file
                            .get(name.as_ref())
                            .map(|v| {
                                v.iter()
                                    .map(|(b, text, c)| {
                                        let plate =
                                            match civitas_vision::anpr::accept(&rules, text, *c) {
                                                civitas_vision::anpr::Verdict::Plate {
                                                    text,
                                                    ..
                                                } => Some(text),
                                                _ => None,
                                            };
                                        (*b, plate, *c)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default()
                    }
                    (None, None) => unreachable!("either the models or the reads"),
                };
                let inside = |b: &BBox| t.bbox.contains([(b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0]);
                let found = lines.iter().any(|l| inside(&l.0));
                // The plate's main line: the largest read inside its box (a
                // country band or a small sticker may be read too).
                let read = lines
                    .iter()
                    .filter(|l| l.1.is_some() && inside(&l.0))
                    .max_by(|a, b| a.0.area().total_cmp(&b.0.area()))
                    .map(|l| (l.1.as_deref().unwrap_or(""), l.2));
                elsewhere += lines
                    .iter()
                    .filter(|l| l.1.is_some() && !inside(&l.0))
                    .count();
                detected += usize::from(found);
                let got = read.map(|r| r.0).unwrap_or("");
                exact += usize::from(got == t.text);
                chars += 1.0
                    - (levenshtein(got, &t.text) as f64 / t.text.chars().count() as f64).min(1.0);
                csv.push_str(&format!(
                    "{},{},{},{:.3},{}\n",
                    t.file.file_name().unwrap_or_default().to_string_lossy(),
                    t.text,
                    got,
                    read.map(|r| r.1).unwrap_or(0.0),
                    found
                ));
                if !json && (k + 1) % step == 0 {
                    eprintln!("  {}/{} images", k + 1, truth.len());
                }
            }
            if let Some(p) = details {
                std::fs::write(&p, csv).with_context(|| format!("writing {}", p.display()))?;
            }
            let n = truth.len() as f64;
            let r = PlateReport {
                images: truth.len(),
                exact_reads: exact,
                exact_read_accuracy: exact as f64 / n,
                char_accuracy: chars / n,
                detected,
                detection_recall: detected as f64 / n,
                reads_elsewhere: elsewhere,
                ms_detect_per_image: det_t.as_secs_f64() * 1e3 / n,
                ms_read_per_image: read_t.as_secs_f64() * 1e3 / n,
                ms_per_image: match &external {
                    Some((_, ms)) => *ms,
                    None => busy.as_secs_f64() * 1e3 / n,
                },
                formats: cfg.anpr.formats,
            };
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                println!(
                    "plates: {} images, formats {}\n  exact reads     {} ({:.1}%)\n  per-character   {:.1}%\n  detection recall {:.1}% ({} found)\n  reads elsewhere {}\n  time per image  {:.1} ms (detect + read, one thread)",
                    r.images,
                    r.formats.join(","),
                    r.exact_reads,
                    100.0 * r.exact_read_accuracy,
                    100.0 * r.char_accuracy,
                    100.0 * r.detection_recall,
                    r.detected,
                    r.reads_elsewhere,
                    r.ms_per_image
                );
            }
            Ok(())
        }
        Cmd::Detect { boxes, root, iou } => {
            let cfg = engine::load_config(config)?;
            let text = std::fs::read_to_string(&boxes)
                .with_context(|| format!("reading {}", boxes.display()))?;
            let mut truth: Vec<(String, Vec<BBox>)> = Vec::new();
            for (i, l) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
            {
                let f: Vec<&str> = l.split('\t').collect();
                if f.len() != 5 {
                    bail!(
                        "{} line {}: expected file and 4 numbers separated by tabs",
                        boxes.display(),
                        i + 1
                    );
                }
                let n: Vec<f32> = f[1..]
                    .iter()
                    .map(|v| {
                        v.trim()
                            .parse()
                            .with_context(|| format!("{} line {}: {v:?}", boxes.display(), i + 1))
                    })
                    .collect::<Result<_>>()?;
                let b = BBox::new(n[0], n[1], n[2], n[3]);
                match truth.iter_mut().find(|(k, _)| k == f[0]) {
                    Some((_, v)) => v.push(b),
                    None => truth.push((f[0].to_string(), vec![b])),
                }
            }
            let (mut det, _) = engine::models(&cfg.vision)?;
            let (mut tp, mut n_true, mut n_det) = (0usize, 0usize, 0usize);
            let start = std::time::Instant::now();
            for (file, tb) in &truth {
                let img = civitas_ingest::load_image(&root.join(file))?;
                let found: Vec<_> = det
                    .detect(&img)?
                    .into_iter()
                    .filter(|d| d.score >= cfg.vision.min_detector_score)
                    .collect();
                n_true += tb.len();
                n_det += found.len();
                let mut used = vec![false; found.len()];
                for t in tb {
                    if let Some((k, _)) = found
                        .iter()
                        .enumerate()
                        .filter(|(k, d)| !used[*k] && d.bbox.iou(t) >= iou)
                        .max_by(|a, b| a.1.bbox.iou(t).total_cmp(&b.1.bbox.iou(t)))
                    {
                        used[k] = true;
                        tp += 1;
                    }
                }
            }
            println!(
                "images {}, true faces {n_true}, detections {n_det}, recall {:.4}, precision {:.4} (IoU ≥ {iou}), {:.1} ms/image",
                truth.len(),
                tp as f64 / n_true.max(1) as f64,
                tp as f64 / n_det.max(1) as f64,
                start.elapsed().as_secs_f64() * 1000.0 / truth.len().max(1) as f64
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_file_parses_and_errors_name_the_line() {
        let root = Path::new("/r");
        let (folds, p) = parse_pairs("2 1\nA 1 2\nA 1 B 3\nC 1 2\nC 2 D 1\n", root).unwrap();
        assert_eq!(folds, 2);
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].a, Path::new("/r/A/A_0001.jpg"));
        assert!(p[0].same && !p[1].same);
        assert_eq!((p[0].fold, p[2].fold), (0, 1));
        let e = parse_pairs("1 1\nA x 2\n", root).unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
    }

    #[test]
    fn ten_fold_protocol_on_separable_data_is_perfect_and_failures_count() {
        let mut pairs = Vec::new();
        let mut d = Vec::new();
        for k in 0..10 {
            for i in 0..10 {
                let same = i % 2 == 0;
                pairs.push(Pair {
                    a: "a".into(),
                    b: "b".into(),
                    same,
                    fold: k,
                });
                d.push(if same {
                    0.3 + 0.01 * i as f64
                } else {
                    0.8 + 0.01 * i as f64
                });
            }
        }
        let (r, roc) = verify(10, &pairs, &d);
        assert_eq!(r.accuracy_mean, 1.0);
        assert!(r.best_threshold_mean > 0.38 && r.best_threshold_mean < 0.81);
        assert_eq!(r.tar_at_far_1e3, 1.0);
        assert!(!roc.is_empty());
        d[0] = f64::NAN;
        let (r, _) = verify(10, &pairs, &d);
        assert_eq!(r.failures, 1);
        assert!(r.accuracy_mean < 1.0);
    }
}
