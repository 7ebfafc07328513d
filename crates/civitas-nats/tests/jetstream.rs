//! Against the real NATS server (127.0.0.1:4222, JetStream on), each test in
//! its own namespace: durable delivery with explicit acks, redelivery of what
//! was not applied, server-side deduplication by stable key, and worker
//! membership with leases.

use civitas_base::Timestamp;
use civitas_model::{BBox, Candidate, EntryId, TrackId};
use civitas_nats::membership::{Membership, owner};
use civitas_nats::{Handled, Nats, NatsBus, NatsSettings, consume};
use civitas_pipeline::{Bus, Event};
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn settings() -> NatsSettings {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let url = std::env::var("CIVITAS_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    NatsSettings::local(url, format!("test_{}_{nanos}", std::process::id()))
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

/// A nats-server of this test's own: TLS only, with a certificate for
/// `localhost` from a CA made for it, JetStream, and the users and
/// permissions `civitas bus permissions` prints (worker `w1`, serve
/// `store`). Stopped when dropped.
struct PrivateNats {
    dir: tempfile::TempDir,
    port: u16,
    server: std::process::Child,
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

const NS: &str = "civ";

impl PrivateNats {
    fn start() -> PrivateNats {
        use civitas_base::testing::{free_port, localhost_pki, wait_for_port};
        use civitas_nats::access::{Role, server_authorization};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (crt, key) = localhost_pki(d, "nats");
        let port = free_port();
        let users = [
            ("w1", "worker-password-1234", Role::Worker),
            ("store", "serve-password-12345", Role::Serve),
        ];
        let conf = format!(
            "listen: \"127.0.0.1:{port}\"\njetstream {{ store_dir: {:?} }}\ntls {{ cert_file: {:?}, key_file: {:?}, timeout: 2 }}\n{}",
            d.join("js").display().to_string(),
            crt.display().to_string(),
            key.display().to_string(),
            server_authorization(NS, &users)
        );
        std::fs::write(d.join("nats.conf"), conf).unwrap();
        let server = std::process::Command::new("nats-server")
            .arg("-c")
            .arg(d.join("nats.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server is installed (scripts/setup)");
        let started = PrivateNats { dir, port, server };
        wait_for_port(port, "the private nats-server");
        started
    }

    fn settings(&self, user: &str, password: &str, ca: &str) -> NatsSettings {
        NatsSettings {
            tls_ca: Some(self.dir.path().join(ca)),
            credentials: Some((user.into(), password.into())),
            ..NatsSettings::local(format!("nats://localhost:{}", self.port), NS)
        }
    }
}

/// Over TLS with per-role users: the worker's results reach the store
/// writer; the store writer's identity cannot publish one (so every result
/// it applies came from a worker); a worker can neither read the results
/// (a subscription, a consumer of its own) nor delete the stream; a wrong
/// password, a client trusting another CA and a client without TLS are
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_only_workers_publish_results_and_only_serve_reads_them() {
    let s = PrivateNats::start();
    let t = Duration::from_secs(10);
    let serve = Nats::connect(&s.settings("store", "serve-password-12345", "ca.crt"), t)
        .await
        .expect("serve connects over verified TLS");
    let worker = Nats::connect(&s.settings("w1", "worker-password-1234", "ca.crt"), t)
        .await
        .expect("the worker connects over verified TLS");

    // The worker speaks for itself only: a heartbeat or a leave in another
    // worker's name never reaches anyone.
    let mut beats = serve
        .client
        .subscribe(format!("{NS}.workers.*.*"))
        .await
        .unwrap();
    serve.client.flush().await.unwrap();
    // The forgeries first, then the worker's own heartbeat until it is
    // heard (a permission violation may make the client reconnect, and a
    // message sent meanwhile is lost): everything heard must be its own.
    for subject in ["heartbeat.w2", "leave.w2"] {
        let _ = worker
            .client
            .publish(format!("{NS}.workers.{subject}"), "x".into())
            .await;
    }
    let own = format!("{NS}.workers.heartbeat.w1");
    let mut heard_own = false;
    for _ in 0..25 {
        let _ = worker.client.publish(own.clone(), "x".into()).await;
        let _ = worker.client.flush().await;
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(200), beats.next()).await {
            assert_eq!(
                m.subject.as_str(),
                own,
                "a forged heartbeat or leave got through"
            );
            heard_own = true;
            break;
        }
    }
    assert!(heard_own, "the worker's own heartbeat was never heard");
    let more = tokio::time::timeout(Duration::from_millis(300), beats.next()).await;
    assert!(
        more.as_ref()
            .is_ok_and(|m| m.as_ref().is_some_and(|m| m.subject.as_str() == own))
            || more.is_err(),
        "a forged heartbeat or leave got through: {more:?}"
    );

    // The worker tries to read results as they are published.
    let mut snoop = worker
        .client
        .subscribe(format!("{NS}.events.>"))
        .await
        .unwrap();
    let mut snoop_replies = worker
        .client
        .subscribe(civitas_nats::access::inbox_prefix(NS, "store") + ".>")
        .await
        .unwrap();

    assert!(
        !worker
            .publish(&Event::Candidate(cand(1_000)))
            .await
            .unwrap()
    );
    // Each refusal waits out JetStream's 5 s answer: all three at once.
    let stream = worker.events_stream().await.unwrap();
    let thief = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some("thief".into()),
        ..Default::default()
    };
    let forged = Event::Candidate(cand(2_000));
    let (forged, thief, deleted) = tokio::join!(
        serve.publish(&forged),
        stream.get_or_create_consumer("thief", thief),
        worker.js.delete_stream(worker.events_stream_name()),
    );
    assert!(forged.is_err(), "serve published a result: {forged:?}");
    assert!(thief.is_err(), "a worker made a consumer of the results");
    assert!(deleted.is_err(), "a worker deleted the results stream");

    let got = Arc::new(Mutex::new(Vec::new()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let writer = {
        let (serve, got) = (serve.clone(), got.clone());
        tokio::spawn(async move {
            consume(&serve, "store", stop_rx, move |ev, _| {
                got.lock().unwrap().push(ev);
                async { Handled::Done }
            })
            .await
        })
    };
    assert!(
        !worker
            .publish(&Event::Candidate(cand(3_000)))
            .await
            .unwrap()
    );
    for _ in 0..100 {
        if got.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let frames: Vec<i64> = got
        .lock()
        .unwrap()
        .iter()
        .map(|e| match e {
            Event::Candidate(c) => c.frame_time.0,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        frames,
        [1_000, 3_000],
        "the worker's two results, not the forged one"
    );

    // The worker read none of it, neither published nor as serve's replies.
    for sub in [&mut snoop, &mut snoop_replies] {
        let leaked = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
        assert!(!matches!(leaked, Ok(Some(_))), "a worker read results");
    }
    assert!(
        serve
            .js
            .get_stream(serve.events_stream_name())
            .await
            .is_ok()
    );
    let _ = stop_tx.send(true);
    let _ = writer.await;

    // Refused at the door.
    let short = Duration::from_secs(3);
    let wrong = Nats::connect(&s.settings("w1", "guess", "ca.crt"), short).await;
    let e = wrong.expect_err("a wrong password").to_string();
    assert!(e.to_lowercase().contains("authorization"), "{e}");
    let impostor = s.settings("w1", "worker-password-1234", "other-ca.crt");
    let impostor = Nats::connect(&impostor, short).await;
    assert!(impostor.is_err(), "a client trusting another CA");
    // A client speaking in clear (the password in the open) gets no answer.
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .unwrap();
    let mut tcp = tokio::io::BufReader::new(tcp);
    let mut info = String::new();
    tcp.read_line(&mut info).await.unwrap();
    assert!(info.contains("\"tls_required\":true"), "{info}");
    let hello = b"CONNECT {\"user\":\"w1\",\"pass\":\"worker-password-1234\"}\r\nPING\r\n";
    let _ = tcp.get_mut().write_all(hello).await;
    let mut answer = String::new();
    let _ = tokio::time::timeout(short, tcp.read_line(&mut answer)).await;
    assert!(
        !answer.contains("PONG"),
        "a plain client was served: {answer}"
    );
}

/// A results stream someone declared first with a limit that would drop
/// results before they are stored (here: kept one second) is refused, not
/// used.
#[tokio::test]
async fn a_results_stream_declared_with_a_limit_is_refused() {
    let s = settings();
    let client = async_nats::connect(&s.url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let name = format!("{}_events", s.namespace);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![format!("{}.events.>", s.namespace)],
        max_age: Duration::from_secs(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let e = Nats::connect(&s, Duration::from_secs(5)).await.unwrap_err();
    let _ = js.delete_stream(&name).await;
    assert!(e.message().contains("other settings"), "{}", e.message());
}
