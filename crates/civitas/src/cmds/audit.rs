//! `civitas audit`: verify the log in the database, print the signed tree head
//! for an outside witness, prove an entry's inclusion, read entries.

use crate::engine;
use anyhow::Result;
use civitas_audit::key::hex;
use civitas_base::{Clock, SystemClock};
use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Recompute every leaf and every signed root from the rows; exit non-zero on any tampering.
    Verify {
        /// Public key (hex) to check signatures with; default: the key file's.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the latest signed tree head (JSON) for an outside witness.
    Head,
    /// Print an inclusion proof (JSON) for entry SEQ against the latest head.
    Prove { seq: u64 },
    /// Prove (JSON) that the latest head extends the tree a witness saw at SIZE.
    Consistency {
        /// The witnessed tree size.
        #[arg(long)]
        from: u64,
        /// The witnessed root (hex); checked against the proof.
        #[arg(long)]
        root: Option<String>,
    },
    /// Print entries (JSON lines).
    Log {
        #[arg(long, default_value_t = 0)]
        from: u64,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Only actions starting with this (e.g. `candidate.`).
        #[arg(long, default_value = "")]
        action: String,
    },
}

pub fn main(config: &Path, user: Option<&str>, c: Cmd) -> Result<()> {
    let engine::Session {
        cfg,
        rt,
        store,
        actor,
    } = engine::session(config, user)?;
    rt.block_on(async {
        let key = civitas_audit::AuditKey::load_or_create(&cfg.store.audit_key)?;
        actor.require(civitas_auth::Permission::ReadAudit)?;
        let now = SystemClock.now();
        match c {
            Cmd::Verify { public_key } => {
                let public = match public_key {
                    Some(h) => civitas_audit::key::unhex::<32>(&h)
                        .ok_or_else(|| anyhow::anyhow!("--public-key: expected 64 hex digits"))?,
                    None => key.public(),
                };
                let start = std::time::Instant::now();
                let r = store.audit_verify(&public).await;
                let ok = r.is_ok();
                store
                    .audit(
                        now,
                        civitas_store::AuditRecord::new(
                            &actor.username,
                            "audit.verify",
                            "audit_log",
                        )
                        .details(serde_json::json!({"ok": ok})),
                    )
                    .await?;
                let r = r?;
                println!(
                    "audit log OK: {} entries, {} tree heads checked against them, latest signature valid, in {:.2} s; head {}",
                    r.entries,
                    r.signed_heads,
                    start.elapsed().as_secs_f64(),
                    serde_json::to_string(&r.latest_head)?
                );
            }
            Cmd::Head => {
                store
                    .audit(
                        now,
                        civitas_store::AuditRecord::new(&actor.username, "audit.head", "audit_log"),
                    )
                    .await?;
                let h = store
                    .audit_head()
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("the audit log is empty"))?;
                let mut v = serde_json::to_value(&h)?;
                v["public_key"] = hex(&key.public()).into();
                println!("{v}");
            }
            Cmd::Prove { seq } => {
                store
                    .audit(
                        now,
                        civitas_store::AuditRecord::new(
                            &actor.username,
                            "audit.prove",
                            format!("audit:{seq}"),
                        ),
                    )
                    .await?;
                let (entry, proof, head) = store.audit_prove(seq).await?;
                let ok = civitas_audit::verify_inclusion(
                    seq,
                    head.tree_size,
                    &entry.leaf_hash(),
                    &proof,
                    &head.root,
                );
                println!(
                    "{}",
                    serde_json::json!({
                        "entry": entry, "leaf_hash": hex(&entry.leaf_hash()),
                        "proof": proof.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                        "tree_head": head, "verified": ok,
                    })
                );
            }
            Cmd::Consistency { from, root } => {
                store.audit(now, civitas_store::AuditRecord::new(&actor.username, "audit.consistency", format!("size:{from}"))).await?;
                let (old_root, proof, head) = store.audit_consistency(from).await?;
                let witnessed = match root {
                    Some(h) => civitas_audit::key::unhex::<32>(&h).ok_or_else(|| anyhow::anyhow!("--root: expected 64 hex digits"))?,
                    None => old_root,
                };
                let ok = civitas_audit::verify_consistency(from, head.tree_size, &witnessed, &head.root, &proof);
                println!(
                    "{}",
                    serde_json::json!({
                        "from_size": from, "from_root": hex(&witnessed),
                        "proof": proof.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                        "tree_head": head, "verified": ok,
                    })
                );
                if !ok {
                    anyhow::bail!("the current log does not extend the tree witnessed at size {from}: history was rewritten");
                }
            }
            Cmd::Log {
                from,
                limit,
                action,
            } => {
                let list = store.audit_entries(from, limit, &action).await?;
                store
                    .audit(
                        now,
                        civitas_store::AuditRecord::new(&actor.username, "audit.read", "audit_log")
                            .details(serde_json::json!({"from": from, "shown": list.len()})),
                    )
                    .await?;
                for e in list {
                    println!("{}", serde_json::to_string(&e)?);
                }
            }
        }
        store.close().await;
        anyhow::Ok(())
    })
}
