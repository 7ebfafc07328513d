//! Which worker analyses which camera.
//!
//! Every worker publishes a heartbeat (`{ns}.workers.heartbeat.{id}`)
//! every `heartbeat` and listens to everyone's. The id is the subject's
//! last token (the worker's id as a subject token: [`Membership::me`]),
//! which the NATS server lets each identity publish for itself only
//! ([`crate::access`]): a worker cannot speak for another or invent
//! others. A worker is alive while its last heartbeat is younger than the
//! lease. Each camera belongs to the live
//! worker with the highest rendezvous hash of (camera, worker): no
//! coordinator, every worker computes the same answer from the same view,
//! and when a worker joins or dies only the cameras it gains or held move.
//!
//! Safety rules: a worker claims nothing until it has listened for one
//! lease (so it knows who else is alive); a worker that has not heard its
//! own heartbeat for a lease (cut off from NATS) freezes: it keeps what it
//! runs and claims nothing new, so a partition does not make every worker
//! claim every camera. A worker that stops cleanly says so
//! (`{ns}.workers.leave.{id}`), and its cameras move at once rather than after
//! the lease. Overlap during a move is possible for at most a heartbeat;
//! the stable result keys make a doubly produced result a no-op.

use crate::{Nats, unavailable};
use civitas_base::Result;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A worker's view of who is alive.
#[derive(Debug, Clone)]
pub struct View {
    /// Live workers, sorted.
    pub live: Vec<String>,
    /// False until one lease has passed since joining, or while this worker
    /// cannot hear its own heartbeat: claim nothing new.
    pub settled: bool,
}

#[derive(Debug)]
struct State {
    seen: HashMap<String, Instant>,
    joined: Instant,
}

/// This worker's membership; heartbeats stop when it is dropped.
#[derive(Debug)]
pub struct Membership {
    pub me: String,
    pub lease: Duration,
    state: Arc<Mutex<State>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    nats: Nats,
}

impl Membership {
    pub async fn join(
        nats: &Nats,
        me: &str,
        heartbeat: Duration,
        lease: Duration,
    ) -> Result<Membership> {
        let me = crate::token(me);
        let me = me.as_str();
        let state = Arc::new(Mutex::new(State {
            seen: HashMap::new(),
            joined: Instant::now(),
        }));
        let mut beats = nats
            .client
            .subscribe(format!("{}.workers.*.*", nats.ns))
            .await
            .map_err(|e| unavailable("subscribing to worker heartbeats")(e.to_string()))?;
        let st = state.clone();
        let listen = tokio::spawn(async move {
            while let Some(m) = beats.next().await {
                let who = m.subject.rsplit('.').next().unwrap_or("").to_owned();
                let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                if m.subject.contains(".workers.leave.") {
                    s.seen.remove(&who);
                } else {
                    s.seen.insert(who, Instant::now());
                }
            }
        });
        let (client, subject, payload) = (
            nats.client.clone(),
            format!("{}.workers.heartbeat.{me}", nats.ns),
            bytes::Bytes::from(me.to_owned()),
        );
        let beat = tokio::spawn(async move {
            loop {
                if let Err(e) = client.publish(subject.clone(), payload.clone()).await {
                    tracing::warn!(error = %e, "worker heartbeat not sent");
                }
                tokio::time::sleep(heartbeat).await;
            }
        });
        Ok(Membership {
            me: me.to_owned(),
            lease,
            state,
            tasks: vec![listen, beat],
            nats: nats.clone(),
        })
    }

    pub fn view(&self) -> View {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut live: Vec<String> = s
            .seen
            .iter()
            .filter(|(_, t)| t.elapsed() < self.lease)
            .map(|(w, _)| w.clone())
            .collect();
        live.sort();
        let hears_itself = live.contains(&self.me);
        View {
            settled: s.joined.elapsed() >= self.lease && hears_itself,
            live,
        }
    }

    /// Says goodbye, so the others take this worker's cameras at once.
    pub async fn leave(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let _ = self
            .nats
            .client
            .publish(
                format!("{}.workers.leave.{}", self.nats.ns, self.me),
                bytes::Bytes::from(self.me.clone()),
            )
            .await;
        let _ = self.nats.client.flush().await;
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    // FNV's low bits mix poorly for similar keys; a final avalanche (splitmix64) fixes that.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The live worker a camera belongs to (rendezvous hashing), if any is alive.
pub fn owner<'a>(camera: &str, live: &'a [String]) -> Option<&'a str> {
    live.iter()
        .max_by_key(|w| (fnv1a(&[camera, w]), w.as_str()))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_spread_and_only_a_dead_workers_cameras_move() {
        let cams: Vec<String> = (0..3000).map(|i| format!("cam-{i}")).collect();
        let three: Vec<String> = ["w-a", "w-b", "w-c"].map(String::from).to_vec();
        let two: Vec<String> = ["w-a", "w-c"].map(String::from).to_vec();
        let mut per = HashMap::new();
        for c in &cams {
            *per.entry(owner(c, &three).unwrap()).or_insert(0) += 1;
        }
        for w in &three {
            let n = per[w.as_str()];
            assert!((850..1150).contains(&n), "{w} got {n} of 3000");
        }
        for c in &cams {
            let before = owner(c, &three).unwrap();
            let after = owner(c, &two).unwrap();
            if before != "w-b" {
                assert_eq!(before, after, "{c} moved though its worker lives");
            }
        }
        assert_eq!(owner("x", &[]), None);
    }
}
