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

/// Refuses a key file that is not a regular file readable by its owner only
/// (a link is followed: its target must be so).
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::FailedPrecondition,
            format!(
                "audit key {} is not a regular file; refusing it",
                path.display()
            ),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "audit key {} has mode {mode:03o}: the group or others may read it, and whoever reads it can sign a rewritten log; run `chmod 600 {}` after checking who read it",
                    path.display(),
                    path.display()
                ),
            ));
        }
    }
    Ok(())
}

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
    HeadVerifier::new(public).is_some_and(|v| v.verify(sth))
}

/// Checks many heads against one key, decoding the key (a curve point
/// decompression) once rather than per head.
#[derive(Debug, Clone)]
pub struct HeadVerifier(VerifyingKey);

impl HeadVerifier {
    /// `None` when `public` is not a valid Ed25519 key.
    pub fn new(public: &[u8; 32]) -> Option<HeadVerifier> {
        VerifyingKey::from_bytes(public).ok().map(HeadVerifier)
    }

    pub fn verify(&self, sth: &SignedTreeHead) -> bool {
        self.0
            .verify(
                &sth_message(sth.tree_size, sth.at_ms, &sth.root),
                &Signature::from_bytes(&sth.signature),
            )
            .is_ok()
    }

    /// The index of the first head in `heads` whose signature does not
    /// verify. Heads are checked in batches of [`BATCH`] (one multi-scalar
    /// multiplication per batch, about twice as fast per head as one by
    /// one); a batch that fails is checked head by head to name the first.
    /// Batch verification is no weaker against forgery: without the key no
    /// signature on a new message passes it.
    pub fn first_invalid<'a>(
        &self,
        heads: impl IntoIterator<Item = &'a SignedTreeHead>,
    ) -> Option<usize> {
        let heads: Vec<&SignedTreeHead> = heads.into_iter().collect();
        let keys = vec![self.0; BATCH];
        for (n, batch) in heads.chunks(BATCH).enumerate() {
            let messages: Vec<Vec<u8>> = batch
                .iter()
                .map(|h| sth_message(h.tree_size, h.at_ms, &h.root))
                .collect();
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let signatures: Vec<Signature> = batch
                .iter()
                .map(|h| Signature::from_bytes(&h.signature))
                .collect();
            let keys = &keys[..batch.len()];
            if ed25519_dalek::verify_batch(&messages, &signatures, keys).is_err() {
                let bad = batch.iter().position(|h| !self.verify(h));
                // A batch refused but every head alone accepted: refuse the first.
                return Some(n * BATCH + bad.unwrap_or(0));
            }
        }
        None
    }
}

/// Heads verified together by [`HeadVerifier::first_invalid`].
pub const BATCH: usize = 64;

/// The audit log's signing key, with the last head it signed or verified
/// (so the appender's check of the stored head against the key costs an
/// Ed25519 verification only when the head is not the one it knows).
pub struct AuditKey(SigningKey, std::sync::Mutex<Option<SignedTreeHead>>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(public {})", hex(&self.public()))
    }
}

impl AuditKey {
    /// Loads the key file, or creates it (32 random bytes, hex) if absent.
    ///
    /// The file is created with mode 0600 in one step (`O_CREAT|O_EXCL` with
    /// the mode), never written first and narrowed after; a key file that
    /// the group or others may read is refused, since anyone who reads it
    /// can sign a rewritten log.
    pub fn load_or_create(path: &Path) -> Result<AuditKey> {
        match std::fs::metadata(path) {
            Ok(meta) => {
                check_private(path, &meta)?;
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
                return Ok(AuditKey(SigningKey::from_bytes(&seed), Default::default()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::with_source(
                    ErrorKind::Unavailable,
                    format!("reading audit key {}", path.display()),
                    e,
                ));
            }
        }
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::internal(format!("no randomness for the audit key: {e}")))?;
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::with_source(
                    ErrorKind::Unavailable,
                    format!("creating {}", dir.display()),
                    e,
                )
            })?;
        }
        let io = |e: std::io::Error| {
            Error::with_source(
                ErrorKind::Unavailable,
                format!("writing audit key {}", path.display()),
                e,
            )
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        use std::io::Write;
        f.write_all(hex(&seed).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io)?;
        Ok(AuditKey(SigningKey::from_bytes(&seed), Default::default()))
    }

    /// A key from a fixed seed (tests and benchmarks).
    pub fn from_seed(seed: [u8; 32]) -> AuditKey {
        AuditKey(SigningKey::from_bytes(&seed), Default::default())
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

    /// Whether `sth` verifies with this key; remembered when it does.
    pub fn verifies(&self, sth: &SignedTreeHead) -> bool {
        let mut known = self.1.lock().unwrap_or_else(|p| p.into_inner());
        if known.as_ref() == Some(sth) {
            return true;
        }
        let ok = verify_sth(&self.public(), sth);
        if ok {
            *known = Some(sth.clone());
        }
        ok
    }

    /// Remembers a head this key just signed (and its transaction stored).
    pub fn signed(&self, sth: &SignedTreeHead) {
        *self.1.lock().unwrap_or_else(|p| p.into_inner()) = Some(sth.clone());
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

    /// Batches name the same first bad head as checking one by one would,
    /// wherever it falls (first, inside, last of a batch, or the tail).
    #[test]
    fn batch_verification_finds_the_first_bad_head() {
        let k = AuditKey::from_seed([7; 32]);
        let v = HeadVerifier::new(&k.public()).unwrap();
        let heads: Vec<SignedTreeHead> = (1..=200u64)
            .map(|n| k.sign(n, 1000, [n as u8; 32]))
            .collect();
        assert_eq!(v.first_invalid(&heads), None);
        for bad in [0, 63, 64, 130, 199] {
            let mut forged = heads.clone();
            forged[bad].root[0] ^= 1;
            forged[bad + 1..]
                .iter_mut()
                .for_each(|h| h.signature[0] ^= 1);
            assert_eq!(v.first_invalid(&forged), Some(bad), "forged at {bad}");
        }
        let other = HeadVerifier::new(&AuditKey::from_seed([8; 32]).public()).unwrap();
        assert_eq!(other.first_invalid(&heads), Some(0));
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

    /// The attack: a key file others can read (or a link to one) would let
    /// anyone on the machine sign a rewritten log; it is refused, and a new
    /// key is born 0600 with no window at a wider mode.
    #[cfg(unix)]
    #[test]
    fn key_file_is_born_private_and_a_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys/audit.key");
        AuditKey::load_or_create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        for bad in [0o640, 0o604, 0o644] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(bad)).unwrap();
            let e = AuditKey::load_or_create(&p).unwrap_err();
            assert!(e.message().contains("chmod 600"), "{e}");
        }
        // A link to a readable key is refused by its target's mode.
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(AuditKey::load_or_create(&link).is_err());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        AuditKey::load_or_create(&link).unwrap();
    }
}
