//! `civitas hotlist`: named plate lists with their own match threshold, and
//! plates put on them under a legal basis. `civitas plates search`: audited
//! forensic search of stored plate reads by full or partial plate.

use crate::cmds::enroll::BasisArgs;
use crate::session::session;
use anyhow::Result;
use civitas_base::{Clock, SystemClock, Timestamp};
use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum HotlistCmd {
    /// Create a hotlist.
    Create {
        name: String,
        /// Largest weighted edit distance that counts as a hit: each OCR
        /// confusion (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G) costs 0.25, any
        /// other edit 1. 0 accepts exact reads only. Default 0.5.
        #[arg(long, default_value_t = 0.5)]
        max_distance: f32,
    },
    /// Put a plate on a hotlist under a legal basis.
    Add {
        /// The hotlist's name.
        #[arg(long)]
        list: String,
        /// The plate (letters and digits; spaces and dashes are ignored).
        #[arg(long)]
        plate: String,
        /// The vehicle and why it is listed, e.g. "grey Toyota Hilux reported stolen".
        #[arg(long)]
        description: String,
        #[command(flatten)]
        basis: BasisArgs,
    },
    /// List the hotlists.
    List,
}

#[derive(Subcommand, Debug)]
pub enum PlatesCmd {
    /// Search stored plate reads (audited with the justification).
    Search {
        /// Full or partial plate: `?` for an unknown character (e.g. `PB?12?4`);
        /// characters OCR confuses match each other.
        pattern: String,
        /// Why: the case or incident this search serves (required).
        #[arg(long)]
        justification: String,
        /// Window start, YYYY-MM-DD or RFC 3339 UTC. Default: 24 hours ago.
        #[arg(long)]
        from: Option<String>,
        /// Window end. Default: now.
        #[arg(long)]
        to: Option<String>,
        /// Only these cameras.
        #[arg(long = "camera")]
        cameras: Vec<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn time_arg(v: &Option<String>, field: &str, default: Timestamp) -> Result<Timestamp> {
    match v {
        None => Ok(default),
        Some(s) => Timestamp::parse_rfc3339(s).ok_or_else(|| {
            anyhow::anyhow!("field `{field}` is {s:?}; expected YYYY-MM-DD or RFC 3339 UTC")
        }),
    }
}

pub fn hotlist(config: &Path, user: Option<&str>, c: HotlistCmd) -> Result<()> {
    let (_, rt, store, actor) = session(config, user)?.into_parts();
    let now = SystemClock.now();
    rt.block_on(async {
        match c {
            HotlistCmd::Create { name, max_distance } => {
                let id = store
                    .create_hotlist(&actor, &name, max_distance, now)
                    .await?;
                println!("hotlist {name:?} created (id {id}, hits within distance {max_distance})");
            }
            HotlistCmd::Add {
                list,
                plate,
                description,
                basis,
            } => {
                let b = basis.validate(now)?;
                let id = store
                    .enroll_plate(&actor, &list, &plate, &description, &b, &basis.scope, now)
                    .await?;
                println!(
                    "plate {} put on hotlist {list:?} as entry {id} under {} {} from {}, cameras {}, expires {}",
                    civitas_model::plate_text::normalise(&plate).unwrap_or(plate.clone()),
                    b.kind,
                    b.reference,
                    b.authority,
                    basis.scope.join(","),
                    b.expires_at.to_rfc3339()
                );
            }
            HotlistCmd::List => {
                for h in store.hotlists().await? {
                    println!(
                        "{}\t{} entr(ies)\thit within distance {}",
                        h.name, h.entries, h.max_distance
                    );
                }
            }
        }
        store.close().await;
        anyhow::Ok(())
    })
}

pub fn plates(config: &Path, user: Option<&str>, c: PlatesCmd) -> Result<()> {
    let (_, rt, store, actor) = session(config, user)?.into_parts();
    let now = SystemClock.now();
    let PlatesCmd::Search {
        pattern,
        justification,
        from,
        to,
        cameras,
        limit,
        json,
    } = c;
    let q = civitas_store::PlateQuery {
        pattern,
        from: time_arg(&from, "from", Timestamp(now.0 - 86_400_000))?,
        to: time_arg(&to, "to", Timestamp(now.0 + 1))?,
        cameras,
        justification,
        limit,
    };
    rt.block_on(async {
        let found = store.search_plate_reads(&actor, &q, now).await?;
        if json {
            println!("{}", serde_json::to_string(&found)?);
        } else {
            for r in &found {
                println!(
                    "read {}\t{}\tcamera {}\t{}\tconfidence {:.2}{}",
                    r.id,
                    r.plate,
                    r.camera,
                    Timestamp(r.first_seen_ms).to_rfc3339(),
                    r.confidence,
                    r.hit_entry
                        .map(|e| format!("\thit entry {e}"))
                        .unwrap_or_default()
                );
            }
            eprintln!("{} read(s) match {:?}", found.len(), q.pattern);
        }
        store.close().await;
        anyhow::Ok(())
    })
}
