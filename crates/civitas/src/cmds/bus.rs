//! `civitas bus`: what the NATS server needs to know about this deployment.

use anyhow::{Context, Result};
use civitas_nats::access::{Role, server_authorization};

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Print the nats-server `authorization` block for this deployment's
    /// namespace: each worker user may publish results only; each serve user
    /// consumes them and publishes none. Put it in the server's config
    /// (readable by the server's user only: it holds the passwords).
    Permissions {
        /// A worker identity, `USER:PASSWORD_FILE` (repeat for each).
        #[arg(long, value_name = "USER:PASSWORD_FILE")]
        worker: Vec<String>,
        /// A serve identity, `USER:PASSWORD_FILE`.
        #[arg(long, value_name = "USER:PASSWORD_FILE")]
        serve: Vec<String>,
    },
}

pub fn main(config: &std::path::Path, c: Cmd) -> Result<()> {
    let cfg = civitas_runtime::engine::load_config(config)?;
    match c {
        Cmd::Permissions { worker, serve } => {
            let mut users = Vec::new();
            let roles = worker.iter().map(|w| (w, Role::Worker));
            for (spec, role) in roles.chain(serve.iter().map(|s| (s, Role::Serve))) {
                let (user, file) = spec
                    .split_once(':')
                    .with_context(|| format!("{spec:?}: expected USER:PASSWORD_FILE"))?;
                anyhow::ensure!(
                    civitas_nats::access::valid_user(user),
                    "user {user:?}: 1 to 64 letters, digits, '_' and '-'"
                );
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("reading the password of {user} from {file}"))?;
                let password = text.lines().next().unwrap_or("").to_owned();
                anyhow::ensure!(
                    password.len() >= 16,
                    "{file}: use a password of 16 characters or more"
                );
                users.push((user.to_owned(), password, role));
            }
            anyhow::ensure!(!users.is_empty(), "name at least one --worker or --serve");
            let users: Vec<(&str, &str, Role)> = users
                .iter()
                .map(|(u, p, r)| (u.as_str(), p.as_str(), *r))
                .collect();
            print!("{}", server_authorization(&cfg.bus.namespace, &users));
            Ok(())
        }
    }
}
