//! The log's signing key and signed tree heads.
//!
//! The Ed25519 key is created at init and kept in a file beside the data (mode
//! 0600), never in the database: someone who can rewrite the database cannot
//! re-sign its heads. Someone who also holds the key file could; that is what
//! publishing heads to an outside witness (`civitas audit head`) guards against.

use crate::merkle::Hash;
use civitas_base::{Error, ErrorKind, Result};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use std::path::Path;

/// A signed tree head: the log's size and root at a time, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedTreeHead {
    pub tree_size: u64,
    pub at_ms: i64,
    #[serde(serialize_with = "hex_ser")]
    pub root: Hash,
    #[serde(serialize_with = "hex_ser")]
    pub signature: [u8; 64],
}

fn hex_ser<S: serde::Serializer, const N: usize>(
    v: &[u8; N],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&hex(v))
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The bytes a tree head's signature covers.
pub fn sth_message(tree_size: u64, at_ms: i64, root: &Hash) -> Vec<u8> {
    let mut m = b"civitas-sth-v1".to_vec();
    m.extend_from_slice(&tree_size.to_be_bytes());
    m.extend_from_slice(&at_ms.to_be_bytes());
    m.extend_from_slice(root);
    m
}

/// Checks a tree head's signature with a public key.
pub fn verify_sth(public: &[u8; 32], sth: &SignedTreeHead) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(public) else {
        return false;
    };
    vk.verify(
        &sth_message(sth.tree_size, sth.at_ms, &sth.root),
        &Signature::from_bytes(&sth.signature),
    )
    .is_ok()
}

/// The audit log's signing key.
pub struct AuditKey(SigningKey);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(public {})", hex(&self.public()))
    }
}

impl AuditKey {
    /// Loads the key file, or creates it (32 random bytes, hex, mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> Result<AuditKey> {
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::with_source(
                    ErrorKind::Unavailable,
                    format!("reading audit key {}", path.display()),
                    e,
                )
            })?;
            let seed: [u8; 32] = unhex(&text).ok_or_else(|| {
                Error::new(
                    ErrorKind::DataLoss,
                    format!("audit key {} is not 64 hex digits", path.display()),
                )
            })?;
            return Ok(AuditKey(SigningKey::from_bytes(&seed)));
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::internal(format!("no randomness for the audit key: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::with_source(
                    ErrorKind::Unavailable,
                    format!("creating {}", dir.display()),
                    e,
                )
            })?;
        }
        let tmp = path.with_extension("part");
        std::fs::write(&tmp, hex(&seed)).map_err(|e| {
            Error::with_source(
                ErrorKind::Unavailable,
                format!("writing audit key {}", tmp.display()),
                e,
            )
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            Error::with_source(
                ErrorKind::Unavailable,
                format!("writing audit key {}", path.display()),
                e,
            )
        })?;
        Ok(AuditKey(SigningKey::from_bytes(&seed)))
    }

    /// A key from a fixed seed (tests and benchmarks).
    pub fn from_seed(seed: [u8; 32]) -> AuditKey {
        AuditKey(SigningKey::from_bytes(&seed))
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    pub fn sign(&self, tree_size: u64, at_ms: i64, root: Hash) -> SignedTreeHead {
        let sig = self.0.sign(&sth_message(tree_size, at_ms, &root));
        SignedTreeHead {
            tree_size,
            at_ms,
            root,
            signature: sig.to_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_verify_and_forgeries_do_not() {
        let k = AuditKey::from_seed([7; 32]);
        let sth = k.sign(10, 1234, [9; 32]);
        assert!(verify_sth(&k.public(), &sth));
        let mut bad = sth.clone();
        bad.tree_size = 11;
        assert!(!verify_sth(&k.public(), &bad));
        let other = AuditKey::from_seed([8; 32]);
        assert!(!verify_sth(&other.public(), &sth));
    }

    #[test]
    fn key_file_is_created_once_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("civitas-key-{}", std::process::id()));
        let p = dir.join("audit.key");
        let a = AuditKey::load_or_create(&p).unwrap();
        let b = AuditKey::load_or_create(&p).unwrap();
        assert_eq!(a.public(), b.public());
        std::fs::write(&p, "nonsense").unwrap();
        assert!(
            AuditKey::load_or_create(&p)
                .unwrap_err()
                .message()
                .contains("not 64 hex digits")
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
