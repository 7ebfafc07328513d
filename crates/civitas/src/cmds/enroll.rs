//! `civitas enroll`: puts a person on the face watchlist under a legal basis.
//! Every photo must show exactly one face; nothing is stored unless all do.

use crate::session::session;
use anyhow::{Result, bail};
use civitas_base::{Clock, SystemClock};
use civitas_model::LegalBasisInput;
use civitas_runtime::engine;
use std::path::{Path, PathBuf};

/// The legal basis every list entry (person or plate) is enrolled under.
#[derive(clap::Args, Debug)]
pub struct BasisArgs {
    /// Legal-basis kind: judicial-warrant, court-order, missing-person-report, stolen-vehicle-report, arrest-warrant, child-abduction-alert.
    #[arg(long = "basis-kind")]
    basis_kind: String,
    /// Authorising body.
    #[arg(long)]
    authority: String,
    /// The authority's reference (warrant or case number).
    #[arg(long)]
    reference: String,
    /// Purpose of the entry, in words.
    #[arg(long)]
    purpose: String,
    /// Expiry, YYYY-MM-DD or RFC 3339 UTC. After it the entry stops matching.
    #[arg(long)]
    expires: String,
    /// Cameras the legal basis covers (camera ids); `*` for every camera.
    #[arg(long = "scope", required = true, num_args = 1..)]
    pub scope: Vec<String>,
}

impl BasisArgs {
    /// Validates the fields; the error names the first missing or malformed one.
    pub fn validate(
        &self,
        now: civitas_base::Timestamp,
    ) -> civitas_base::Result<civitas_model::LegalBasis> {
        LegalBasisInput {
            kind: self.basis_kind.clone(),
            authority: self.authority.clone(),
            reference: self.reference.clone(),
            purpose: self.purpose.clone(),
            expires: self.expires.clone(),
        }
        .validate(now)
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The person's name as the authorising document gives it.
    #[arg(long)]
    name: String,
    /// Photos of the person (one face each).
    #[arg(long = "photo", required = true, num_args = 1..)]
    photos: Vec<PathBuf>,
    #[command(flatten)]
    basis: BasisArgs,
}

pub fn main(config: &Path, user: Option<&str>, a: Args) -> Result<()> {
    let (cfg, rt, store, actor) = session(config, user)?.into_parts();
    actor.require(civitas_auth::Permission::Enroll)?;
    let now = SystemClock.now();
    let basis = a.basis.validate(now)?;
    if a.name.trim().is_empty() {
        bail!("field `name` is required and was empty");
    }
    // Every photo first; store nothing unless all are good.
    let enroller = engine::ModelEnroller::new(&cfg.vision);
    let mut templates = Vec::new();
    let mut photo = None;
    for p in &a.photos {
        let img = civitas_ingest::load_image(p)?;
        let (t, crop) = enroller.template(&p.display().to_string(), &img, &basis)?;
        photo.get_or_insert(crop);
        templates.push((p.display().to_string(), t));
    }
    let id = rt.block_on(async {
        let id = store
            .enroll(
                &actor,
                civitas_store::Enrolment::new(a.name.trim(), &basis, &a.basis.scope, templates)
                    .with_photo(photo),
                now,
            )
            .await?;
        store.close().await;
        anyhow::Ok(id)
    })?;
    println!(
        "enrolled {:?} as entry {id} ({} photo(s)) under {} {} from {}, cameras {}, expires {}",
        a.name.trim(),
        a.photos.len(),
        basis.kind,
        basis.reference,
        basis.authority,
        a.basis.scope.join(","),
        basis.expires_at.to_rfc3339()
    );
    Ok(())
}
