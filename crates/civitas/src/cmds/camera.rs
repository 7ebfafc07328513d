//! `civitas camera`: camera set-up helpers.

use anyhow::Result;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Make a bearer token for a snapshot-push camera. Prints the token (give
    /// it to the camera; it is shown once) and the `push_token_sha256` line
    /// for the camera's config (only the hash is stored).
    Token,
}

pub fn main(c: Cmd) -> Result<()> {
    match c {
        Cmd::Token => {
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw)
                .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
            let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            // The same hashing the API applies to the uploaded token.
            let hash: String = civitas_auth::token_sha256(&token)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            println!("token: {token}");
            println!("push_token_sha256 = \"{hash}\"");
            eprintln!(
                "Give the token to the camera (Authorization: Bearer TOKEN); put the second line in its [[camera]] section."
            );
            Ok(())
        }
    }
}
