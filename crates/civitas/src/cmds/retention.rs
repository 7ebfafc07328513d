//! `civitas retention`: delete what policy says is due; place and lift legal holds.

use crate::session::session;
use anyhow::Result;
use civitas_base::{Clock, SystemClock, Timestamp};
use civitas_runtime::engine;
use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Delete what the [retention] policy says is due (held items are kept).
    Sweep {
        /// Pretend it is this time (RFC 3339), to preview a future sweep.
        #[arg(long)]
        at: Option<String>,
    },
    /// Suspend deletion of `candidate:N`, `entry:N`, `incident:N` or `recording:N` until lifted.
    Hold {
        target: String,
        #[arg(long)]
        reason: String,
    },
    /// Lift a legal hold.
    Lift {
        hold: i64,
        #[arg(long)]
        reason: String,
    },
}

pub fn main(config: &Path, user: Option<&str>, c: Cmd) -> Result<()> {
    let (cfg, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        actor.require(civitas_auth::Permission::ManageRetention)?;
        let now = SystemClock.now();
        match c {
            Cmd::Sweep { at } => {
                let at = match at {
                    Some(s) => Timestamp::parse_rfc3339(&s)
                        .ok_or_else(|| anyhow::anyhow!("--at {s:?}: expected RFC 3339 UTC"))?,
                    None => now,
                };
                let r = store
                    .sweep(
                        &engine::retention_policy(&cfg),
                        &engine::review_policy(&cfg),
                        at,
                    )
                    .await?;
                let days = cfg.retention.evidence_bundles_days;
                let keep = (days >= 0.0).then_some((days * 86_400_000.0) as i64);
                let dir = &cfg.recording.evidence_dir;
                let b = civitas_runtime::retention::sweep_bundles(&store, dir, keep, at).await?;
                let mut out = serde_json::to_value(&r)?;
                if let (Some(o), serde_json::Value::Object(b)) =
                    (out.as_object_mut(), serde_json::to_value(b)?)
                {
                    o.extend(b);
                }
                println!("{out}");
            }
            Cmd::Hold { target, reason } => {
                let id = store.place_hold(&actor, &target, &reason, now).await?;
                println!("legal hold {id} placed on {target}");
            }
            Cmd::Lift { hold, reason } => {
                store.lift_hold(&actor, hold, &reason, now).await?;
                println!("legal hold {hold} lifted");
            }
        }
        store.close().await;
        anyhow::Ok(())
    })
}
