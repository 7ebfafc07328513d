//! An audit entry and its canonical encoding (what its leaf hash covers).

use crate::merkle::{Hash, leaf_hash};
use serde::{Deserialize, Serialize};

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 0; the leaf index.
    pub seq: u64,
    /// When, Unix milliseconds UTC.
    pub at_ms: i64,
    /// Who: a user name, or `system:<component>` for the pipeline.
    pub actor: String,
    /// What, a dotted verb: `login`, `watchlist.enroll`, `candidate.confirm`, ...
    pub action: String,
    /// On what: `candidate:12`, `entry:3`, `basis:4`, ...
    pub target: String,
    /// Why, in the actor's words, where the action needs one ("" otherwise).
    pub justification: String,
    /// Further facts as compact JSON (counts, fields changed).
    pub details: String,
}

impl AuditEntry {
    /// Canonical bytes: a version tag, seq and time big-endian, then each
    /// string length-prefixed (u32 big-endian). Unambiguous, so no two
    /// different entries encode alike.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + self.details.len());
        b.extend_from_slice(b"civitas-audit-v1");
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.at_ms.to_be_bytes());
        for s in [
            &self.actor,
            &self.action,
            &self.target,
            &self.justification,
            &self.details,
        ] {
            b.extend_from_slice(&(s.len() as u32).to_be_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        b
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_unambiguous() {
        let a = AuditEntry {
            seq: 1,
            at_ms: 2,
            actor: "ab".into(),
            action: "c".into(),
            target: String::new(),
            justification: String::new(),
            details: String::new(),
        };
        let mut b = a.clone();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(a.encode(), b.encode());
        assert_ne!(a.leaf_hash(), b.leaf_hash());
    }
}
