//! `civitas evidence`: export a case bundle (clips with bystanders blurred,
//! manifest, audit proofs) and verify one offline.

use crate::session::session;
use anyhow::Result;
use civitas_runtime::evidence::{ExportRequest, export};
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Export the case of a confirmed candidate into a new folder.
    Export {
        /// The confirmed candidate (face or plate).
        #[arg(long)]
        candidate: i64,
        /// Why (the court case or data-subject request it answers). Audited.
        #[arg(long)]
        justification: String,
        /// Also blur every plate but the one concerned.
        #[arg(long)]
        blur_plates: bool,
        /// The bundle folder to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a bundle offline: signatures, file hashes, audit proofs.
    Verify {
        bundle: PathBuf,
        /// The operator's published audit key (hex), to pin.
        #[arg(long)]
        key: Option<String>,
    },
}

pub fn main(config: &Path, user: Option<&str>, c: Cmd) -> Result<()> {
    match c {
        Cmd::Verify { bundle, key } => {
            let key = match key {
                Some(k) => Some(
                    civitas_audit::key::unhex::<32>(&k)
                        .ok_or_else(|| anyhow::anyhow!("--key: expected 64 hex digits"))?,
                ),
                None => None,
            };
            let v = civitas_audit::bundle::verify(&bundle, key.as_ref())?;
            println!(
                "bundle {} VERIFIED: {} file(s), {} bytes, hashes match; manifest signed by audit key {}; {} audit entr(ies) proven in the signed tree of {} entries (root {})",
                bundle.display(),
                v.files,
                v.bytes,
                v.public_key,
                v.audit_entries,
                v.tree_size,
                v.root
            );
            if key.is_none() {
                println!(
                    "compare the key with the one the operator publishes (civitas audit head), or pass --key"
                );
            }
            Ok(())
        }
        Cmd::Export {
            candidate,
            justification,
            blur_plates,
            out,
        } => {
            let (cfg, rt, store, actor) = session(config, user)?.into_parts();
            let key = civitas_audit::AuditKey::load_or_create(&cfg.store.audit_key)?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "blurring {bar:30} {pos}/{len} frames ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let b = bar.clone();
            let mut progress = move |done: u64, total: u64| {
                b.set_length(total);
                b.set_position(done);
            };
            let req = ExportRequest {
                candidate,
                justification,
                blur_plates,
            };
            let r = rt.block_on(export(
                &cfg,
                &store,
                &key,
                &actor,
                &req,
                &out,
                &mut progress,
            ));
            bar.finish_and_clear();
            let r = r?;
            println!(
                "exported candidate {candidate} to {}: {} clip(s), {} frame(s), {} face(s) blurred, {} subject face(s) kept, {} plate(s) blurred, {} audit entr(ies) with proofs, in {:.1} s",
                r.dir.display(),
                r.clips,
                r.frames,
                r.faces_blurred,
                r.subject_faces_kept,
                r.plates_blurred,
                r.audit_entries,
                r.seconds
            );
            Ok(())
        }
    }
}
