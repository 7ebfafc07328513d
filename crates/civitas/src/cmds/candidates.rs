//! `civitas candidates`: lists stored candidates, newest first.

use crate::session::session;
use anyhow::Result;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How many to show.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

pub fn main(config: &Path, user: Option<&str>, a: Args) -> Result<()> {
    let (_, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        actor.require(civitas_auth::Permission::ViewCandidates)?;
        let list = store.candidates(a.limit).await?;
        let list: Vec<_> = list.into_iter().filter(|c| actor.covers_camera(&c.candidate.camera.0)).collect();
        store
            .audit(
                civitas_base::Clock::now(&civitas_base::SystemClock),
                civitas_store::AuditRecord::new(&actor.username, "candidate.list", "candidates")
                    .details(serde_json::json!({"shown": list.len(), "limit": a.limit})),
            )
            .await?;
        for c in list {
            if a.json {
                let mut v = serde_json::to_value(&c.candidate)?;
                v["status"] = c.status.clone().into();
                println!("{v}");
            } else {
                let k = &c.candidate;
                println!(
                    "#{} {} camera {} at {} ({:.1} s into the source): resembles {:?} (entry {}), distance {:.3}",
                    k.id.map(|i| i.0).unwrap_or_default(),
                    c.status,
                    k.camera,
                    k.frame_time.to_rfc3339(),
                    k.offset_ms as f64 / 1000.0,
                    k.entry_name,
                    k.entry,
                    k.distance
                );
            }
        }
        store.close().await;
        anyhow::Ok(())
    })
}
