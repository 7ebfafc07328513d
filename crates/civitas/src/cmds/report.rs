//! `civitas report`: the transparency report, as JSON and a self-contained
//! HTML page. Counts only: nothing in it identifies a person.

use crate::session::session;
use anyhow::{Context, Result};
use civitas_base::{Clock, SystemClock, Timestamp};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Start of the period, YYYY-MM-DD or RFC 3339 (UTC).
    #[arg(long)]
    from: String,
    /// End of the period (exclusive).
    #[arg(long)]
    to: String,
    /// Folder to write report.json and report.html into.
    #[arg(long, default_value = "var/report")]
    out: PathBuf,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn main(config: &Path, user: Option<&str>, a: Args) -> Result<()> {
    let parse = |f: &str, v: &str| {
        Timestamp::parse_rfc3339(v)
            .with_context(|| format!("--{f} {v:?}: expected YYYY-MM-DD or RFC 3339"))
    };
    let (from, to) = (parse("from", &a.from)?, parse("to", &a.to)?);
    anyhow::ensure!(from < to, "--from must be before --to");
    let (cfg, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        actor.require(civitas_auth::Permission::Report)?;
        let now = SystemClock.now();
        store
            .audit(now, civitas_store::AuditRecord::new(&actor.username, "report.generate", "transparency")
                .details(serde_json::json!({"from": from.0, "to": to.0})))
            .await?;
        let counts = store.report_counts(from, to, now).await?;
        let head = store.audit_head().await?;
        let cameras: Vec<serde_json::Value> = cfg
            .cameras
            .iter()
            .map(|c| serde_json::json!({"id": c.id, "name": c.name, "purpose": c.purpose, "owner": c.owner, "latitude": c.latitude, "longitude": c.longitude}))
            .collect();
        let matching = face_matching(&cfg.vision, &store, now).await?;
        let report = serde_json::json!({
            "period": {"from": from.to_rfc3339(), "to": to.to_rfc3339()},
            "generated_at": now.to_rfc3339(),
            "counts": counts,
            "face_matching": matching,
            "cameras": cameras,
            "audit_tree_head": head,
        });
        std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
        std::fs::write(a.out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
        let rows = |m: &std::collections::BTreeMap<String, u64>| -> String {
            if m.is_empty() {
                return "<tr><td colspan=2><em>none</em></td></tr>".into();
            }
            m.iter().map(|(k, v)| format!("<tr><td>{}</td><td>{v}</td></tr>", esc(k))).collect()
        };
        let cams: String = cfg
            .cameras
            .iter()
            .map(|c| format!("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&c.id), esc(&c.name), esc(&c.purpose), esc(&c.owner)))
            .collect();
        let html = format!(
            "<!doctype html><html lang=en><meta charset=utf-8><title>Civitas transparency report</title>\
<style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:.3em .7em;text-align:left}}\
code{{word-break:break-all}}</style>\
<h1>Transparency report</h1><p>Period {} to {} (UTC). Generated {}. Counts only; nothing here identifies a person.</p>\
<h2>Watchlist entries in force, by legal-basis kind</h2><table>{}</table>\
<h2>Face matching: the operating point</h2><p>{}</p>\
<h2>Candidates</h2><table><tr><td>raised</td><td>{}</td></tr><tr><td>confirmed (two people)</td><td>{}</td></tr>\
<tr><td>rejected (false positives)</td><td>{}</td></tr><tr><td>expired unreviewed</td><td>{}</td></tr></table>\
<h2>Rejection reasons</h2><table>{}</table>\
<h2>Deletions</h2><table><tr><td>by retention</td><td>{}</td></tr><tr><td>legal bases refused</td><td>{}</td></tr></table>\
<h2>Incidents opened, by source</h2><table>{}</table>\
<h2>Incidents closed, by reason</h2><table>{}</table>\
<h2>Dispatch</h2><table><tr><td>units dispatched</td><td>{}</td></tr><tr><td>cameras viewed through an incident</td><td>{}</td></tr></table>\
<h2>Evidence</h2><table><tr><td>bundles exported</td><td>{}</td></tr><tr><td>recordings played</td><td>{}</td></tr></table>\
<h2>All audited actions</h2><table>{}</table>\
<h2>Cameras</h2><table><tr><th>id</th><th>name</th><th>purpose</th><th>owner</th></tr>{}</table>\
<h2>Audit log</h2><p>Signed tree head: <code>{}</code></p></html>",
            from.to_rfc3339(),
            to.to_rfc3339(),
            now.to_rfc3339(),
            rows(&counts.active_entries_by_basis_kind),
            esc(&matching.sentence()),
            counts.candidates_raised,
            counts.confirmed,
            counts.rejected,
            counts.expired_unreviewed,
            rows(&counts.rejection_reasons),
            counts.retention_deleted,
            counts.bases_refused,
            rows(&counts.incidents_opened_by_source),
            rows(&counts.incidents_closed_by_reason),
            counts.units_dispatched,
            counts.incident_camera_views,
            counts.evidence_exports,
            counts.recordings_played,
            rows(&counts.actions),
            cams,
            esc(&serde_json::to_string(&head)?),
        );
        std::fs::write(a.out.join("report.html"), html)?;
        println!("wrote {} and {}", a.out.join("report.json").display(), a.out.join("report.html").display());
        store.close().await;
        anyhow::Ok(())
    })
}

/// The face-matching operating point as the report states it: the
/// configured thresholds, how often a stranger scores under them against
/// one entry (measured, see BENCHMARKS.md), and the share of strangers
/// expected to raise a candidate against the entries in force now (FPIR).
#[derive(Debug, serde::Serialize)]
struct FaceMatching {
    /// `[vision] target_fpir` (0: fixed thresholds).
    target_fpir: f64,
    /// The thresholds in force for the entries in force (a target FPIR
    /// tightens the configured ones as the list grows).
    match_threshold: f32,
    grayscale_match_threshold: f32,
    /// False matches per comparison at `match_threshold`.
    fmr_per_comparison: f64,
    fmr_is_upper_bound: bool,
    /// Same at the gray threshold.
    grayscale_fmr_per_comparison: f64,
    face_entries_in_force: usize,
    /// Their enrolled photos' templates: each is a comparison.
    face_templates_in_force: usize,
    /// Strangers who would raise a candidate, colour and gray pictures.
    expected_fpir: f64,
    grayscale_expected_fpir: f64,
}

impl FaceMatching {
    fn sentence(&self) -> String {
        let one_in = |r: f64| {
            if r > 0.0 {
                // Two significant figures: the rates come from a finite measurement.
                let n: f64 = format!("{:.1e}", 1.0 / r).parse().unwrap_or(1.0 / r);
                format!("1 in {n:.0}")
            } else {
                "none".into()
            }
        };
        let target = if self.target_fpir > 0.0 {
            format!(
                "The configured false-alarm rate is {} searched faces of strangers ({}; a stranger seen in many frames is searched many times); the thresholds tighten as the watchlist grows. ",
                one_in(self.target_fpir),
                self.target_fpir
            )
        } else {
            "Thresholds are fixed (no target false-alarm rate is configured). ".into()
        };
        format!(
            "{target}Faces match an entry at distance {:.3} or less ({:.3} in gray, infrared pictures). At that distance \
             {}{} strangers' faces scores as close to one enrolled photo; with the {} face entries in force ({} photos), about {} searched \
             faces of strangers would match ({} in gray pictures), counted across the whole store (a camera searches only the entries whose \
             legal basis covers it). Every candidate is checked by two people before it is confirmed.",
            self.match_threshold,
            self.grayscale_match_threshold,
            if self.fmr_is_upper_bound {
                "at most "
            } else {
                ""
            },
            one_in(self.fmr_per_comparison),
            self.face_entries_in_force,
            self.face_templates_in_force,
            one_in(self.expected_fpir),
            one_in(self.grayscale_expected_fpir),
        )
    }
}

async fn face_matching(
    v: &civitas_config::VisionConfig,
    store: &civitas_store::Store,
    now: Timestamp,
) -> Result<FaceMatching> {
    use civitas_model::face::{COLOUR_FMR, GRAY_FMR, expected_fpir};
    let active: Vec<_> = store
        .watchlist()
        .await?
        .into_iter()
        .filter(|e| e.basis.is_active(now))
        .collect();
    let entries = active.len();
    // Each enrolled template is a comparison a stranger's face goes through.
    let templates: usize = active.iter().map(|e| e.templates.len()).sum();
    let eff = civitas_runtime::engine::stage_config(v).for_watchlist(templates);
    let (fmr, bound) = COLOUR_FMR.at(eff.match_threshold);
    let (gray, _) = GRAY_FMR.at(eff.grayscale_match_threshold);
    Ok(FaceMatching {
        target_fpir: v.target_fpir,
        match_threshold: eff.match_threshold,
        grayscale_match_threshold: eff.grayscale_match_threshold,
        fmr_per_comparison: fmr,
        fmr_is_upper_bound: bound,
        grayscale_fmr_per_comparison: gray,
        face_entries_in_force: entries,
        face_templates_in_force: templates,
        expected_fpir: expected_fpir(fmr, templates),
        grayscale_expected_fpir: expected_fpir(gray, templates),
    })
}
