//! Who may do what on the bus: the NATS server's permissions for each role
//! of a deployment, generated here so they follow the subjects this crate
//! uses (`civitas bus permissions` prints them for the server's config).
//!
//! - A **worker** publishes results (`{ns}.events.>`), per-frame counts
//!   (`{ns}.stats.>`), its own heartbeats (`{ns}.workers.*.{user}`: its
//!   id on the bus is its user) and file epochs
//!   (`{ns}.epochs.>`), and reads only the epochs stream and its peers'
//!   heartbeats. It cannot read or consume results, declare, delete or
//!   purge the results stream, or read another role's replies.
//! - **serve** (the store writer and command centre) consumes the events
//!   stream and reads counts and heartbeats; it publishes no result, so
//!   every result it applies came from a worker identity.
//!
//! Each role's replies come to an inbox prefix of its own
//! ([`inbox_prefix`]): with the default `_INBOX.>` anyone allowed to
//! subscribe to replies could read the results the store writer fetches.

use serde_json::{Value, json};

/// A process's role on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Worker,
    Serve,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Serve => "serve",
        }
    }
}

/// The inbox prefix a client of `user` uses (and may subscribe to): the
/// namespace and the user are each one subject token (letters, digits,
/// `_`, `-`: [`valid_user`]), so no two (namespace, user) pairs share one.
pub fn inbox_prefix(ns: &str, user: &str) -> String {
    format!("_INBOX_{ns}.{}", crate::token(user))
}

/// Whether `user` can name a bus identity: 1 to 64 letters, digits, `_`
/// and `-` (a subject token, so inbox prefixes cannot collide).
pub fn valid_user(user: &str) -> bool {
    (1..=64).contains(&user.len()) && crate::token(user) == user
}

/// The NATS server's `permissions` for `role` in namespace `ns`, its
/// replies coming to `user`'s inbox prefix.
pub fn permissions(ns: &str, role: Role, user: &str) -> Value {
    let inbox = format!("{}.>", inbox_prefix(ns, user));
    let api = |what: &str| format!("$JS.API.{what}");
    let (events, epochs) = (format!("{ns}_events"), format!("{ns}_epochs"));
    match role {
        Role::Worker => json!({
            "publish": {"allow": [
                format!("{ns}.events.>"), format!("{ns}.stats.>"),
                format!("{ns}.workers.*.{}", crate::token(user)), format!("{ns}.epochs.>"),
                api("INFO"),
                api(&format!("STREAM.INFO.{events}")),
                api(&format!("STREAM.INFO.{epochs}")), api(&format!("STREAM.CREATE.{epochs}")),
                api(&format!("STREAM.MSG.GET.{epochs}")), api(&format!("DIRECT.GET.{epochs}.>")),
            ]},
            "subscribe": {"allow": [inbox, format!("{ns}.workers.*.*")]},
        }),
        Role::Serve => json!({
            "publish": {"allow": [
                api("INFO"),
                api(&format!("STREAM.INFO.{events}")), api(&format!("STREAM.CREATE.{events}")),
                api(&format!("CONSUMER.INFO.{events}.>")),
                api(&format!("CONSUMER.CREATE.{events}")),
                api(&format!("CONSUMER.CREATE.{events}.>")),
                api(&format!("CONSUMER.DURABLE.CREATE.{events}.>")),
                api(&format!("CONSUMER.MSG.NEXT.{events}.>")),
                format!("$JS.ACK.{events}.>"),
            ]},
            "subscribe": {"allow": [inbox, format!("{ns}.stats.>"), format!("{ns}.workers.*.*")]},
        }),
    }
}

/// The `authorization` block of a nats-server config (its syntax takes
/// JSON) for `users`: (name, password, role). The server's config file holds
/// the passwords: keep it readable by the server's user only.
pub fn server_authorization(ns: &str, users: &[(&str, &str, Role)]) -> String {
    let users: Vec<Value> = users
        .iter()
        .map(|(user, password, role)| {
            let permissions = permissions(ns, *role, user);
            json!({"user": user, "password": password, "permissions": permissions})
        })
        .collect();
    let block = serde_json::to_string_pretty(&json!({ "users": users })).unwrap_or_default();
    format!("authorization: {block}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_workers_publish_results_and_no_role_reads_anothers_replies() {
        let w = permissions("ns", Role::Worker, "w1");
        let s = permissions("ns", Role::Serve, "store");
        let allows = |v: &Value, what: &str| -> Vec<String> {
            v[what]["allow"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        assert!(allows(&w, "publish").contains(&"ns.events.>".to_owned()));
        assert!(!allows(&s, "publish").iter().any(|p| p.starts_with("ns.")));
        for v in [&w, &s] {
            for sub in allows(v, "subscribe") {
                assert!(!sub.starts_with("_INBOX.") && sub != ">", "{sub}");
            }
        }
        assert!(!allows(&w, "subscribe").iter().any(|p| p.contains("events")));
        let conf = server_authorization("ns", &[("w1", "pw", Role::Worker)]);
        assert!(conf.starts_with("authorization: {") && conf.contains("\"w1\""));
    }
}
