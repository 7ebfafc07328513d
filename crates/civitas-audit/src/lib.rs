//! The audit log's cryptography, in the style of Certificate Transparency
//! (RFC 9162): entries are leaves of a Merkle tree, the tree's root is signed
//! with an Ed25519 key created at init (a *signed tree head*), and anyone with
//! the public key can check that an entry is in the tree (inclusion proof) and
//! that a later tree extends an earlier one without rewriting it (consistency
//! proof). The store keeps the entries and the heads; this crate knows no SQL.
//!
//! Why this and not a hash chain: a chain proves order but makes every check
//! O(n) and gives an outside witness nothing small to hold. A signed root of a
//! Merkle tree is 32 bytes a witness can keep, and proofs are O(log n).

pub mod bundle;
pub mod entry;
pub mod key;
pub mod merkle;
pub mod witness;

pub use entry::AuditEntry;
pub use key::{AuditKey, HeadVerifier, SignedTreeHead, verify_sth};
pub use merkle::{
    Frontier, Hash, consistency_proof, inclusion_proof, leaf_hash, root, verify_consistency,
    verify_inclusion,
};
