//! `civitas audit`: verify the log in the database, print the signed tree head
//! for an outside witness, prove an entry's inclusion, read entries.

use crate::session::session;
use anyhow::{Context, Result};
use civitas_audit::key::hex;
use civitas_base::{Clock, SystemClock};
use civitas_runtime::engine;
use clap::Subcommand;
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Recompute every leaf and every signed root from the rows, and check
    /// every head's signature; exit non-zero on any tampering. Nothing is
    /// written before the check (not even the login), so a forged log is
    /// never signed by the check itself.
    Verify {
        /// Public key (hex) to check signatures with; default: the key file's.
        #[arg(long)]
        public_key: Option<String>,
        /// A witness file (`[store] audit_witness`, or one kept by `civitas
        /// audit witness`): the rows must still hash to every head in it.
        /// Repeat for several.
        #[arg(long)]
        witness: Vec<std::path::PathBuf>,
    },
    /// Keep a witness of another Civitas's audit log from this machine: poll
    /// its API, check each new signed head's signature and its consistency
    /// proof from the last head kept, and append it to OUT. Exits non-zero
    /// (and keeps nothing) when the log no longer extends what was witnessed.
    Witness {
        /// The Civitas to watch, `https://HOST:PORT` (or `http://` on your own network).
        #[arg(long)]
        url: String,
        /// CA certificates (PEM) its HTTPS certificate is signed by, when not
        /// by one of this system's trusted roots.
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
        /// Allow an `http://` URL to another machine (the token in clear):
        /// only on a network you control.
        #[arg(long)]
        allow_plaintext: bool,
        /// File holding a bearer token with `read_audit` (`civitas token create --only read_audit`).
        #[arg(long)]
        token_file: std::path::PathBuf,
        /// The audit public key (hex) as the operator publishes it.
        #[arg(long)]
        public_key: String,
        /// Witness file to append to.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Seconds between polls.
        #[arg(long, default_value_t = 60)]
        interval_s: u64,
        /// Poll once and exit.
        #[arg(long)]
        once: bool,
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

/// `audit witness`: needs no database, only the API of the Civitas watched.
fn witness(
    url: &str,
    ca_file: Option<&Path>,
    token_file: &Path,
    public_key: &str,
    out: &Path,
    interval_s: u64,
    once: bool,
) -> Result<()> {
    let public = civitas_audit::key::unhex::<32>(public_key)
        .ok_or_else(|| anyhow::anyhow!("--public-key: expected 64 hex digits"))?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading the token file {}", token_file.display()))?
        .trim()
        .to_owned();
    let mut w = civitas_audit::witness::Witness::open(out, public)?;
    let rt = engine::tokio()?;
    rt.block_on(async {
        loop {
            match civitas_api::witness::poll_remote(url, &token, ca_file, &mut w).await {
                Ok(seen) => {
                    if let Some(h) = w.last() {
                        println!(
                            "{} head at size {} ({})",
                            if seen == civitas_audit::witness::Seen::Kept {
                                "kept"
                            } else {
                                "unchanged:"
                            },
                            h.tree_size,
                            hex(&h.root)
                        );
                    }
                }
                Err(e) if e.kind() == civitas_base::ErrorKind::DataLoss => {
                    anyhow::bail!("ALARM: {e}");
                }
                Err(e) if once => return Err(e.into()),
                Err(e) => tracing::warn!(error = %e, "audit witness: poll failed; will retry"),
            }
            if once {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_secs(interval_s.max(1))).await;
        }
    })
}

/// `audit verify`: checks first, then records who checked (if the log
/// accepts an append at all).
fn verify(
    config: &Path,
    user: Option<&str>,
    public_key: Option<String>,
    witnesses: &[std::path::PathBuf],
) -> Result<()> {
    let cfg = engine::load_config(config)?;
    let rt = engine::tokio()?;
    let store = rt.block_on(engine::open_store(&cfg))?;
    rt.block_on(async {
        let Some(user) = user else {
            anyhow::bail!("this command acts as a person: pass --user NAME (or set CIVITAS_USER) and set CIVITAS_PASSWORD");
        };
        let password = crate::session::password_for(user)?;
        let (checked, outcome) = store.check_credentials(user, &password).await?;
        let actor = match checked {
            Ok(a) => a,
            Err(e) => {
                // A failed login is recorded like any other.
                let _ = store
                    .audit(
                        SystemClock.now(),
                        civitas_store::AuditRecord::login(user, outcome),
                    )
                    .await;
                return Err(e.into());
            }
        };
        actor.require(civitas_auth::Permission::ReadAudit)?;
        // The key file is read only when no public key is given, and never
        // created here (that would be a write before the check).
        let public = match public_key {
            Some(h) => civitas_audit::key::unhex::<32>(&h)
                .ok_or_else(|| anyhow::anyhow!("--public-key: expected 64 hex digits"))?,
            None => {
                if !cfg.store.audit_key.exists() {
                    anyhow::bail!(
                        "no audit key at {}: pass --public-key with the published one",
                        cfg.store.audit_key.display()
                    );
                }
                civitas_audit::AuditKey::load_or_create(&cfg.store.audit_key)?.public()
            }
        };
        let mut witnessed = Vec::new();
        for w in witnesses {
            witnessed.extend(civitas_audit::witness::read_heads(w, &public)?);
        }
        let start = std::time::Instant::now();
        let r = store.audit_verify_witnessed(&public, &witnessed).await;
        let secs = start.elapsed().as_secs_f64();
        let ok = r.is_ok();
        let now = SystemClock.now();
        let recorded = store
            .audit_batch(
                now,
                &[
                    civitas_store::AuditRecord::login(&actor.username, outcome),
                    civitas_store::AuditRecord::new(&actor.username, "audit.verify", "audit_log")
                        .details(serde_json::json!({"ok": ok, "witnessed_heads": witnessed.len()})),
                ],
            )
            .await;
        let r = r?;
        recorded?;
        println!(
            "audit log OK: {} entries, {} signed heads checked (every signature, every root){}, in {secs:.2} s; head {}",
            r.entries,
            r.signed_heads,
            if r.witnessed_heads > 0 {
                format!(", consistent with {} witnessed heads", r.witnessed_heads)
            } else {
                String::new()
            },
            serde_json::to_string(&r.latest_head)?
        );
        store.close().await;
        anyhow::Ok(())
    })
}

pub fn main(config: &Path, user: Option<&str>, c: Cmd) -> Result<()> {
    let c = match c {
        Cmd::Witness {
            url,
            ca_file,
            allow_plaintext,
            token_file,
            public_key,
            out,
            interval_s,
            once,
        } => {
            if civitas_config::plaintext_to_network(&url) && !allow_plaintext {
                anyhow::bail!(
                    "--url {url}: the token would cross the network in clear; use https://, or --allow-plaintext on a network you control"
                );
            }
            let ca = ca_file.as_deref();
            return witness(&url, ca, &token_file, &public_key, &out, interval_s, once);
        }
        Cmd::Verify {
            public_key,
            witness,
        } => return verify(config, user, public_key, &witness),
        other => other,
    };
    let (cfg, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        let key = civitas_audit::AuditKey::load_or_create(&cfg.store.audit_key)?;
        actor.require(civitas_auth::Permission::ReadAudit)?;
        let now = SystemClock.now();
        match c {
            Cmd::Verify { .. } | Cmd::Witness { .. } => unreachable!("handled above"),
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
