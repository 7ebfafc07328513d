//! `[[webhook]]`: other systems told about incidents and units over HTTP.

use crate::{bad, id_ok};
use civitas_base::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A webhook (`[[webhook]]`): incident and unit events POSTed, signed with
/// HMAC-SHA256, retried with backoff until acknowledged.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    /// `https://host:port/path` (or `http://` on your own network).
    pub url: String,
    /// Environment variable holding the signing secret (at least 16 bytes)…
    pub secret_env: Option<String>,
    /// …or a file holding it (relative to the config file).
    pub secret_file: Option<PathBuf>,
    /// A request unanswered this long has failed, in ms. Default 5000.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
    /// First retry after this long, doubling, in ms. Default 250.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    /// Longest wait between retries, in ms. Default 60000.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// For `https://`: CA certificates (PEM) to trust in place of the
    /// system's roots (relative to the config file). Default none.
    pub ca_file: Option<PathBuf>,
    /// Allow `http://` to another machine (incident data in clear): only
    /// on a network you control. Default false.
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// Whether `url` would send in clear to another machine: `http://` to a
/// host that is not this one (`localhost`, `127.x.x.x`, `[::1]`).
pub fn plaintext_to_network(url: &str) -> bool {
    url.trim()
        .strip_prefix("http://")
        .is_some_and(|rest| host_of(rest).is_some_and(|h| !is_loopback(h)))
}

/// The host of a URL without its scheme (`user@host:port/path?query`);
/// `None` when there is none (a Unix socket).
pub(crate) fn host_of(after_scheme: &str) -> Option<&str> {
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    (!host.is_empty()).then_some(host)
}

/// `localhost`, or an address of this machine's loopback.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn default_webhook_timeout() -> u64 {
    5_000
}

fn default_backoff_initial() -> u64 {
    250
}

fn default_backoff_max() -> u64 {
    60_000
}

impl WebhookConfig {
    /// The signing secret, from the environment or the file.
    pub fn secret(&self) -> Result<Vec<u8>> {
        let bad = |m: String| Error::invalid(format!("webhook {:?}: {m}", self.name));
        match (&self.secret_env, &self.secret_file) {
            (Some(var), None) => std::env::var(var)
                .map(|v| v.trim().as_bytes().to_vec())
                .map_err(|_| {
                    bad(format!(
                        "environment variable {var} (secret_env) is not set"
                    ))
                }),
            (None, Some(f)) => std::fs::read_to_string(f)
                .map(|v| v.trim().as_bytes().to_vec())
                .map_err(|e| bad(format!("secret_file {}: {e}", f.display()))),
            _ => Err(bad("set exactly one of secret_env and secret_file".into())),
        }
    }
}

/// Each `[[webhook]]`: a unique name, one secret, timeouts in range.
pub fn validate_webhooks(hooks: &[WebhookConfig]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, w) in hooks.iter().enumerate() {
        let f = |n: &str| format!("webhook[{i}].{n}");
        if !id_ok(&w.name) {
            return bad(
                &f("name"),
                format!("{:?} must be 1-40 letters, digits, - or _", w.name),
            );
        }
        if !seen.insert(&w.name) {
            return bad(&f("name"), format!("{:?} is used by two webhooks", w.name));
        }
        if w.secret_env.is_some() == w.secret_file.is_some() {
            return bad(
                &f("secret_env"),
                "set exactly one of secret_env and secret_file".into(),
            );
        }
        if plaintext_to_network(&w.url) && !w.allow_plaintext {
            return bad(
                &f("url"),
                format!(
                    "{} would send incident data in clear to another machine: use https://, or allow_plaintext = true on a network you control",
                    w.url
                ),
            );
        }
        if !(100..=120_000).contains(&w.timeout_ms) {
            return bad(
                &f("timeout_ms"),
                format!("{} is outside 100..120000", w.timeout_ms),
            );
        }
        if !(10..=w.backoff_max_ms).contains(&w.backoff_initial_ms) || w.backoff_max_ms > 3_600_000
        {
            return bad(
                &f("backoff_initial_ms"),
                "must be at least 10 and at most backoff_max_ms (itself at most 3600000)".into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::plaintext_to_network as clear;

    #[test]
    fn only_http_to_another_machine_is_in_clear() {
        for url in [
            "http://10.0.0.9/cad",
            "http://cad.example:80/x",
            "http://user@[2001:db8::1]:8/",
        ] {
            assert!(clear(url), "{url}");
        }
        for url in [
            "https://10.0.0.9/cad",
            "http://127.0.0.1:9/h",
            "http://localhost/x",
            "http://[::1]:8080/",
            "http://127.9.9.9",
        ] {
            assert!(!clear(url), "{url}");
        }
    }
}
