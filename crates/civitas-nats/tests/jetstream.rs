//! Against the real NATS server (127.0.0.1:4222, JetStream on), each test in
//! its own namespace: durable delivery with explicit acks, redelivery of what
//! was not applied, server-side deduplication by stable key, and worker
//! membership with leases.

use civitas_base::Timestamp;
use civitas_model::{BBox, Candidate, EntryId, TrackId};
use civitas_nats::membership::{Membership, owner};
use civitas_nats::{Handled, Nats, NatsBus, NatsSettings, consume};
use civitas_pipeline::{Bus, Event};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn settings() -> NatsSettings {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    NatsSettings {
        url: std::env::var("CIVITAS_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        namespace: format!("test_{}_{nanos}", std::process::id()),
    }
}

async fn cleanup(n: &Nats) {
    let _ = n.js.delete_stream(n.events_stream_name()).await;
    let _ = n.js.delete_stream(format!("{}_epochs", n.ns)).await;
}

fn cand(frame_ms: i64) -> Candidate {
    Candidate {
        id: None,
        camera: "gate 1".into(),
        track: TrackId(1),
        entry: EntryId(5),
        entry_name: "Alice".into(),
        distance: 0.3,
        detector_score: 0.9,
        bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
        frame_time: Timestamp(frame_ms),
        offset_ms: 0,
        crop_jpeg: vec![1, 2, 3],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_delivered_until_applied_and_repeats_are_dropped() {
    let nats = Nats::connect(&settings(), Duration::from_secs(5))
        .await
        .expect("NATS with JetStream at 127.0.0.1:4222");
    let bus = NatsBus::start(nats.clone(), &tokio::runtime::Handle::current());
    bus.publish(Event::Candidate(cand(1_000)));
    bus.publish(Event::Candidate(cand(2_000)));
    // The same result again (a worker replaying): JetStream drops it by its key.
    bus.publish(Event::Candidate(cand(2_000)));
    bus.publish(Event::FrameAnalysed {
        camera: "gate 1".into(),
        offset_ms: 0,
        faces: 1,
        too_small: 0,
        unknown: 0,
        analyse_ms: 1.0,
        since_arrival_ms: 2.0,
    });
    assert_eq!(bus.flush(Duration::from_secs(10)).await, 0);
    assert_eq!(
        bus.counters
            .published
            .load(std::sync::atomic::Ordering::SeqCst),
        4
    );
    let info = nats
        .events_stream()
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(
        info.state.messages, 2,
        "the repeat and the counts are not stored"
    );

    // The writer fails the first delivery of the second result (its store is
    // down): it comes again; only applied results are acknowledged.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (nats2, seen2) = (nats.clone(), seen.clone());
    let task = tokio::spawn(async move {
        consume(&nats2, "store", stop_rx, |ev, delivered| {
            let seen = seen2.clone();
            async move {
                let Event::Candidate(c) = ev else {
                    panic!("only candidates were stored")
                };
                assert_eq!(c.crop_jpeg, vec![1, 2, 3]);
                seen.lock().unwrap().push((c.frame_time.0, delivered));
                if c.frame_time.0 == 2_000 && delivered == 1 {
                    Handled::Retry("store unavailable".into())
                } else {
                    Handled::Done
                }
            }
        })
        .await
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while seen.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more arrives once everything is acknowledged.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop_tx.send(true).unwrap();
    task.await.unwrap().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![(1_000, 1), (2_000, 1), (2_000, 2)]);
    let info = nats
        .events_stream()
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(
        info.state.messages, 0,
        "acknowledged results leave the work queue"
    );
    cleanup(&nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_stops_heartbeating_loses_its_cameras_after_the_lease() {
    let nats = Nats::connect(&settings(), Duration::from_secs(5))
        .await
        .unwrap();
    let (beat, lease) = (Duration::from_millis(100), Duration::from_millis(600));
    let a = Membership::join(&nats, "worker-a", beat, lease)
        .await
        .unwrap();
    let b = Membership::join(&nats, "worker-b", beat, lease)
        .await
        .unwrap();
    assert!(
        !a.view().settled,
        "nothing is claimed before a lease has passed"
    );
    tokio::time::sleep(lease + Duration::from_millis(200)).await;
    let v = a.view();
    assert!(v.settled);
    assert_eq!(v.live, vec!["worker-a", "worker-b"]);
    let cams: Vec<String> = (0..20).map(|i| format!("cam-{i}")).collect();
    let b_cams: Vec<&String> = cams
        .iter()
        .filter(|c| owner(c, &v.live) == Some("worker-b"))
        .collect();
    assert!(!b_cams.is_empty());
    // b dies without a word (its tasks stop, as with SIGKILL).
    drop(b);
    let t0 = std::time::Instant::now();
    while a.view().live.len() > 1 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(t0.elapsed() < lease * 3, "b still counted alive");
    }
    let moved = t0.elapsed();
    assert!(
        moved <= lease + Duration::from_millis(300),
        "took {moved:?}"
    );
    for c in b_cams {
        assert_eq!(owner(c, &a.view().live), Some("worker-a"));
    }
    // A clean leave moves cameras at once.
    let c = Membership::join(&nats, "worker-c", beat, lease)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.view().live, vec!["worker-a", "worker-c"]);
    c.leave().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(a.view().live, vec!["worker-a"]);
    cleanup(&nats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_cameras_epoch_is_claimed_once_and_kept() {
    use civitas_nats::epochs::Epochs;
    let nats = Nats::connect(&settings(), Duration::from_secs(5))
        .await
        .unwrap();
    let (a, b) = (
        Epochs::open(&nats).await.unwrap(),
        Epochs::open(&nats).await.unwrap(),
    );
    assert_eq!(a.get("plaza").await.unwrap(), None);
    let first = a.claim("plaza", Timestamp(1_000)).await.unwrap();
    let second = b.claim("plaza", Timestamp(9_000)).await.unwrap();
    assert_eq!(first.epoch_ms, 1_000);
    assert_eq!(second, first, "a later worker replays with the first epoch");
    b.finish("plaza", 1_000).await.unwrap();
    let done = a.claim("plaza", Timestamp(20_000)).await.unwrap();
    assert!(done.finished && done.epoch_ms == 1_000);
    assert_eq!(a.claim("gate", Timestamp(5)).await.unwrap().epoch_ms, 5);
    cleanup(&nats).await;
}
