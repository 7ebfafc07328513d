//! Evidence export: a case bundle for a court or a data-subject request.
//!
//! For a **confirmed** candidate, the recordings of its camera covering its
//! time are re-encoded with every face blurred except the confirmed
//! subject's (a face is kept only when its template is within the match
//! threshold of the subject's enrolled templates; bystanders' templates exist
//! in memory for that comparison only), and optionally every plate but the
//! one concerned. The bundle holds the clips, `manifest.json` (files with
//! SHA-256, the case, the legal basis, the audit entries about the case with
//! Merkle inclusion proofs against a signed tree head) and `manifest.sig`;
//! `civitas evidence verify` checks it offline. The export is audited
//! (`evidence.export`) before the proofs are taken, so the bundle proves its
//! own export too. (Over 600 lines: redaction, the clip's re-encoding and
//! the bundle are one export path, read top to bottom; the console's job
//! runner is the last 120 lines.)

use anyhow::{Context, Result, bail};
use civitas_api::evidence::ExportState;
use civitas_audit::bundle::{self, AuditProofs, BundleFile, Manifest, ProvenEntry};
use civitas_auth::{Actor, Permission};
use civitas_base::{Clock, SystemClock};
use civitas_config::Config;
use civitas_model::{BBox, Decision, FaceTemplate, RecordingState, RgbImage};
use civitas_store::{AuditRecord, Store};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    pub candidate: i64,
    pub justification: String,
    /// Also blur every plate but the one concerned.
    pub blur_plates: bool,
}

/// What an export did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportReport {
    pub dir: PathBuf,
    pub clips: usize,
    pub frames: u64,
    pub faces_blurred: u64,
    pub subject_faces_kept: u64,
    pub plates_blurred: u64,
    pub audit_entries: usize,
    pub seconds: f64,
}

/// Detector score down to which a face is blurred (below what matching needs).
const BLUR_MIN_SCORE: f32 = 0.25;
/// Frames a blurred region stays blurred after its face was last seen (covers detector misses).
const BLUR_HOLD_FRAMES: u32 = 3;

/// The faces (and plates) to hide in each frame.
pub struct Redactor {
    detector: Box<dyn civitas_vision::FaceDetector>,
    embedder: civitas_vision::FaceEmbedder,
    subject: Vec<FaceTemplate>,
    threshold: f32,
    plates: Option<(civitas_vision::anpr::PlateRecogniser, Option<String>)>,
    /// Regions blurred recently, with frames left.
    held: Vec<(BBox, u32)>,
    pub faces_blurred: u64,
    pub subject_kept: u64,
    pub plates_blurred: u64,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("subject_templates", &self.subject.len())
            .finish()
    }
}

impl Redactor {
    /// `subject`: the confirmed person's enrolled templates (empty for a plate case:
    /// every face is blurred). `plates`: blur plates, keeping `Some(plate)`.
    pub fn new(
        cfg: &Config,
        subject: Vec<FaceTemplate>,
        plates: Option<Option<String>>,
    ) -> Result<Redactor> {
        let (detector, embedder) = crate::engine::models_at(&cfg.vision, BLUR_MIN_SCORE)?;
        let plates = match plates {
            Some(keep) => Some((
                crate::engine::plate_recogniser(&cfg.vision, &cfg.anpr)?,
                keep,
            )),
            None => None,
        };
        Ok(Redactor {
            detector,
            embedder,
            subject,
            threshold: cfg.vision.match_threshold,
            plates,
            held: Vec::new(),
            faces_blurred: 0,
            subject_kept: 0,
            plates_blurred: 0,
        })
    }

    /// Blurs one frame in place.
    pub fn redact(&mut self, img: &mut RgbImage) -> civitas_base::Result<()> {
        let dets = self.detector.detect(img)?;
        let mut blur: Vec<BBox> = Vec::new();
        if !dets.is_empty() {
            let chips: Vec<RgbImage> = dets
                .iter()
                .map(|d| civitas_vision::align::align_chip(img, &d.landmarks, 150))
                .collect();
            // Templates of people on no list live here, for this comparison, and nowhere else.
            let templates = self.embedder.embed(&chips)?;
            for (d, t) in dets.iter().zip(&templates) {
                let is_subject = self.subject.iter().any(|s| s.distance(t) < self.threshold);
                if is_subject {
                    self.subject_kept += 1;
                } else {
                    self.faces_blurred += 1;
                    blur.push(grow(&d.bbox, 0.3, 0.45));
                }
            }
        }
        if let Some((rec, keep)) = &mut self.plates {
            let scan = rec.scan(img)?;
            // The plate concerned (allowing one OCR confusion) stays; every
            // other line of text found is blurred, read or not: a plate our
            // OCR could not read may still be legible to a person.
            let kept: Vec<BBox> = scan
                .reads
                .iter()
                .filter(|r| {
                    keep.as_deref()
                        .is_some_and(|k| civitas_model::plate_text::distance(&r.text, k) <= 1.0)
                })
                .map(|r| r.bbox)
                .collect();
            for line in &scan.lines {
                let b = line.bbox();
                if !kept.iter().any(|k| k.iou(&b) > 0.2) {
                    self.plates_blurred += 1;
                    blur.push(grow(&b, 0.15, 0.4));
                }
            }
        }
        // Keep blurring where a face was in the last frames: a detector miss
        // in one frame must not show a face for one frame.
        for (b, _) in &self.held {
            pixelate(img, b);
        }
        for b in &blur {
            pixelate(img, b);
        }
        self.held.retain_mut(|(_, n)| {
            *n -= 1;
            *n > 0
        });
        self.held
            .extend(blur.into_iter().map(|b| (b, BLUR_HOLD_FRAMES)));
        Ok(())
    }
}

fn grow(b: &BBox, wx: f32, wy: f32) -> BBox {
    let (w, h) = (b.x1 - b.x0, b.y1 - b.y0);
    BBox::new(
        b.x0 - w * wx,
        b.y0 - h * wy,
        b.x1 + w * wx,
        b.y1 + h * wy * 0.6,
    )
}

/// Replaces a region with 5×5 blocks of its mean colour: nothing of a face's
/// features survives, and the blocks do not look like a face to a detector.
pub fn pixelate(img: &mut RgbImage, b: &BBox) {
    let (w, h) = (img.width_px as i64, img.height_px as i64);
    let x0 = (b.x0.floor() as i64).clamp(0, w);
    let y0 = (b.y0.floor() as i64).clamp(0, h);
    let x1 = (b.x1.ceil() as i64).clamp(0, w);
    let y1 = (b.y1.ceil() as i64).clamp(0, h);
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let block = ((x1 - x0).max(y1 - y0) / 5).max(4);
    let mut by = y0;
    while by < y1 {
        let mut bx = x0;
        let ey = (by + block).min(y1);
        while bx < x1 {
            let ex = (bx + block).min(x1);
            let mut sum = [0u64; 3];
            let n = ((ex - bx) * (ey - by)) as u64;
            for y in by..ey {
                for x in bx..ex {
                    let i = ((y * w + x) * 3) as usize;
                    for c in 0..3 {
                        sum[c] += img.data[i + c] as u64;
                    }
                }
            }
            let mean = sum.map(|s| (s / n.max(1)) as u8);
            for y in by..ey {
                for x in bx..ex {
                    let i = ((y * w + x) * 3) as usize;
                    img.data[i..i + 3].copy_from_slice(&mean);
                }
            }
            bx = ex;
        }
        by = ey;
    }
}

/// Width, height, frame rate (25 when the stream does not say) and an
/// estimate of the frame count of a video, from `civitas_ingest::video::probe`.
pub fn probe(path: &Path) -> Result<(u32, u32, f64, u64)> {
    let v = civitas_ingest::video::probe(path)?;
    let fps = v.frame_rate.unwrap_or(25.0).clamp(1.0, 120.0);
    let frames = (v.duration_ms.unwrap_or(0) as f64 / 1000.0 * fps).round() as u64;
    Ok((v.width_px, v.height_px, fps, frames))
}

/// Decodes `src`, redacts every frame, encodes `dst` (H.264, MP4). Returns frames written.
pub fn redact_clip(
    src: &Path,
    dst: &Path,
    r: &mut Redactor,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let (w, h, fps, estimate) = probe(src)?;
    let mut dec = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(src)
        .args([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg to decode")?;
    let mut enc = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
        .args([
            "-s",
            &format!("{w}x{h}"),
            "-r",
            &format!("{fps:.3}"),
            "-i",
            "-",
        ])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20"])
        .args(["-pix_fmt", "yuv420p", "-movflags", "+faststart"])
        .arg(dst)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg to encode")?;
    let mut out = dec.stdout.take().context("decoder output")?;
    let mut inp = enc.stdin.take().context("encoder input")?;
    let size = (w * h * 3) as usize;
    let mut frames = 0u64;
    loop {
        let mut buf = vec![0u8; size];
        match out.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e).context("reading decoded frames"),
        }
        let mut img = RgbImage::new(w, h, buf)?;
        r.redact(&mut img)?;
        inp.write_all(&img.data).context("writing to the encoder")?;
        frames += 1;
        progress(frames, estimate.max(frames));
    }
    drop(inp);
    let d = dec.wait_with_output()?;
    let e = enc.wait_with_output()?;
    if !d.status.success() {
        bail!(
            "{}: decoding failed: {}",
            src.display(),
            String::from_utf8_lossy(&d.stderr).trim()
        );
    }
    if !e.status.success() {
        bail!(
            "{}: encoding failed: {}",
            dst.display(),
            String::from_utf8_lossy(&e.stderr).trim()
        );
    }
    if frames == 0 {
        bail!("{}: no frame could be decoded", src.display());
    }
    Ok(frames)
}

/// Exports the case of a confirmed candidate into a new folder `out`.
#[allow(clippy::too_many_arguments)]
pub async fn export(
    cfg: &Config,
    store: &Store,
    key: &civitas_audit::AuditKey,
    actor: &Actor,
    req: &ExportRequest,
    out: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<ExportReport> {
    let t0 = std::time::Instant::now();
    actor.require(Permission::Export)?;
    if req.justification.trim().chars().count() < 5 {
        bail!("evidence export: a justification is required (the case or request it answers)");
    }
    let c = store.candidate_view(actor, req.candidate).await?;
    if c.status != "confirmed" {
        let confirms = c
            .reviews
            .iter()
            .filter(|r| r.decision == Decision::Confirm)
            .count();
        bail!(
            "candidate {} is {} ({confirms} confirmation(s)): only a confirmed match is exported",
            c.id,
            c.status
        );
    }
    let now = SystemClock.now();
    // The recordings covering the match's moment; failing that (a plate pass
    // announced after its vehicle left), the nearest one within 30 s.
    let t = c.frame_time_ms;
    let near = store
        .recordings(
            actor,
            &c.camera,
            civitas_base::Timestamp(t - 30_000),
            civitas_base::Timestamp(t + 30_000),
            &req.justification,
            20,
            now,
        )
        .await?;
    let gap = |r: &civitas_store::RecordingView| (r.start_ms - t).max(t - r.end_ms).max(0);
    let covering: Vec<_> = near.iter().filter(|r| gap(r) == 0).cloned().collect();
    let recs: Vec<_> = if covering.is_empty() {
        near.iter()
            .filter(|r| r.state.playable())
            .min_by_key(|r| gap(r))
            .into_iter()
            .chain(
                near.iter()
                    .filter(|r| r.state == RecordingState::Deleted)
                    .take(1),
            )
            .cloned()
            .collect()
    } else {
        covering
    };
    let deleted = recs.iter().find(|r| r.state == RecordingState::Deleted);
    let recs: Vec<_> = recs
        .iter()
        .filter(|r| r.state.playable())
        .cloned()
        .collect();
    if recs.is_empty() {
        match deleted {
            Some(d) => bail!(
                "candidate {}: its recording {} was deleted by retention ({}) at {}",
                c.id,
                d.id,
                d.deleted_reason.as_deref().unwrap_or("?"),
                civitas_base::Timestamp(d.deleted_at_ms.unwrap_or(0)).to_rfc3339()
            ),
            None => bail!(
                "candidate {}: no finished recording of camera {} covers {}",
                c.id,
                c.camera,
                civitas_base::Timestamp(c.frame_time_ms).to_rfc3339()
            ),
        }
    }
    let plate_case = c.kind == "plate";
    let subject: Vec<FaceTemplate> = if plate_case {
        Vec::new()
    } else {
        store
            .watchlist()
            .await?
            .into_iter()
            .find(|e| e.id.0 == c.entry_id)
            .map(|e| e.templates)
            .with_context(|| format!("entry {} (the subject) no longer exists", c.entry_id))?
    };
    if !plate_case && subject.is_empty() {
        bail!(
            "entry {} has no templates to recognise the subject by",
            c.entry_id
        );
    }
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!(
            "{}: the bundle folder exists and is not empty",
            out.display()
        );
    }
    std::fs::create_dir_all(out.join("clips"))
        .with_context(|| format!("creating {}", out.display()))?;
    let plates = (req.blur_plates || plate_case).then(|| c.plate.clone().or(c.read_text.clone()));
    let mut red = Redactor::new(cfg, subject, plates)?;
    let mut files = Vec::new();
    let mut frames = 0;
    for r in &recs {
        let src = cfg.recording.dir.join(&r.path);
        let name = format!("clips/recording-{}-blurred.mp4", r.id);
        let before = (red.faces_blurred, red.subject_kept, red.plates_blurred);
        let n = redact_clip(&src, &out.join(&name), &mut red, progress)
            .with_context(|| format!("recording {}", r.id))?;
        frames += n;
        let p = out.join(&name);
        files.push(BundleFile {
            sha256: bundle::sha256_file(&p)?,
            bytes: std::fs::metadata(&p)?.len(),
            path: name,
            about: serde_json::json!({
                "recording": r.id, "camera": r.camera, "start_ms": r.start_ms, "end_ms": r.end_ms,
                "source_sha256": bundle::sha256_file(&src)?,
                "frames": n,
                "faces_blurred": red.faces_blurred - before.0,
                "subject_faces_kept": red.subject_kept - before.1,
                "plates_blurred": red.plates_blurred - before.2,
            }),
        });
    }
    // Audit the export first, so the proofs below include it.
    let targets: Vec<String> = [
        format!("candidate:{}", c.id),
        format!("entry:{}", c.entry_id),
    ]
    .into_iter()
    .chain(recs.iter().map(|r| format!("recording:{}", r.id)))
    .collect();
    store
        .audit(
            SystemClock.now(),
            AuditRecord::new(&actor.username, "evidence.export", format!("candidate:{}", c.id))
                .why(req.justification.trim())
                .details(serde_json::json!({
                    "recordings": recs.iter().map(|r| r.id).collect::<Vec<_>>(),
                    "files": files.iter().map(|f| serde_json::json!({"path": f.path, "sha256": f.sha256})).collect::<Vec<_>>(),
                    "blur_plates": req.blur_plates || plate_case,
                })),
        )
        .await?;
    let seqs = store.audit_seqs_for(&targets).await?;
    let (proven, head) = store.audit_prove_many(&seqs).await?;
    let manifest = Manifest {
        format: bundle::FORMAT.into(),
        case: serde_json::json!({
            "candidate": c.id, "kind": c.kind, "camera": c.camera,
            "frame_time": civitas_base::Timestamp(c.frame_time_ms).to_rfc3339(),
            "subject": c.entry_name, "entry": c.entry_id, "plate": c.plate,
            "confirmed_by": c.reviews.iter().filter(|r| r.decision == Decision::Confirm).map(|r| r.username.clone()).collect::<Vec<_>>(),
        }),
        legal_basis: serde_json::to_value(&c.basis)?,
        exported_by: actor.username.clone(),
        exported_at_ms: SystemClock.now().0,
        justification: req.justification.trim().to_owned(),
        redaction: serde_json::json!({
            "faces": if plate_case { "every face blurred" } else { "every face blurred except the confirmed subject's (template within the match threshold of the subject's enrolled templates)" },
            "plates": if req.blur_plates || plate_case { "every plate blurred except the one concerned" } else { "not blurred" },
            "match_threshold": cfg.vision.match_threshold,
            "detector_min_score": BLUR_MIN_SCORE,
            "method": "5x5 blocks of the region's mean colour, held 3 frames after the face was last seen",
        }),
        files,
        audit: AuditProofs {
            public_key: civitas_audit::key::hex(&key.public()),
            tree_head: (&head).into(),
            entries: proven.iter().map(|(e, p)| ProvenEntry::new(e, p)).collect(),
        },
    };
    bundle::write(out, &manifest, key)?;
    Ok(ExportReport {
        dir: out.to_owned(),
        clips: manifest.files.len(),
        frames,
        faces_blurred: red.faces_blurred,
        subject_faces_kept: red.subject_kept,
        plates_blurred: red.plates_blurred,
        audit_entries: manifest.audit.entries.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Evidence export for the command centre: one job at a time, in the background.
pub struct ConsoleExporter {
    cfg: Config,
    store: Store,
    key: std::sync::Arc<civitas_audit::AuditKey>,
    handle: tokio::runtime::Handle,
    jobs: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, Job>>>,
    next: std::sync::atomic::AtomicU64,
}

struct Job {
    status: civitas_api::evidence::ExportJob,
    dir: PathBuf,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter").finish()
    }
}

impl ConsoleExporter {
    pub fn new(
        cfg: &Config,
        store: &Store,
        key: std::sync::Arc<civitas_audit::AuditKey>,
        handle: tokio::runtime::Handle,
    ) -> ConsoleExporter {
        ConsoleExporter {
            cfg: cfg.clone(),
            store: store.clone(),
            key,
            handle,
            jobs: Default::default(),
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }
}

impl civitas_api::evidence::Exporter for ConsoleExporter {
    fn start(
        &self,
        actor: Actor,
        req: civitas_api::evidence::ExportJobRequest,
    ) -> civitas_base::Result<civitas_api::evidence::ExportJob> {
        use civitas_base::{Error, ErrorKind};
        actor.require(Permission::Export)?;
        if req.justification.trim().chars().count() < 5 {
            return Err(Error::invalid(
                "evidence export: field `justification` is required (the court case or request it answers)",
            ));
        }
        let c = self
            .handle
            .block_on(self.store.candidate_view(&actor, req.candidate))?;
        if c.status != "confirmed" {
            let n = c
                .reviews
                .iter()
                .filter(|r| r.decision == Decision::Confirm)
                .count();
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "candidate {} is {} ({n} confirmation(s)): only a confirmed match is exported",
                    c.id, c.status
                ),
            ));
        }
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = jobs
            .values()
            .find(|j| j.status.state == ExportState::Running)
        {
            return Err(Error::new(
                ErrorKind::ResourceExhausted,
                format!(
                    "export {} (candidate {}) is running; one export runs at a time",
                    j.status.id, j.status.candidate
                ),
            ));
        }
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("case-{}-export-{}-{}", c.id, id, SystemClock.now().0);
        let dir = self.cfg.recording.evidence_dir.join(&name);
        let status = civitas_api::evidence::ExportJob {
            id,
            candidate: c.id,
            started_by: actor.username.clone(),
            state: ExportState::Running,
            frames_done: 0,
            frames_total: 0,
            error: None,
            bundle: Some(name),
            summary: None,
        };
        jobs.insert(
            id,
            Job {
                status: status.clone(),
                dir: dir.clone(),
            },
        );
        drop(jobs);
        let (cfg, store, key, handle, table) = (
            self.cfg.clone(),
            self.store.clone(),
            self.key.clone(),
            self.handle.clone(),
            self.jobs.clone(),
        );
        let update =
            move |t: &std::sync::Mutex<std::collections::HashMap<u64, Job>>,
                  f: &mut dyn FnMut(&mut civitas_api::evidence::ExportJob)| {
                if let Some(j) = t.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&id) {
                    f(&mut j.status);
                }
            };
        std::thread::Builder::new()
            .name(format!("export-{id}"))
            .spawn(move || {
                let er = ExportRequest {
                    candidate: req.candidate,
                    justification: req.justification,
                    blur_plates: req.blur_plates,
                };
                let t2 = table.clone();
                let mut progress = move |done: u64, total: u64| {
                    update(&t2, &mut |s| {
                        s.frames_done = done;
                        s.frames_total = total;
                    })
                };
                let r =
                    handle.block_on(export(&cfg, &store, &key, &actor, &er, &dir, &mut progress));
                let mut t = table.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(j) = t.get_mut(&id) {
                    match r {
                        Ok(rep) => {
                            j.status.state = ExportState::Done;
                            j.status.summary = serde_json::to_value(&rep).ok();
                        }
                        Err(e) => {
                            j.status.state = ExportState::Failed;
                            j.status.error = Some(format!("{e:#}"));
                            let _ = std::fs::remove_dir_all(&dir);
                        }
                    }
                }
            })
            .map_err(|e| civitas_base::Error::internal(format!("export: {e}")))?;
        Ok(status)
    }

    fn job(&self, id: u64) -> Option<civitas_api::evidence::ExportJob> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map(|j| j.status.clone())
    }

    fn bundle_dir(&self, id: u64) -> Option<PathBuf> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map(|j| j.dir.clone())
    }
}
