//! `civitas init` and `civitas user`: the first administrator, then users.

use crate::session::session;
use anyhow::Result;
use civitas_auth::Role;
use civitas_base::{Clock, SystemClock};
use civitas_runtime::engine;
use clap::Subcommand;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// User name of the first administrator.
    #[arg(long, default_value = "admin")]
    admin: String,
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Add a user. The password comes from CIVITAS_NEW_PASSWORD, or is generated and printed once.
    Add {
        username: String,
        /// operator, supervisor, auditor or administrator.
        #[arg(long)]
        role: String,
        /// Camera ids the user may act on (default: all).
        #[arg(long, num_args = 1..)]
        scope: Vec<String>,
    },
    /// List users (no passwords).
    List,
    /// Set a user's password (forgotten, or possibly known to someone else):
    /// from CIVITAS_NEW_PASSWORD, or generated and printed once. Their console
    /// sessions end.
    ResetPassword { username: String },
    /// Disable a user; their past actions stay in the audit log.
    Disable {
        username: String,
        #[arg(long)]
        reason: String,
    },
}

fn new_password() -> Result<(String, bool)> {
    match std::env::var("CIVITAS_NEW_PASSWORD") {
        Ok(p) => Ok((p, false)),
        Err(_) => Ok((civitas_auth::generate_password(), true)),
    }
}

pub fn init(config: &Path, a: InitArgs) -> Result<()> {
    let cfg = engine::load_config(config)?;
    let rt = engine::tokio()?;
    rt.block_on(async {
        let store = engine::open_store(&cfg).await?;
        if store.user_count().await? > 0 {
            println!(
                "already initialised: {} has users; nothing changed",
                engine::store_label(&cfg)
            );
            return anyhow::Ok(());
        }
        let (pw, generated) = new_password()?;
        let hash = civitas_auth::hash_password(&pw)?;
        store
            .add_user(
                None,
                &a.admin,
                Role::Administrator,
                &[],
                &hash,
                SystemClock.now(),
            )
            .await?;
        println!(
            "initialised {} (audit key {})",
            engine::store_label(&cfg),
            cfg.store.audit_key.display()
        );
        if generated {
            println!(
                "administrator {:?}, password {pw} (shown once; store it safely)",
                a.admin
            );
        } else {
            println!(
                "administrator {:?}, password from CIVITAS_NEW_PASSWORD",
                a.admin
            );
        }
        store.close().await;
        anyhow::Ok(())
    })
}

pub fn user(config: &Path, user: Option<&str>, c: UserCmd) -> Result<()> {
    let (_, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        actor.require(civitas_auth::Permission::ManageUsers)?;
        match c {
            UserCmd::Add {
                username,
                role,
                scope,
            } => {
                let role = Role::parse(&role)?;
                let (pw, generated) = new_password()?;
                let hash = civitas_auth::hash_password(&pw)?;
                store
                    .add_user(
                        Some(&actor),
                        &username,
                        role,
                        &scope,
                        &hash,
                        SystemClock.now(),
                    )
                    .await?;
                if generated {
                    println!(
                        "added {username:?} ({}), password {pw} (shown once)",
                        role.name()
                    );
                } else {
                    println!("added {username:?} ({})", role.name());
                }
            }
            UserCmd::List => {
                for u in store.users().await? {
                    println!(
                        "{}\t{}\tcameras {}{}",
                        u.username,
                        u.role.name(),
                        serde_json::to_string(&u.scope).unwrap_or_default(),
                        if u.disabled { "\tDISABLED" } else { "" }
                    );
                }
            }
            UserCmd::ResetPassword { username } => {
                let (pw, generated) = new_password()?;
                civitas_store::users::check_new_password(&pw)?;
                let hash = civitas_auth::hash_password(&pw)?;
                store
                    .reset_password(&actor, &username, &hash, SystemClock.now())
                    .await?;
                if generated {
                    println!("password of {username:?} reset: {pw} (shown once)");
                } else {
                    println!("password of {username:?} reset from CIVITAS_NEW_PASSWORD");
                }
            }
            UserCmd::Disable { username, reason } => {
                store
                    .disable_user(&actor, &username, &reason, SystemClock.now())
                    .await?;
                println!("disabled {username:?}");
            }
        }
        store.close().await;
        anyhow::Ok(())
    })
}
