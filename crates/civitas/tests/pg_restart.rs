//! PostgreSQL restarting under the store writer: results go over NATS
//! JetStream (the machine's server, this test's own namespace) to the
//! writer's path on PostgreSQL (`Store::insert_candidate`) through the
//! durable consumer, while a private PostgreSQL 15 cluster (initdb in a
//! temporary directory, its own port, so the test may crash it) is stopped
//! in immediate mode (a crash: no shutdown checkpoint, open transactions
//! lost) and started again. Every result JetStream acknowledged must end up
//! stored exactly once, with one audit entry each, in one verifiable tree,
//! and without anyone doing anything.

use civitas_base::{ErrorKind, Timestamp};
use civitas_model::{BBox, CameraId, Candidate, EntryId, TrackId};
use civitas_nats::{Handled, Nats, NatsBus, NatsSettings, consume};
use civitas_pipeline::{Bus, Event};
use civitas_store::{ReviewPolicy, Store};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The newest installed PostgreSQL's programs (Debian keeps each major version apart).
fn bin() -> String {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server programs under /usr/lib/postgresql")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort();
    format!(
        "/usr/lib/postgresql/{}/bin",
        versions.last().expect("a PostgreSQL version")
    )
}

fn as_postgres(args: &[&str]) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).args(args);
    c
}

fn start_pg(dir: &Path, port: u16) -> Child {
    let child = as_postgres(&[
        &format!("{}/postgres", bin()),
        "-D",
        dir.to_str().unwrap(),
        "-p",
        &port.to_string(),
        "-k",
        dir.to_str().unwrap(),
        "-c",
        "listen_addresses=127.0.0.1",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("postgres");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "postgres did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn cand(i: i64) -> Candidate {
    Candidate {
        id: None,
        camera: CameraId(format!("cam-{}", i % 7)),
        track: TrackId(i),
        entry: EntryId(1),
        entry_name: "bench".into(),
        distance: 0.3,
        detector_score: 0.9,
        bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
        frame_time: Timestamp(1_800_000_000_000 + i),
        offset_ms: i,
        crop_jpeg: vec![7; 2000],
    }
}

#[test]
fn a_postgres_crash_under_the_writer_loses_and_duplicates_nothing() {
    // A private cluster, owned by the postgres user (initdb refuses root).
    let tmp = tempfile::Builder::new()
        .prefix("civitas-pg")
        .tempdir()
        .unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let ok = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let o = as_postgres(&[
        &format!("{}/initdb", bin()),
        "-D",
        data.to_str().unwrap(),
        "-A",
        "trust",
        "-U",
        "postgres",
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut pg = start_pg(&data, port);
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = rt
        .block_on(Store::connect(&url))
        .unwrap()
        .with_audit_key(Arc::new(civitas_audit::AuditKey::from_seed([5; 32])));
    let basis = civitas_model::LegalBasisInput {
        kind: "court-order".into(),
        authority: "Court 1".into(),
        reference: "CO-1".into(),
        purpose: "test".into(),
        expires: "2099-01-01".into(),
    }
    .validate(Timestamp(1))
    .unwrap();
    let supervisor = civitas_auth::Actor {
        username: "sam".into(),
        role: civitas_auth::Role::Supervisor,
        scope: vec!["*".into()],
    };
    let template = civitas_model::FaceTemplate::new(vec![0.6, 0.8]).into_enrolled_bytes(&basis);
    let everywhere = ["*".to_owned()];
    let templates = vec![("a.jpg".to_owned(), template)];
    let alice = civitas_store::Enrolment::new("Alice", &basis, &everywhere, templates);
    let entry = rt
        .block_on(store.enroll(&supervisor, alice, Timestamp(1)))
        .unwrap();
    assert_eq!(entry, EntryId(1));
    let nats = rt
        .block_on(Nats::connect(
            &NatsSettings::local(
                "nats://127.0.0.1:4222",
                format!("pgrestart_{}", std::process::id()),
            ),
            Duration::from_secs(10),
        ))
        .expect("NATS with JetStream at 127.0.0.1:4222");
    let bus = NatsBus::start(nats.clone(), rt.handle());

    // The writer: applied → acknowledged; PostgreSQL unavailable → redelivered.
    let (retried, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let writer = {
        let (nats, store, retried, failed) =
            (nats.clone(), store.clone(), retried.clone(), failed.clone());
        rt.spawn(async move {
            consume(&nats, "store", stop_rx, move |ev, _| {
                let (store, retried, failed) = (store.clone(), retried.clone(), failed.clone());
                async move {
                    let Event::Candidate(c) = ev else {
                        return Handled::Done;
                    };
                    match store
                        .insert_candidate(
                            &c,
                            Timestamp(1_900_000_000_000),
                            &ReviewPolicy::default(),
                        )
                        .await
                    {
                        Ok(_) => Handled::Done,
                        Err(e) if e.kind() == ErrorKind::Unavailable => {
                            retried.fetch_add(1, Ordering::SeqCst);
                            Handled::Retry(e.chain())
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            eprintln!("not applied: {}", e.chain());
                            Handled::Retry(e.chain())
                        }
                    }
                }
            })
            .await
        })
    };

    // 300 results over ~3 s from another thread; PostgreSQL crashes 1 s in
    // and is back 2 s later, so results keep coming while it is down.
    let n = 300i64;
    let publisher = {
        let bus = bus.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                bus.publish(Event::Candidate(cand(i)));
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(1));
    let (before_crash, _) = rt.block_on(store.counts()).unwrap();
    let o = as_postgres(&[
        &format!("{}/pg_ctl", bin()),
        "-D",
        data.to_str().unwrap(),
        "stop",
        "-m",
        "immediate",
    ])
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = pg.wait();
    std::thread::sleep(Duration::from_secs(2));
    let mut pg = start_pg(&data, port);
    publisher.join().unwrap();
    assert_eq!(
        rt.block_on(bus.flush(Duration::from_secs(30))),
        0,
        "JetStream acknowledged every result"
    );
    let t = Instant::now();
    loop {
        let (cands, _) = rt.block_on(store.counts()).unwrap_or((0, 0));
        if cands >= n || t.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    stop_tx.send(true).unwrap();
    rt.block_on(writer).unwrap().unwrap();
    let (cands, audit) = rt.block_on(store.counts()).unwrap();
    let verified =
        rt.block_on(store.audit_verify(&civitas_audit::AuditKey::from_seed([5; 32]).public()));
    let _ = rt.block_on(nats.js.delete_stream(nats.events_stream_name()));
    rt.block_on(store.close());
    let _ = as_postgres(&[
        &format!("{}/pg_ctl", bin()),
        "-D",
        data.to_str().unwrap(),
        "stop",
        "-m",
        "fast",
    ])
    .output();
    let _ = pg.wait();
    eprintln!(
        "pg restart: {before_crash} stored before the crash; {cands} of {n} stored, {audit} audit entries, {} attempt(s) redelivered (the others waited for a connection)",
        retried.load(Ordering::SeqCst)
    );
    assert_eq!(cands, n, "lost results");
    assert_eq!(
        audit,
        n + 1,
        "the enrolment, and one audit entry per result"
    );
    verified.expect("the audit log verifies against its signed heads");
    assert!(
        before_crash > 0 && before_crash < n / 2,
        "the crash came while results were flowing ({before_crash} stored before it)"
    );
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "every failure was a retryable one"
    );
}
