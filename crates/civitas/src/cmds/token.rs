//! `civitas token`: bearer tokens for machines (a Prometheus scraper, an
//! integration) that act as a user, optionally narrowed to some permissions.
//! Only the token's SHA-256 is stored; the token is printed once.

use crate::session::session;
use anyhow::Result;
use civitas_base::{Clock, SystemClock};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Make a token acting as USER (administrators only).
    Create {
        /// The user the token acts as (its role and camera scope apply).
        #[arg(long = "for")]
        for_user: String,
        /// What the token is for, e.g. "prometheus".
        #[arg(long)]
        label: String,
        /// Narrow the token to these permissions (e.g. read_metrics); all of the user's when absent.
        #[arg(long, num_args = 1..)]
        only: Vec<String>,
        /// Days the token is valid (1 to 3650); no token is valid forever.
        #[arg(long, default_value_t = civitas_store::TOKEN_DEFAULT_DAYS)]
        days: i64,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

pub fn main(config: &std::path::Path, user: Option<&str>, c: Cmd) -> Result<()> {
    let (_, rt, store, actor) = session(config, user)?.into_parts();
    rt.block_on(async {
        match c {
            Cmd::Create {
                for_user,
                label,
                only,
                days,
            } => {
                let only = only
                    .iter()
                    .map(|p| civitas_auth::Permission::parse(p))
                    .collect::<civitas_base::Result<Vec<_>>>()?;
                let token = store
                    .create_token_for_days(
                        &actor,
                        &for_user,
                        &label,
                        (!only.is_empty()).then_some(only.as_slice()),
                        days,
                        SystemClock.now(),
                    )
                    .await?;
                println!("token: {token}");
                eprintln!(
                    "Shown once: send it as `Authorization: Bearer TOKEN`. Valid for {days} day(s)."
                );
            }
            Cmd::List => {
                for t in store.tokens(&actor).await? {
                    println!("{}", serde_json::to_string(&t)?);
                }
            }
            Cmd::Revoke { id } => {
                store.revoke_token(&actor, id, SystemClock.now()).await?;
                println!("revoked token {id}");
            }
        }
        store.close().await;
        anyhow::Ok(())
    })
}
