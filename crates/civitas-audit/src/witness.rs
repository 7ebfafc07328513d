//! A witness: signed tree heads kept outside the database, append-only, each
//! proved to extend the one before it (RFC 9162 consistency proof) before it
//! is kept.
//!
//! Why: someone with write access to the database but not the signing key
//! cannot make a new signed head, but can cut the log back to an older,
//! genuinely signed head (delete the newest rows and heads) or replace it
//! with nothing. Heads held elsewhere catch that: `civitas audit verify
//! --witness FILE` proves the database's rows still hash to every witnessed
//! root. The service writes one witness file itself (`[audit] witness_file`,
//! on another disk or mount); `civitas audit witness` keeps another on
//! another machine by polling the API.
//!
//! The file is JSON lines, one head each (`tree_size`, `at_ms`, `root`,
//! `signature` in hex), oldest first. Nothing here knows SQL or HTTP.

use crate::key::{SignedTreeHead, unhex, verify_sth};
use crate::merkle::{Hash, verify_consistency};
use civitas_base::{Error, ErrorKind, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Parses one witness line.
pub fn parse_head(line: &str) -> Option<SignedTreeHead> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(SignedTreeHead {
        tree_size: v["tree_size"].as_u64()?,
        at_ms: v["at_ms"].as_i64()?,
        root: unhex::<32>(v["root"].as_str()?)?,
        signature: unhex::<64>(v["signature"].as_str()?)?,
    })
}

/// Reads every head of a witness file, refusing a line that does not parse
/// or does not verify with `public`, and heads out of order.
pub fn read_heads(path: &Path, public: &[u8; 32]) -> Result<Vec<SignedTreeHead>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::with_source(
                ErrorKind::Unavailable,
                format!("reading witness file {}", path.display()),
                e,
            ));
        }
    };
    let mut out: Vec<SignedTreeHead> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let h = parse_head(line).ok_or_else(|| {
            Error::new(
                ErrorKind::DataLoss,
                format!(
                    "witness file {} line {}: not a signed tree head",
                    path.display(),
                    i + 1
                ),
            )
        })?;
        if !verify_sth(public, &h) {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "witness file {} line {}: the head at size {} does not verify with the audit key",
                    path.display(),
                    i + 1,
                    h.tree_size
                ),
            ));
        }
        if out.last().is_some_and(|l| l.tree_size > h.tree_size) {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "witness file {} line {}: size {} after a larger head",
                    path.display(),
                    i + 1,
                    h.tree_size
                ),
            ));
        }
        out.push(h);
    }
    Ok(out)
}

/// An append-only witness file.
#[derive(Debug)]
pub struct Witness {
    path: PathBuf,
    public: [u8; 32],
    last: Option<SignedTreeHead>,
}

/// What the witness did with a head it was shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The head extends the last one kept and was appended.
    Kept,
    /// The same size as the last one kept (nothing new).
    Unchanged,
}

impl Witness {
    /// Opens (or starts) the witness file; the heads already in it must verify.
    pub fn open(path: &Path, public: [u8; 32]) -> Result<Witness> {
        let last = read_heads(path, &public)?.pop();
        Ok(Witness {
            path: path.to_owned(),
            public,
            last,
        })
    }

    /// The newest head kept.
    pub fn last(&self) -> Option<&SignedTreeHead> {
        self.last.as_ref()
    }

    /// Shown `head` and a consistency proof from the last kept head's size to
    /// it: keeps it if its signature verifies and it extends the last head.
    /// A head that does not is an alarm (`DataLoss`): the log was rewritten
    /// or cut back, or someone holds the key and forked it.
    pub fn observe(&mut self, head: &SignedTreeHead, proof: &[Hash]) -> Result<Seen> {
        if !verify_sth(&self.public, head) {
            return Err(Error::new(
                ErrorKind::DataLoss,
                format!(
                    "witness: the head at size {} does not verify with the audit key",
                    head.tree_size
                ),
            ));
        }
        if let Some(last) = &self.last {
            if head.tree_size < last.tree_size {
                return Err(Error::new(
                    ErrorKind::DataLoss,
                    format!(
                        "witness: the log shrank from {} to {} entries: it was cut back",
                        last.tree_size, head.tree_size
                    ),
                ));
            }
            if !verify_consistency(
                last.tree_size,
                head.tree_size,
                &last.root,
                &head.root,
                proof,
            ) {
                return Err(Error::new(
                    ErrorKind::DataLoss,
                    format!(
                        "witness: the head at size {} does not extend the witnessed head at size {}: history was rewritten",
                        head.tree_size, last.tree_size
                    ),
                ));
            }
            if head.tree_size == last.tree_size {
                return Ok(Seen::Unchanged);
            }
        }
        self.append(head)?;
        self.last = Some(head.clone());
        Ok(Seen::Kept)
    }

    fn append(&self, head: &SignedTreeHead) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::with_source(
                ErrorKind::Unavailable,
                format!("appending to witness file {}", self.path.display()),
                e,
            )
        };
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        let line = serde_json::to_string(head).map_err(|e| Error::internal(e.to_string()))?;
        writeln!(f, "{line}").map_err(io)?;
        f.sync_data().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditKey, Frontier, consistency_proof, leaf_hash, root};

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("e{i}").as_bytes()))
            .collect()
    }

    #[test]
    fn keeps_extensions_and_refuses_rewrites_and_cuts() {
        let key = AuditKey::from_seed([7; 32]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w/heads.jsonl");
        let mut w = Witness::open(&path, key.public()).unwrap();
        let l = leaves(9);
        let h4 = key.sign(4, 1, root(&l[..4]));
        assert_eq!(w.observe(&h4, &[]).unwrap(), Seen::Kept);
        let h9 = key.sign(9, 2, root(&l));
        assert_eq!(
            w.observe(&h9, &consistency_proof(4, &l)).unwrap(),
            Seen::Kept
        );
        assert_eq!(w.observe(&h9, &[]).unwrap(), Seen::Unchanged);
        // A rewritten history, even signed with the right key, is refused.
        let mut forged = l.clone();
        forged[2] = leaf_hash(b"rewritten");
        forged.push(leaf_hash(b"e9"));
        let hf = key.sign(10, 3, root(&forged));
        let e = w.observe(&hf, &consistency_proof(9, &forged)).unwrap_err();
        assert!(e.message().contains("rewritten"), "{e}");
        // A log cut back is refused.
        let e = w.observe(&h4, &[]).unwrap_err();
        assert!(e.message().contains("cut back"), "{e}");
        // A head signed by another key is refused.
        let other = AuditKey::from_seed([8; 32]).sign(10, 3, root(&leaves(10)));
        assert!(w.observe(&other, &[]).is_err());
        // Reopened, the file holds the two kept heads, verified.
        let heads = read_heads(&path, &key.public()).unwrap();
        assert_eq!(heads, vec![h4, h9]);
        assert!(read_heads(&path, &AuditKey::from_seed([8; 32]).public()).is_err());
        let mut f = Frontier::default();
        l.iter().for_each(|x| f.push(*x));
        assert_eq!(
            Witness::open(&path, key.public())
                .unwrap()
                .last()
                .unwrap()
                .root,
            f.root()
        );
    }
}
