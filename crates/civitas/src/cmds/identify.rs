//! `civitas eval identify`: open-set 1:N identification, judged as a
//! watchlist is used (NIST FRVT 1:N): with N people enrolled and strangers
//! passing, how many strangers would raise a candidate (FPIR) and how many
//! listed people pass unflagged (FNIR).
//!
//! Runs through the code the cameras use: gallery photos are enrolled by
//! [`engine::ModelEnroller`] (exactly one face, large enough) under a legal
//! basis into a real store (a temporary SQLite file), the watchlist is read
//! back with `Store::watchlist` and built by [`engine::watchlist_for`], probes
//! go through the detector, the quality gate and the embedder of
//! [`engine::pipeline`], and are searched in the same index with the same
//! per-frame threshold ([`FaceStageConfig::threshold_for`]).
//!
//! Probes can be degraded as cameras degrade faces (`--degrade`): gray
//! (infrared), scaled to a given eye distance inside a 1280 × 720 frame
//! (then detected as camera frames are, in one pass), blurred,
//! JPEG-compressed. Gallery photos are never degraded: enrolment photos are
//! chosen, camera pictures are not.

use anyhow::{Context, Result, bail};
use civitas_base::{Clock, SystemClock};
use civitas_model::{FaceDetection, FaceTemplate, MatchOutcome, RgbImage};
use civitas_pipeline::face::{FacePipeline, FaceStageConfig};
use civitas_runtime::engine;
use serde::Serialize;
use sha2::Digest;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Folder of identities: ROOT/<person>/<photos> (LFW's layout).
    #[arg(long)]
    root: PathBuf,
    /// Gallery sizes (people enrolled), ascending; `all` = every person with
    /// more photos than `--enrol-photos`.
    #[arg(long, value_delimiter = ',', default_value = "100,300,1000,all")]
    gallery: Vec<String>,
    /// Enrolment photos per person (the others are mated probes). Several are fused: the nearest counts.
    #[arg(long, default_value_t = 1)]
    enrol_photos: usize,
    /// How probes are degraded, comma-separated: `gray`, `eye=PX` (scaled to PX
    /// between the eyes inside a 1280×720 frame), `blur=SIGMA` (Gaussian, pixels), `jpeg=QUALITY`.
    #[arg(long)]
    degrade: Option<String>,
    /// Report the threshold that keeps FPIR at or under this (largest gallery).
    #[arg(long, default_value_t = 1e-3)]
    target_fpir: f64,
    /// Overrides `[vision] min_eye_distance_px` (the quality gate), e.g. 0 to search every face.
    #[arg(long)]
    min_eye_distance: Option<f32>,
    /// Use only the first N people (in a fixed pseudo-random order), for a quick run.
    #[arg(long)]
    limit: Option<usize>,
    /// Write the DET curve of the largest gallery (threshold, FPIR, FNIR) as CSV here.
    #[arg(long)]
    det: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// How a probe is degraded before it is searched.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Degrade {
    pub gray: bool,
    pub eye_px: Option<f32>,
    pub blur_sigma: Option<f32>,
    pub jpeg_quality: Option<u8>,
}

/// The frame a scaled probe is placed in, as a camera would see it.
const FRAME_W: u32 = 1280;
const FRAME_H: u32 = 720;

impl Degrade {
    pub fn parse(s: &str) -> Result<Degrade> {
        let mut d = Degrade::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let num = |what: &str| -> Result<f32> {
                v.parse::<f32>()
                    .ok()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .with_context(|| format!("--degrade {what}: {v:?} is not a positive number"))
            };
            match k {
                "gray" if v.is_empty() => d.gray = true,
                "eye" => d.eye_px = Some(num("eye")?),
                "blur" => d.blur_sigma = Some(num("blur")?),
                "jpeg" => {
                    let q = num("jpeg")?;
                    if q > 100.0 {
                        bail!("--degrade jpeg: quality {q} is over 100");
                    }
                    d.jpeg_quality = Some(q as u8);
                }
                _ => bail!(
                    "--degrade: unknown part {part:?} (gray, eye=PX, blur=SIGMA, jpeg=QUALITY)"
                ),
            }
        }
        Ok(d)
    }

    pub fn is_none(&self) -> bool {
        *self == Degrade::default()
    }

    /// The degraded picture. `eye_px_now` is the probe face's eye distance in
    /// `img` (needed for `eye=`; `None` when no face was found in the original).
    pub fn apply(&self, img: &RgbImage, eye_px_now: Option<f32>) -> Result<Option<RgbImage>> {
        let mut buf = image::RgbImage::from_raw(img.width_px, img.height_px, img.data.clone())
            .context("image buffer")?;
        if self.gray {
            let g = image::imageops::grayscale(&buf);
            buf = image::DynamicImage::ImageLuma8(g).to_rgb8();
        }
        if let Some(px) = self.eye_px {
            let Some(now) = eye_px_now else {
                return Ok(None);
            };
            // Never enlarged, and the whole picture fits the frame (one
            // scale for both sides, so the face keeps its shape).
            let s = (px / now)
                .min(1.0)
                .min(FRAME_W as f32 / img.width_px as f32)
                .min(FRAME_H as f32 / img.height_px as f32);
            let (w, h) = (
                ((img.width_px as f32 * s).round() as u32).clamp(1, FRAME_W),
                ((img.height_px as f32 * s).round() as u32).clamp(1, FRAME_H),
            );
            let small = image::imageops::resize(&buf, w, h, image::imageops::FilterType::Triangle);
            let mut frame = image::RgbImage::from_pixel(FRAME_W, FRAME_H, image::Rgb([110; 3]));
            image::imageops::overlay(
                &mut frame,
                &small,
                ((FRAME_W - w) / 2) as i64,
                ((FRAME_H - h) / 2) as i64,
            );
            buf = frame;
        }
        if let Some(sigma) = self.blur_sigma {
            buf = image::imageops::blur(&buf, sigma);
        }
        if let Some(q) = self.jpeg_quality {
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, q)
                .encode_image(&buf)
                .context("JPEG encoding")?;
            buf = image::load_from_memory(&bytes)
                .context("JPEG decoding")?
                .to_rgb8();
        }
        let (w, h) = buf.dimensions();
        Ok(Some(RgbImage::new(w, h, buf.into_raw())?))
    }
}

/// One person: name and photos, sorted.
#[derive(Debug, Clone)]
struct Person {
    name: String,
    photos: Vec<PathBuf>,
}

fn people(root: &Path) -> Result<Vec<Person>> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?;
    for e in rd {
        let e = e?;
        if !e.file_type()?.is_dir() {
            continue;
        }
        let mut photos: Vec<PathBuf> = std::fs::read_dir(e.path())?
            .filter_map(|f| f.ok().map(|f| f.path()))
            .filter(|p| {
                p.extension().and_then(|x| x.to_str()).is_some_and(|x| {
                    matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png")
                })
            })
            .collect();
        photos.sort();
        if !photos.is_empty() {
            out.push(Person {
                name: e.file_name().to_string_lossy().into_owned(),
                photos,
            });
        }
    }
    if out.is_empty() {
        bail!(
            "{}: no person folders with photos (ROOT/<person>/<photo>.jpg)",
            root.display()
        );
    }
    // A fixed order that is not alphabetical, so a gallery of 100 is not "names from A".
    out.sort_by_key(|p| sha2::Sha256::digest(p.name.as_bytes()).to_vec());
    Ok(out)
}

/// The face whose centre is nearest the picture's centre (the subject's
/// place, in LFW and in a degraded frame), with its template.
pub(crate) fn central_face(
    pipe: &mut FacePipeline,
    img: &RgbImage,
) -> Result<Option<(FaceDetection, FaceTemplate)>> {
    let (cx, cy) = (img.width_px as f32 / 2.0, img.height_px as f32 / 2.0);
    let faces = pipe.faces_with_templates(img)?;
    Ok(faces.into_iter().min_by(|a, b| {
        let d = |f: &FaceDetection| {
            ((f.bbox.x0 + f.bbox.x1) / 2.0 - cx).powi(2)
                + ((f.bbox.y0 + f.bbox.y1) / 2.0 - cy).powi(2)
        };
        d(&a.0).total_cmp(&d(&b.0))
    }))
}

/// What became of one probe photo before the search.
#[derive(Debug, Clone)]
enum Probe {
    /// No face found (in the original or the degraded picture).
    NoFace,
    /// Found, but under the quality gate: counted, never searched.
    BelowGate,
    /// Searched with this template; `true` when its picture was gray
    /// (judged at the gray threshold).
    Searched(FaceTemplate, bool),
}

/// One search's outcome: the nearest entry's person and distance, or none.
#[derive(Debug, Clone, Copy)]
struct Hit {
    /// Index of the person the nearest entry belongs to.
    person: usize,
    distance: f32,
    /// The threshold this probe was judged at (colour or gray).
    threshold: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct AtThreshold {
    pub threshold: f32,
    pub fnir: f64,
    pub fpir: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GalleryReport {
    pub gallery: usize,
    pub mated_probes: usize,
    pub nonmated_probes: usize,
    /// Probes where no face was found (mated: a miss; non-mated: no alarm).
    pub mated_no_face: usize,
    pub nonmated_no_face: usize,
    /// Probes under the quality gate (counted, not searched).
    pub mated_below_gate: usize,
    pub nonmated_below_gate: usize,
    /// Mated probes whose nearest entry is their own, whatever the distance.
    pub rank1: f64,
    pub at_fpir_1e2: AtThreshold,
    pub at_fpir_1e3: AtThreshold,
    /// At the threshold(s) in force for this gallery (each probe at its own
    /// frame's: colour or gray), the configured ones tightened by `[vision] target_fpir`.
    pub configured: AtThreshold,
    /// FPIR predicted at that threshold from the per-comparison
    /// false-match rate as `1 − (1 − FMR)^N`: how FPIR grows with N.
    pub fpir_predicted: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub degrade: Degrade,
    pub people: usize,
    pub photos: usize,
    pub enrol_photos: usize,
    /// Gallery photos the enrolment rules refused (no face, several faces, too small).
    pub refused_enrolments: usize,
    pub galleries: Vec<GalleryReport>,
    /// The largest gallery's threshold for `target_fpir`, and FNIR there.
    pub target: AtThreshold,
    /// False-match rate per comparison (stranger × entry) at distances, on the
    /// largest gallery: "1 in 1/FMR strangers would score this close".
    pub fmr: Vec<(f32, f64)>,
    /// Stranger × entry comparisons behind `fmr` (its resolution is one over this).
    pub fmr_comparisons: usize,
}

/// FNIR and FPIR if every probe were judged at `t`, or at its own threshold when `t` is `None`.
fn rates(mated: &[(usize, Option<Hit>)], nonmated: &[Option<Hit>], t: Option<f32>) -> (f64, f64) {
    let under = |h: &Hit| h.distance <= t.unwrap_or(h.threshold);
    let hits = mated
        .iter()
        .filter(|(me, h)| h.is_some_and(|h| h.person == *me && under(&h)))
        .count();
    let alarms = nonmated
        .iter()
        .filter(|h| h.is_some_and(|h| under(&h)))
        .count();
    (
        1.0 - hits as f64 / mated.len().max(1) as f64,
        alarms as f64 / nonmated.len().max(1) as f64,
    )
}

/// The largest threshold whose FPIR is at most `p` (just under the distance
/// of the non-mated search that would take it over), and FNIR there.
fn at_fpir(mated: &[(usize, Option<Hit>)], nonmated: &[Option<Hit>], p: f64) -> AtThreshold {
    let mut d: Vec<f32> = nonmated.iter().flatten().map(|h| h.distance).collect();
    d.sort_by(f32::total_cmp);
    let k = (p * nonmated.len() as f64).floor() as usize;
    let t = d.get(k).map(|x| x - 1e-6).unwrap_or(2.0);
    let (fnir, fpir) = rates(mated, nonmated, Some(t));
    AtThreshold {
        threshold: t,
        fnir,
        fpir,
    }
}

pub fn main(config: &Path, a: Args) -> Result<()> {
    let mut cfg = engine::load_config(config)?;
    if let Some(g) = a.min_eye_distance {
        cfg.vision.min_eye_distance_px = g;
    }
    let degrade = a
        .degrade
        .as_deref()
        .map(Degrade::parse)
        .transpose()?
        .unwrap_or_default();
    if a.enrol_photos == 0 {
        bail!("--enrol-photos must be at least 1");
    }
    let mut all = people(&a.root)?;
    if let Some(n) = a.limit {
        all.truncate(n);
    }
    let photos: usize = all.iter().map(|p| p.photos.len()).sum();
    let stage: FaceStageConfig = engine::stage_config(&cfg.vision);

    // Legal basis every gallery entry is enrolled under, as a real enrolment.
    let now = SystemClock.now();
    let expires = now.plus_ms(365 * 86_400_000).to_rfc3339();
    let basis = civitas_model::LegalBasisInput {
        kind: "court-order".into(),
        authority: "evaluation".into(),
        reference: "civitas eval identify".into(),
        purpose: "measuring open-set identification accuracy".into(),
        expires,
    }
    .validate(now)?;

    // Enrolment templates: the first photos of each person the rules accept.
    eprintln!("enrolling: {} people, {photos} photos", all.len());
    let enroller = engine::ModelEnroller::new(&cfg.vision);
    let bar = indicatif::ProgressBar::new(all.len() as u64);
    let mut refused = 0usize;
    // Per person: enrolment (photo index, bytes); the rest are probes.
    let mut enrolled: Vec<Vec<(usize, Vec<u8>)>> = vec![Vec::new(); all.len()];
    for (i, p) in all.iter().enumerate() {
        bar.inc(1);
        if p.photos.len() <= a.enrol_photos {
            continue; // Not galleried: a stranger only.
        }
        for (j, f) in p.photos.iter().enumerate() {
            // Keep at least one photo to probe with.
            if enrolled[i].len() == a.enrol_photos || p.photos.len() - j <= 1 {
                break;
            }
            let img = civitas_ingest::load_image(f)?;
            match enroller.template(&f.display().to_string(), &img, &basis) {
                Ok((t, _)) => enrolled[i].push((j, t)),
                Err(_) => refused += 1,
            }
        }
    }
    bar.finish_and_clear();
    let gallery_order: Vec<usize> = (0..all.len())
        .filter(|i| !enrolled[*i].is_empty())
        .collect();

    // Probe templates: every photo (degraded), enrolment photos included
    // (they are a stranger's photos when their person is not enrolled).
    eprintln!(
        "probing: {photos} photos ({})",
        a.degrade.as_deref().unwrap_or("as they are")
    );
    let mut pipe = engine::pipeline(&cfg, "eval", Default::default())?;
    let bar = indicatif::ProgressBar::new(photos as u64);
    let mut probes: Vec<Vec<Probe>> = Vec::with_capacity(all.len());
    for p in &all {
        let mut v = Vec::with_capacity(p.photos.len());
        for f in &p.photos {
            bar.inc(1);
            let img = civitas_ingest::load_image(f)?;
            let img = if degrade.is_none() {
                Some(img)
            } else {
                let eye = match degrade.eye_px {
                    Some(_) => central_face(&mut pipe, &img)?.map(|(d, _)| d.eye_distance_px()),
                    None => None,
                };
                degrade.apply(&img, eye)?
            };
            // A probe put in a camera frame is detected as cameras detect:
            // one pass (stills get the bordered second pass).
            pipe.still_pass = degrade.eye_px.is_none();
            let found = match &img {
                Some(img) => central_face(&mut pipe, img)?,
                None => None,
            };
            pipe.still_pass = true;
            let probe = match img {
                None => Probe::NoFace,
                Some(img) => match found {
                    None => Probe::NoFace,
                    Some((d, _)) if !stage.searchable(&d) => Probe::BelowGate,
                    // A probe put in the mid-gray frame is gray when it was made gray.
                    Some((_, t)) => Probe::Searched(
                        t,
                        degrade.gray || (degrade.eye_px.is_none() && img.is_grayscale()),
                    ),
                },
            };
            v.push(probe);
        }
        probes.push(v);
    }
    bar.finish_and_clear();

    // Gallery sizes, ascending; each gallery is the next people in the fixed order.
    let mut sizes: Vec<usize> = a
        .gallery
        .iter()
        .map(|g| match g.as_str() {
            "all" => Ok(gallery_order.len()),
            n => n
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("--gallery: {n:?} is not a positive number or `all`")),
        })
        .collect::<Result<_>>()?;
    sizes
        .iter_mut()
        .for_each(|n| *n = (*n).min(gallery_order.len()));
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() || sizes[0] == 0 {
        bail!("no one could be enrolled from {}", a.root.display());
    }

    // One real store, enrolled into as the galleries grow, in a private
    // temporary folder (a random name, mode 0700, removed when dropped, on
    // an error or a panic too): it holds the gallery's templates.
    let dir = tempfile::Builder::new()
        .prefix("civitas-identify-")
        .tempdir()
        .context("making a private temporary folder for the evaluation's store")?;
    let mut scfg = cfg;
    scfg.store.url = None;
    scfg.store.path = dir.path().join("identify.db");
    scfg.store.audit_key = dir.path().join("audit.key");
    let rt = engine::tokio()?;
    let result = rt.block_on(evaluate(
        &scfg,
        &all,
        &enrolled,
        &gallery_order,
        &probes,
        &sizes,
        &basis,
        &stage,
        // Gray probes are judged at the gray threshold (as their frames would be).
        degrade.gray,
        a.target_fpir,
    ));
    drop(dir);
    let (galleries, target, (fmr, fmr_comparisons), det) = result?;
    let rep = Report {
        degrade,
        people: all.len(),
        photos,
        enrol_photos: a.enrol_photos,
        refused_enrolments: refused,
        galleries,
        target,
        fmr,
        fmr_comparisons,
    };
    if let Some(path) = &a.det {
        std::fs::write(path, det).with_context(|| format!("writing {}", path.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string(&rep)?);
    } else {
        print_report(&rep, a.target_fpir);
    }
    Ok(())
}

type Evaluated = (
    Vec<GalleryReport>,
    AtThreshold,
    (Vec<(f32, f64)>, usize),
    String,
);

#[allow(clippy::too_many_arguments)]
async fn evaluate(
    cfg: &civitas_config::Config,
    all: &[Person],
    enrolled: &[Vec<(usize, Vec<u8>)>],
    order: &[usize],
    probes: &[Vec<Probe>],
    sizes: &[usize],
    basis: &civitas_model::LegalBasis,
    stage: &FaceStageConfig,
    gray: bool,
    target_fpir: f64,
) -> Result<Evaluated> {
    let store = engine::open_store(cfg).await?;
    let actor = civitas_auth::Actor {
        username: "eval".into(),
        role: civitas_auth::Role::Supervisor,
        scope: vec!["*".into()],
    };
    let now = SystemClock.now();
    let mut by_entry: HashMap<civitas_model::EntryId, usize> = HashMap::new();
    let mut galleries = Vec::new();
    let mut done = 0usize;
    let mut last = None;
    // The distances the false-match table is reported at (the grid of `civitas_model::face::FmrTable`).
    let grid: Vec<f32> = (0..=50).map(|k| 0.20 + 0.01 * k as f32).collect();
    let bar = indicatif::ProgressBar::new(*sizes.last().unwrap_or(&0) as u64);
    for &n in sizes {
        for &i in &order[done..n] {
            let templates = enrolled[i]
                .iter()
                .map(|(j, t)| (all[i].photos[*j].display().to_string(), t.clone()))
                .collect();
            let id = store
                .enroll(
                    &actor,
                    civitas_store::Enrolment::new(&all[i].name, basis, &["*".into()], templates),
                    now,
                )
                .await?;
            by_entry.insert(id, i);
            bar.inc(1);
        }
        done = n;
        let entries = store.watchlist().await?;
        let w = engine::watchlist_for(&entries, "eval")?;
        let in_gallery: std::collections::HashSet<usize> = order[..n].iter().copied().collect();
        // The thresholds in force for a list of n (a target FPIR tightens them).
        let eff = stage.for_watchlist(n);
        let configured = eff.threshold(gray);
        let search = |pr: &Probe| -> Option<Hit> {
            let Probe::Searched(t, is_gray) = pr else {
                return None;
            };
            let threshold = eff.threshold(*is_gray);
            // Threshold 2 (the largest distance): the nearest entry, whatever its distance.
            match w.index.search(t, 2.0, now) {
                MatchOutcome::Match { entry, distance } => Some(Hit {
                    person: by_entry[&entry],
                    distance,
                    threshold,
                }),
                MatchOutcome::Unknown => None,
            }
        };
        let (mut mated, mut nonmated) = (Vec::new(), Vec::new());
        let (mut m_none, mut m_gate, mut n_none, mut n_gate) = (0, 0, 0, 0);
        for (i, ps) in probes.iter().enumerate() {
            let enrol_idx: Vec<usize> = enrolled[i].iter().map(|(j, _)| *j).collect();
            for (j, pr) in ps.iter().enumerate() {
                let mate = in_gallery.contains(&i);
                if mate && enrol_idx.contains(&j) {
                    continue; // An enrolment photo is not its own probe.
                }
                match (pr, mate) {
                    (Probe::NoFace, true) => m_none += 1,
                    (Probe::BelowGate, true) => m_gate += 1,
                    (Probe::NoFace, false) => n_none += 1,
                    (Probe::BelowGate, false) => n_gate += 1,
                    _ => {}
                }
                if mate {
                    mated.push((i, search(pr)));
                } else {
                    nonmated.push(search(pr));
                }
            }
        }
        let rank1 = mated
            .iter()
            .filter(|(me, h)| h.is_some_and(|h| h.person == *me))
            .count() as f64
            / mated.len().max(1) as f64;
        let (fnir, fpir) = rates(&mated, &nonmated, None);
        // Per-comparison false-match rates, from every non-mated template
        // against every entry's nearest template: on the grid, then at the
        // configured threshold (one pass over the comparisons).
        let mut points = grid.clone();
        points.push(configured);
        let (mut curve, comparisons) = fmr_curve(&entries, probes, &in_gallery, &points);
        let f = curve.pop().map_or(0.0, |(_, f)| f);
        galleries.push(GalleryReport {
            gallery: n,
            mated_probes: mated.len(),
            nonmated_probes: nonmated.len(),
            mated_no_face: m_none,
            nonmated_no_face: n_none,
            mated_below_gate: m_gate,
            nonmated_below_gate: n_gate,
            rank1,
            at_fpir_1e2: at_fpir(&mated, &nonmated, 1e-2),
            at_fpir_1e3: at_fpir(&mated, &nonmated, 1e-3),
            configured: AtThreshold {
                threshold: configured,
                fnir,
                fpir,
            },
            fpir_predicted: civitas_model::face::expected_fpir(f, n),
        });
        last = Some((mated, nonmated, (curve, comparisons)));
    }
    bar.finish_and_clear();
    store.close().await;
    let (mated, nonmated, fmr_table) = last.context("no gallery")?;
    let target = at_fpir(&mated, &nonmated, target_fpir);
    let mut det = String::from("threshold,fpir,fnir\n");
    for k in 0..=240 {
        let t = 0.20 + 0.0025 * k as f32;
        let (fnir, fpir) = rates(&mated, &nonmated, Some(t));
        det.push_str(&format!("{t:.4},{fpir:.6},{fnir:.6}\n"));
    }
    Ok((galleries, target, fmr_table, det))
}

/// Every (non-mated searched probe, entry) distance: the entry's nearest template.
fn impostor_distances(
    entries: &[civitas_store::StoredEntry],
    probes: &[Vec<Probe>],
    in_gallery: &std::collections::HashSet<usize>,
) -> Vec<f32> {
    let mut out = Vec::new();
    for (i, ps) in probes.iter().enumerate() {
        if in_gallery.contains(&i) {
            continue;
        }
        for pr in ps {
            if let Probe::Searched(t, _) = pr {
                for e in entries {
                    let d = e
                        .templates
                        .iter()
                        .map(|g| g.distance(t))
                        .fold(f32::INFINITY, f32::min);
                    out.push(d);
                }
            }
        }
    }
    out
}

fn fmr_curve(
    entries: &[civitas_store::StoredEntry],
    probes: &[Vec<Probe>],
    in_gallery: &std::collections::HashSet<usize>,
    grid: &[f32],
) -> (Vec<(f32, f64)>, usize) {
    let mut d = impostor_distances(entries, probes, in_gallery);
    d.sort_by(f32::total_cmp);
    let n = d.len().max(1) as f64;
    let curve = grid
        .iter()
        .map(|&t| (t, d.partition_point(|x| *x <= t) as f64 / n))
        .collect();
    (curve, d.len())
}

fn print_report(r: &Report, target: f64) {
    println!(
        "{} people, {} photos, {} enrolment photo(s) each ({} refused by the enrolment rules); probes {}",
        r.people,
        r.photos,
        r.enrol_photos,
        r.refused_enrolments,
        if r.degrade.is_none() {
            "as they are".to_string()
        } else {
            serde_json::to_string(&r.degrade).unwrap_or_default()
        }
    );
    println!(
        "{:>7} {:>6} {:>7} {:>6} {:>6} {:>6} | {:>21} | {:>21} | {:>26}",
        "gallery",
        "mated",
        "strngrs",
        "noface",
        "<gate",
        "rank1",
        "FPIR=1e-2: t / FNIR",
        "FPIR=1e-3: t / FNIR",
        "configured t: FNIR / FPIR (pred.)"
    );
    for g in &r.galleries {
        println!(
            "{:>7} {:>6} {:>7} {:>6} {:>6} {:>6.4} | {:>10.3} / {:>8.4} | {:>10.3} / {:>8.4} | {:.2}: {:.4} / {:.5} ({:.5})",
            g.gallery,
            g.mated_probes,
            g.nonmated_probes,
            g.mated_no_face + g.nonmated_no_face,
            g.mated_below_gate + g.nonmated_below_gate,
            g.rank1,
            g.at_fpir_1e2.threshold,
            g.at_fpir_1e2.fnir,
            g.at_fpir_1e3.threshold,
            g.at_fpir_1e3.fnir,
            g.configured.threshold,
            g.configured.fnir,
            g.configured.fpir,
            g.fpir_predicted,
        );
    }
    println!(
        "threshold for FPIR ≤ {target:e} at the largest gallery: {:.3} (FPIR {:.5}, FNIR {:.4})",
        r.target.threshold, r.target.fpir, r.target.fnir
    );
    let fmr: Vec<String> = r
        .fmr
        .iter()
        .filter(|(t, _)| ((t * 100.0).round() as i32) % 5 == 0)
        .map(|(t, f)| format!("{t:.2}: {f:.1e}"))
        .collect();
    println!(
        "false-match rate per comparison ({} stranger × entry comparisons): {}",
        r.fmr_comparisons,
        fmr.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degradations_parse_and_errors_name_the_part() {
        let d = Degrade::parse("gray, eye=24,blur=1.5,jpeg=40").unwrap();
        assert!(d.gray);
        assert_eq!(d.eye_px, Some(24.0));
        assert_eq!(d.blur_sigma, Some(1.5));
        assert_eq!(d.jpeg_quality, Some(40));
        let e = Degrade::parse("eye=-3").unwrap_err().to_string();
        assert!(e.contains("eye") && e.contains("-3"), "{e}");
        let e = Degrade::parse("sepia").unwrap_err().to_string();
        assert!(e.contains("sepia"), "{e}");
        assert!(Degrade::parse("jpeg=101").is_err());
    }

    #[test]
    fn a_probe_scaled_to_an_eye_distance_sits_in_a_camera_frame() {
        let img = RgbImage::new(250, 250, vec![200; 250 * 250 * 3]).unwrap();
        let d = Degrade::parse("eye=25,gray").unwrap();
        let out = d.apply(&img, Some(50.0)).unwrap().unwrap();
        assert_eq!((out.width_px, out.height_px), (FRAME_W, FRAME_H));
        // Halved: 125 × 125 in the middle, the frame's gray around it.
        assert_eq!(out.pixel(640, 360), [200; 3]);
        assert_eq!(out.pixel(640 - 70, 360), [110; 3]);
        assert!(out.is_grayscale());
        assert!(
            d.apply(&img, None).unwrap().is_none(),
            "no face, no eye distance"
        );
    }

    fn hit(person: usize, distance: f32) -> Option<Hit> {
        Some(Hit {
            person,
            distance,
            threshold: 0.4,
        })
    }

    #[test]
    fn open_set_rates_count_wrong_people_and_failures_as_misses() {
        // Four mated probes: right and close, right but far, wrong person close, no face.
        let mated = vec![
            (0, hit(0, 0.30)),
            (1, hit(1, 0.50)),
            (2, hit(9, 0.30)),
            (3, None),
        ];
        // Ten strangers: two close, the rest far or without a face.
        let mut nonmated = vec![hit(0, 0.35), hit(1, 0.38)];
        nonmated.extend((0..6).map(|_| hit(2, 0.7)));
        nonmated.extend([None, None]);
        let (fnir, fpir) = rates(&mated, &nonmated, None);
        assert_eq!(fnir, 0.75);
        assert!((fpir - 0.2).abs() < 1e-9);
        // FPIR ≤ 0.1 allows one alarm: the threshold sits just under the second-closest stranger.
        let t = at_fpir(&mated, &nonmated, 0.1);
        assert!(t.threshold < 0.38 && t.threshold > 0.37, "{t:?}");
        assert!((t.fpir - 0.1).abs() < 1e-9);
        // FPIR 0: under the closest stranger, and the close right match still counts.
        let t = at_fpir(&mated, &nonmated, 0.0);
        assert!(t.threshold < 0.35);
        assert_eq!(t.fnir, 0.75);
    }
}
