//! Who is acting on a command a person runs: `--user` with the password from
//! the environment, logged in (and audited) against the store.

use anyhow::{Context, Result};
use civitas_base::{Clock, SystemClock};
use civitas_config::Config;
use civitas_runtime::engine::{load_config, open_store, tokio};
use civitas_store::Store;
use std::path::Path;

/// The user acting on this command: `--user`/`CIVITAS_USER` with the password
/// in `CIVITAS_PASSWORD` (or a file named by `CIVITAS_PASSWORD_FILE`). Every
/// attempt is audited.
pub async fn login(store: &Store, user: Option<&str>) -> Result<civitas_auth::Actor> {
    let Some(user) = user else {
        anyhow::bail!(
            "this command acts as a person: pass --user NAME (or set CIVITAS_USER) and set CIVITAS_PASSWORD"
        );
    };
    let password = password_for(user)?;
    Ok(store
        .authenticate(user, &password, SystemClock.now())
        .await?)
}

/// The password of the person acting: `CIVITAS_PASSWORD`, or the file named
/// by `CIVITAS_PASSWORD_FILE`.
pub fn password_for(user: &str) -> Result<String> {
    Ok(
        match (
            std::env::var("CIVITAS_PASSWORD"),
            std::env::var("CIVITAS_PASSWORD_FILE"),
        ) {
            (Ok(p), _) => p,
            (_, Ok(f)) => std::fs::read_to_string(&f)
                .with_context(|| format!("reading password file {f}"))?
                .trim_end()
                .to_owned(),
            _ => {
                anyhow::bail!(
                    "no password for {user:?}: set CIVITAS_PASSWORD or CIVITAS_PASSWORD_FILE"
                )
            }
        },
    )
}

/// What every command a person runs starts with: the config, a runtime, the
/// store (with its audit key) and the logged-in user.
pub struct Session {
    pub cfg: Config,
    pub rt: tokio::runtime::Runtime,
    pub store: Store,
    pub actor: civitas_auth::Actor,
}

impl Session {
    /// The config, runtime, store and actor, to bind in one line.
    pub fn into_parts(self) -> (Config, tokio::runtime::Runtime, Store, civitas_auth::Actor) {
        (self.cfg, self.rt, self.store, self.actor)
    }
}

pub fn session(config: &Path, user: Option<&str>) -> Result<Session> {
    let cfg = load_config(config)?;
    let rt = tokio()?;
    let store = rt.block_on(open_store(&cfg))?;
    let actor = rt.block_on(login(&store, user))?;
    Ok(Session {
        cfg,
        rt,
        store,
        actor,
    })
}
