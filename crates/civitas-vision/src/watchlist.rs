//! Exact 1:N watchlist search, in memory.
//!
//! Templates are L2-normalised, so `‖a − b‖² = 2 − 2 a·b`: the nearest entry is
//! the one with the largest dot product. Entries are stored as one contiguous
//! row-major `f32` matrix and scanned with a dot-product kernel the compiler
//! vectorises (8 independent accumulators). A probe only matches when the
//! nearest entry is under the threshold; otherwise it is `Unknown`, never "the
//! closest person on the list".

use civitas_base::{Error, Result, Timestamp};
use civitas_model::{EntryId, FaceTemplate, MatchOutcome};

/// An in-memory watchlist index.
#[derive(Debug, Clone, Default)]
pub struct WatchlistIndex {
    dim: usize,
    data: Vec<f32>,
    ids: Vec<EntryId>,
    /// Expiry of each entry's legal basis: expired entries never match.
    expires: Vec<Timestamp>,
}

impl WatchlistIndex {
    pub fn new(dim: usize) -> Self {
        WatchlistIndex {
            dim,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn add(&mut self, id: EntryId, t: &FaceTemplate, expires: Timestamp) -> Result<()> {
        if t.dim() != self.dim {
            return Err(Error::invalid(format!(
                "watchlist entry {id}: template has {} dimensions, index has {}",
                t.dim(),
                self.dim
            )));
        }
        self.data.extend_from_slice(t.as_slice());
        self.ids.push(id);
        self.expires.push(expires);
        Ok(())
    }

    /// Nearest active entry by Euclidean distance, if within `threshold`.
    pub fn search(&self, probe: &FaceTemplate, threshold: f32, now: Timestamp) -> MatchOutcome {
        let p = probe.as_slice();
        if p.len() != self.dim || self.is_empty() {
            return MatchOutcome::Unknown;
        }
        let mut best = (f32::NEG_INFINITY, usize::MAX);
        for (i, row) in self.data.chunks_exact(self.dim).enumerate() {
            let s = dot(row, p);
            if s > best.0 && now < self.expires[i] {
                best = (s, i);
            }
        }
        if best.1 == usize::MAX {
            return MatchOutcome::Unknown;
        }
        // Exact distance for the winner (the dot-product form loses precision near 0).
        let row = &self.data[best.1 * self.dim..(best.1 + 1) * self.dim];
        let d = row
            .iter()
            .zip(p)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        if d <= threshold {
            MatchOutcome::Match {
                entry: self.ids[best.1],
                distance: d,
            }
        } else {
            MatchOutcome::Unknown
        }
    }
}

/// Dot product with 8 independent accumulators so it vectorises.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> FaceTemplate {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        FaceTemplate::new(v.iter().map(|x| x / n).collect())
    }

    #[test]
    fn stranger_is_unknown_not_nearest() {
        let far = Timestamp(i64::MAX);
        let mut ix = WatchlistIndex::new(3);
        ix.add(EntryId(1), &unit(&[1.0, 0.0, 0.0]), far).unwrap();
        ix.add(EntryId(2), &unit(&[0.0, 1.0, 0.0]), far).unwrap();
        let now = Timestamp(0);
        assert_eq!(
            ix.search(&unit(&[0.95, 0.05, 0.0]), 0.6, now),
            MatchOutcome::Match {
                entry: EntryId(1),
                distance: unit(&[0.95, 0.05, 0.0]).distance(&unit(&[1.0, 0.0, 0.0]))
            }
        );
        // Nearest is entry 2 but far beyond the threshold.
        assert_eq!(
            ix.search(&unit(&[0.0, 0.3, 1.0]), 0.6, now),
            MatchOutcome::Unknown
        );
    }

    #[test]
    fn expired_entries_do_not_match() {
        let mut ix = WatchlistIndex::new(2);
        ix.add(EntryId(7), &unit(&[1.0, 0.0]), Timestamp(1000))
            .unwrap();
        let p = unit(&[1.0, 0.01]);
        assert!(matches!(
            ix.search(&p, 0.6, Timestamp(999)),
            MatchOutcome::Match { .. }
        ));
        assert_eq!(ix.search(&p, 0.6, Timestamp(1000)), MatchOutcome::Unknown);
    }

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..131).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..131).map(|i| (i as f32 * 0.11).cos()).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-4);
    }
}
