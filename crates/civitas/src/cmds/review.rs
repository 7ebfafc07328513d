//! `civitas review`: people confirm or reject candidates (face: two different
//! people); `civitas basis refuse`: an authorisation denied after urgent use.

use crate::session::session;
use anyhow::Result;
use civitas_base::{Clock, SystemClock};
use civitas_model::{CandidateStatus, Decision};
use civitas_runtime::engine;
use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Confirm a candidate: this is the person on the watchlist.
    Confirm {
        candidate: i64,
        /// Optional note.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a candidate, with the reason (e.g. "not this person").
    Reject {
        candidate: i64,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum BasisCmd {
    /// Mark a legal basis refused: its entries, their templates and every
    /// candidate and image derived from them are deleted, and that is audited.
    Refuse {
        basis: i64,
        #[arg(long)]
        reason: String,
    },
}

pub fn main(config: &Path, user: Option<&str>, c: Cmd) -> Result<()> {
    let (cfg, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        let policy = engine::review_policy(&cfg);
        let (id, d, why) = match &c {
            Cmd::Confirm { candidate, note } => (*candidate, Decision::Confirm, note.as_str()),
            Cmd::Reject { candidate, reason } => (*candidate, Decision::Reject, reason.as_str()),
        };
        let o = store
            .review(&actor, id, d, why, SystemClock.now(), &policy)
            .await?;
        match o.status {
            CandidateStatus::Confirmed => println!(
                "candidate {id} CONFIRMED ({} of {} confirmations)",
                o.confirmations, o.required
            ),
            CandidateStatus::Rejected => println!("candidate {id} rejected: {why}"),
            _ => println!(
                "candidate {id}: {} of {} confirmations; a different person must also confirm",
                o.confirmations, o.required
            ),
        }
        store.close().await;
        anyhow::Ok(())
    })
}

pub fn basis(config: &Path, user: Option<&str>, c: BasisCmd) -> Result<()> {
    let (_, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        match c {
            BasisCmd::Refuse { basis, reason } => {
                let d = store
                    .refuse_basis(&actor, basis, &reason, SystemClock.now())
                    .await?;
                println!("legal basis {basis} refused; deleted {d}");
            }
        }
        store.close().await;
        anyhow::Ok(())
    })
}
