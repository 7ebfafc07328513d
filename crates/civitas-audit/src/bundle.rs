//! Evidence bundles: a folder with the exported clips, `manifest.json` and
//! `manifest.sig`. The manifest lists each file with its SHA-256, the case
//! and its legal basis, and the audit entries that concern the case, each with
//! its Merkle inclusion proof against one signed tree head. The signature is
//! the audit key's, over the manifest's SHA-256. [`verify`] checks all of it
//! offline, with nothing but the folder (and, to pin the key, the operator's
//! published public key).

use crate::key::{hex, unhex};
use crate::merkle::{Hash, verify_inclusion};
use crate::{AuditEntry, AuditKey, SignedTreeHead, verify_sth};
use civitas_base::{Error, ErrorKind, Result};
use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

pub const FORMAT: &str = "civitas-evidence-v1";

/// One file of the bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleFile {
    /// Relative to the bundle folder.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// What it is, in words, and any facts about it (recording, frames, blurring).
    #[serde(default)]
    pub about: serde_json::Value,
}

/// An audit entry with its inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvenEntry {
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Sibling hashes, hex, leaf to root.
    pub proof: Vec<String>,
}

impl ProvenEntry {
    pub fn new(e: &AuditEntry, proof: &[Hash]) -> ProvenEntry {
        ProvenEntry {
            entry: e.clone(),
            proof: proof.iter().map(|h| hex(h)).collect(),
        }
    }
}

/// The signed tree head the proofs are against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Head {
    pub tree_size: u64,
    pub at_ms: i64,
    pub root: String,
    pub signature: String,
}

impl From<&SignedTreeHead> for Head {
    fn from(h: &SignedTreeHead) -> Head {
        Head {
            tree_size: h.tree_size,
            at_ms: h.at_ms,
            root: hex(&h.root),
            signature: hex(&h.signature),
        }
    }
}

/// The audit part of a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditProofs {
    /// The audit key's public half, hex. Compare it with the one the operator publishes.
    pub public_key: String,
    pub tree_head: Head,
    pub entries: Vec<ProvenEntry>,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// What the case is: the candidate, the subject, the camera and time.
    pub case: serde_json::Value,
    /// The legal basis the subject was listed under.
    pub legal_basis: serde_json::Value,
    pub exported_by: String,
    pub exported_at_ms: i64,
    pub justification: String,
    /// How bystanders were protected.
    pub redaction: serde_json::Value,
    pub files: Vec<BundleFile>,
    pub audit: AuditProofs,
}

fn sig_message(manifest: &[u8]) -> Vec<u8> {
    let mut m = FORMAT.as_bytes().to_vec();
    m.extend_from_slice(&Sha256::digest(manifest));
    m
}

/// The SHA-256 of a file, hex, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

impl AuditKey {
    /// Signs a manifest's bytes (over their SHA-256, domain-separated).
    pub fn sign_manifest(&self, manifest: &[u8]) -> [u8; 64] {
        self.signing_key().sign(&sig_message(manifest)).to_bytes()
    }
}

/// Writes `manifest.json` and `manifest.sig` into `dir`.
pub fn write(dir: &Path, m: &Manifest, key: &AuditKey) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(m)
        .map_err(|e| Error::internal(format!("evidence manifest: {e}")))?;
    let w = |name: &str, b: &[u8]| {
        std::fs::write(dir.join(name), b).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("writing {}: {e}", dir.join(name).display()),
            )
        })
    };
    w("manifest.json", &bytes)?;
    w("manifest.sig", hex(&key.sign_manifest(&bytes)).as_bytes())
}

/// What [`verify`] checked.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub files: usize,
    pub bytes: u64,
    pub audit_entries: usize,
    pub tree_size: u64,
    pub root: String,
    pub public_key: String,
}

/// Checks a bundle folder offline: the manifest's signature, every file's
/// SHA-256 (and that no file is missing), every audit entry's inclusion proof
/// against the tree head, and the head's signature. `expect_key` pins the
/// operator's published key. The error names the first thing that fails.
pub fn verify(dir: &Path, expect_key: Option<&[u8; 32]>) -> Result<Verified> {
    let bad = |m: String| Error::new(ErrorKind::DataLoss, m);
    let read = |name: &str| {
        std::fs::read(dir.join(name)).map_err(|e| {
            Error::new(
                ErrorKind::NotFound,
                format!("{}: {e}", dir.join(name).display()),
            )
        })
    };
    let bytes = read("manifest.json")?;
    let sig = read("manifest.sig")?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "manifest.json is not a Civitas evidence manifest: {e}"
        ))
    })?;
    if m.format != FORMAT {
        return Err(bad(format!(
            "manifest.json: format {:?}, expected {FORMAT:?}",
            m.format
        )));
    }
    let public = unhex::<32>(&m.audit.public_key)
        .ok_or_else(|| bad("manifest.json: audit.public_key is not 64 hex digits".into()))?;
    if let Some(k) = expect_key
        && k != &public
    {
        return Err(bad(format!(
            "the bundle is signed by key {}, not the expected {}",
            m.audit.public_key,
            hex(k)
        )));
    }
    let vk = VerifyingKey::from_bytes(&public)
        .map_err(|_| bad("manifest.json: audit.public_key is not an Ed25519 key".into()))?;
    let sig = unhex::<64>(String::from_utf8_lossy(&sig).trim())
        .ok_or_else(|| bad("manifest.sig is not 128 hex digits".into()))?;
    vk.verify(&sig_message(&bytes), &Signature::from_bytes(&sig))
        .map_err(|_| bad("manifest.sig does not match manifest.json: the manifest was altered or signed by another key".into()))?;
    let mut total = 0;
    for f in &m.files {
        if f.path.contains("..") || Path::new(&f.path).is_absolute() {
            return Err(bad(format!(
                "manifest.json: file path {:?} leaves the bundle",
                f.path
            )));
        }
        let p = dir.join(&f.path);
        let got = sha256_file(&p).map_err(|e| {
            bad(format!(
                "{}: listed in the manifest but unreadable: {e}",
                f.path
            ))
        })?;
        if got != f.sha256 {
            return Err(bad(format!(
                "{}: SHA-256 {got} does not match the manifest's {}: the file was altered",
                f.path, f.sha256
            )));
        }
        total += f.bytes;
    }
    let h = &m.audit.tree_head;
    let head = SignedTreeHead {
        tree_size: h.tree_size,
        at_ms: h.at_ms,
        root: unhex::<32>(&h.root)
            .ok_or_else(|| bad("tree_head.root is not 64 hex digits".into()))?,
        signature: unhex::<64>(&h.signature)
            .ok_or_else(|| bad("tree_head.signature is not 128 hex digits".into()))?,
    };
    if !verify_sth(&public, &head) {
        return Err(bad("the audit tree head's signature does not verify".into()));
    }
    for e in &m.audit.entries {
        let proof: Vec<Hash> = e
            .proof
            .iter()
            .map(|p| unhex::<32>(p))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                bad(format!(
                    "audit entry {}: a proof hash is not 64 hex digits",
                    e.entry.seq
                ))
            })?;
        if !verify_inclusion(
            e.entry.seq,
            head.tree_size,
            &e.entry.leaf_hash(),
            &proof,
            &head.root,
        ) {
            return Err(bad(format!(
                "audit entry {} ({} {}) is not in the signed tree of {} entries: it was altered",
                e.entry.seq, e.entry.action, e.entry.target, head.tree_size
            )));
        }
    }
    Ok(Verified {
        files: m.files.len(),
        bytes: total,
        audit_entries: m.audit.entries.len(),
        tree_size: head.tree_size,
        root: h.root.clone(),
        public_key: m.audit.public_key.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{inclusion_proof, root};

    #[test]
    fn a_bundle_verifies_and_any_change_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let key = AuditKey::from_seed([3; 32]);
        std::fs::write(dir.path().join("clip.mp4"), b"video bytes").unwrap();
        let entries: Vec<AuditEntry> = (0..5)
            .map(|i| AuditEntry {
                seq: i,
                at_ms: 1000 + i as i64,
                actor: "sam".into(),
                action: "candidate.confirm".into(),
                target: format!("candidate:{i}"),
                justification: String::new(),
                details: "{}".into(),
            })
            .collect();
        let leaves: Vec<Hash> = entries.iter().map(|e| e.leaf_hash()).collect();
        let head = key.sign(5, 2000, root(&leaves));
        let m = Manifest {
            format: FORMAT.into(),
            case: serde_json::json!({"candidate": 3}),
            legal_basis: serde_json::json!({}),
            exported_by: "sam".into(),
            exported_at_ms: 2000,
            justification: "case 1".into(),
            redaction: serde_json::json!({}),
            files: vec![BundleFile {
                path: "clip.mp4".into(),
                sha256: sha256_file(&dir.path().join("clip.mp4")).unwrap(),
                bytes: 11,
                about: serde_json::Value::Null,
            }],
            audit: AuditProofs {
                public_key: hex(&key.public()),
                tree_head: (&head).into(),
                entries: vec![
                    ProvenEntry::new(&entries[3], &inclusion_proof(3, &leaves)),
                    ProvenEntry::new(&entries[0], &inclusion_proof(0, &leaves)),
                ],
            },
        };
        write(dir.path(), &m, &key).unwrap();
        let v = verify(dir.path(), Some(&key.public())).unwrap();
        assert_eq!((v.files, v.audit_entries, v.tree_size), (1, 2, 5));
        // Another key pinned.
        let e = verify(dir.path(), Some(&[0; 32])).unwrap_err();
        assert!(e.message().contains("not the expected"), "{e}");
        // One byte of the clip.
        std::fs::write(dir.path().join("clip.mp4"), b"video bytez").unwrap();
        let e = verify(dir.path(), None).unwrap_err();
        assert!(e.message().contains("clip.mp4: SHA-256"), "{e}");
        std::fs::write(dir.path().join("clip.mp4"), b"video bytes").unwrap();
        // The manifest edited (an audit entry's actor).
        let text = std::fs::read_to_string(dir.path().join("manifest.json")).unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            text.replacen("\"sam\"", "\"eve\"", 1),
        )
        .unwrap();
        let e = verify(dir.path(), None).unwrap_err();
        assert!(e.message().contains("manifest.sig does not match"), "{e}");
        // An entry edited and the manifest re-signed (by someone holding the key): the proof fails.
        let mut m2 = m.clone();
        m2.audit.entries[0].entry.actor = "eve".into();
        write(dir.path(), &m2, &key).unwrap();
        let e = verify(dir.path(), None).unwrap_err();
        assert!(e.message().contains("audit entry 3"), "{e}");
        // A file removed.
        write(dir.path(), &m, &key).unwrap();
        std::fs::remove_file(dir.path().join("clip.mp4")).unwrap();
        assert!(verify(dir.path(), None).is_err());
    }
}
