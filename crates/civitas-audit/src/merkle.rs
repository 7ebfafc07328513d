//! RFC 9162 §2.1 Merkle tree hashing, proofs and their verification.
//!
//! `MTH({}) = SHA-256()`, leaf `= SHA-256(0x00 ‖ d)`, node `= SHA-256(0x01 ‖ l ‖ r)`,
//! with the left subtree the largest power of two smaller than the size.

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

fn split(n: usize) -> usize {
    // Largest power of two strictly smaller than n (n >= 2).
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// Root of the tree over these leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Inclusion proof (audit path) for leaf `m` in the tree over `leaves`.
pub fn inclusion_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 || m >= n {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = inclusion_proof(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = inclusion_proof(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Consistency proof between the first `m` leaves and all of `leaves`.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn sub(m: usize, d: &[Hash], complete: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if complete { Vec::new() } else { vec![root(d)] };
        }
        let k = split(n);
        if m <= k {
            let mut p = sub(m, &d[..k], complete);
            p.push(root(&d[k..]));
            p
        } else {
            let mut p = sub(m - k, &d[k..], false);
            p.push(root(&d[..k]));
            p
        }
    }
    if m == 0 || m > leaves.len() {
        return Vec::new();
    }
    sub(m, leaves, true)
}

/// RFC 9162 §2.1.3.2.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == root
}

/// RFC 9162 §2.1.4.2.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &fr == first_root && &sr == second_root
}

/// The right edge of a growing tree: the roots of its perfect subtrees, left
/// to right. Appending is O(log n) amortised and the root is O(log n), so a
/// single appender need not re-read the log to sign a new head.
#[derive(Debug, Clone, Default)]
pub struct Frontier {
    stack: Vec<(u64, Hash)>,
    size: u64,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        self.stack.push((1, leaf));
        self.size += 1;
        while self.stack.len() >= 2 {
            let (sa, _) = self.stack[self.stack.len() - 2];
            let (sb, _) = self.stack[self.stack.len() - 1];
            if sa != sb {
                break;
            }
            let (_, b) = self.stack.pop().expect("two");
            let (_, a) = self.stack.pop().expect("two");
            self.stack.push((sa + sb, node_hash(&a, &b)));
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Serialised as (subtree size u64 BE, hash) pairs, left to right.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.stack
            .iter()
            .flat_map(|(n, h)| n.to_be_bytes().into_iter().chain(h.iter().copied()))
            .collect()
    }

    /// Reads [`Frontier::to_bytes`]; `None` if malformed.
    pub fn from_bytes(b: &[u8]) -> Option<Frontier> {
        if !b.len().is_multiple_of(40) {
            return None;
        }
        let mut f = Frontier::default();
        for c in b.chunks_exact(40) {
            let n = u64::from_be_bytes(c[..8].try_into().ok()?);
            let h: Hash = c[8..].try_into().ok()?;
            if !n.is_power_of_two() || f.stack.last().is_some_and(|(m, _)| *m <= n) {
                return None;
            }
            f.stack.push((n, h));
            f.size += n;
        }
        Some(f)
    }

    pub fn root(&self) -> Hash {
        let mut it = self.stack.iter().rev();
        let Some((_, last)) = it.next() else {
            return Sha256::digest([]).into();
        };
        it.fold(*last, |acc, (_, h)| node_hash(h, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn frontier_root_equals_recursive_root_for_every_size() {
        let all = leaves(70);
        let mut f = Frontier::default();
        assert_eq!(f.root(), root(&[]));
        for n in 1..=70 {
            f.push(all[n - 1]);
            assert_eq!(f.root(), root(&all[..n]), "size {n}");
        }
    }

    #[test]
    fn frontier_round_trips() {
        let mut f = Frontier::default();
        for l in leaves(13) {
            f.push(l);
        }
        let g = Frontier::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!((g.size(), g.root()), (13, f.root()));
        assert!(Frontier::from_bytes(&[0; 39]).is_none());
    }

    #[test]
    fn rfc_empty_tree_hash() {
        // SHA-256 of the empty string.
        let h = root(&[]);
        assert_eq!(h[..4], [0xe3, 0xb0, 0xc4, 0x42]);
    }

    #[test]
    fn inclusion_proofs_verify_and_fail_when_tampered() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for m in 0..n {
                let p = inclusion_proof(m, &l);
                assert!(
                    verify_inclusion(m as u64, n as u64, &l[m], &p, &r),
                    "n={n} m={m}"
                );
                let other = leaf_hash(b"forged");
                assert!(!verify_inclusion(m as u64, n as u64, &other, &p, &r));
                if n > 1 {
                    assert!(
                        !verify_inclusion(((m + 1) % n) as u64, n as u64, &l[m], &p, &r)
                            || l[m] == l[(m + 1) % n]
                    );
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_fail_on_rewritten_history() {
        for n in 1..=33 {
            let l = leaves(n);
            for m in 1..=n {
                let p = consistency_proof(m, &l);
                assert!(
                    verify_consistency(m as u64, n as u64, &root(&l[..m]), &root(&l), &p),
                    "m={m} n={n}"
                );
                if m < n {
                    // Rewrite one early leaf: the old root no longer fits the new tree.
                    let mut forged = l.clone();
                    forged[0] = leaf_hash(b"rewritten");
                    let pf = consistency_proof(m, &forged);
                    assert!(
                        !verify_consistency(
                            m as u64,
                            n as u64,
                            &root(&l[..m]),
                            &root(&forged),
                            &pf
                        ),
                        "m={m} n={n}"
                    );
                }
            }
        }
    }
}
