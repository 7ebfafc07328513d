//! At scale, on real parts: `civitas serve` and two `civitas worker`
//! processes on a NATS server with JetStream (a private `nats-server` on a
//! free port with its own store directory, so the test may kill it) and a
//! PostgreSQL database of the test's own on the machine's server, the real
//! face models and a real clip.
//!
//! One run, two faults: the worker analysing the camera is killed with
//! SIGKILL in the middle of the clip, and later the NATS server is killed
//! and restarted. The candidates stored must be exactly those a plain
//! `civitas run` of the same clip stores on SQLite (none lost, none twice), each with
//! one audit entry, the audit log one verifiable tree, and the camera must
//! move to the other worker within the lease.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEASE_MS: u64 = 1500;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nats_server(port: u16, store_dir: &Path) -> Child {
    let child = Command::new("/usr/sbin/nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (Debian package nats-server)");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Starts `civitas ARGS` with its output in `log`.
fn spawn(cfg: &Path, args: &[&str], log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_civitas"))
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

/// A config with Obama enrolled and file cameras `plaza` on `clip` and `door` on `door`.
fn setup(
    dir: &Path,
    clip: &Path,
    door: &Path,
    bus: Option<(u16, &str)>,
    store_url: Option<&str>,
) -> PathBuf {
    let cfg = config_with_obama_on(dir, store_url);
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    if let Some((port, ns)) = bus {
        text_cfg.push_str(&format!(
            "[bus]\nnats_url = \"nats://127.0.0.1:{port}\"\nnamespace = \"{ns}\"\nheartbeat_ms = 250\nlease_ms = {LEASE_MS}\n"
        ));
    }
    text_cfg.push_str(&format!(
        "[[camera]]\nid = \"plaza\"\nname = \"Plaza\"\nurl = \"{}\"\nfps = 5\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"test\"\nowner = \"tests\"\n",
        clip.display()
    ));
    text_cfg.push_str(&format!(
        "[[camera]]\nid = \"door\"\nname = \"Door\"\nurl = \"{}\"\nfps = 5\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"test\"\nowner = \"tests\"\n",
        door.display()
    ));
    std::fs::write(&cfg, text_cfg).unwrap();
    cfg
}

struct Stored {
    /// (camera, entry name, offset in the clip) of every candidate, sorted.
    candidates: Vec<(String, String, i64)>,
    raised: usize,
    verified_entries: u64,
}

/// What the store at `url` holds; the audit log verified with the key in `dir`.
fn stored(dir: &Path, url: &str) -> Stored {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = civitas_store::Store::connect(url).await.unwrap();
        let mut candidates: Vec<(String, String, i64)> = store
            .candidates(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|c| {
                (
                    c.candidate.camera.0.clone(),
                    c.candidate.entry_name.clone(),
                    c.candidate.offset_ms,
                )
            })
            .collect();
        candidates.sort();
        let raised = store
            .audit_entries(0, 10_000, "candidate.raise")
            .await
            .unwrap()
            .len();
        let key = civitas_audit::AuditKey::load_or_create(&dir.join("keys/audit.key")).unwrap();
        let report = store.audit_verify(&key.public()).await.unwrap();
        store.close().await;
        Stored {
            candidates,
            raised,
            verified_entries: report.entries,
        }
    })
}

fn interrupt(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_and_two_workers_lose_nothing_and_duplicate_nothing_through_a_killed_worker_and_a_nats_restart()
 {
    let tmp = tempfile::tempdir().unwrap();
    let clip = tmp.path().join("plaza.mp4");
    let b_photo = photo("face_recognition/biden.jpg");
    let (o2, o3, b) = (
        photo("face_recognition/obama2.jpg"),
        photo("face_recognition/obama3.jpg"),
        photo("face_recognition/biden.jpg"),
    );
    make_clip(
        &clip,
        &[
            o2.clone(),
            b.clone(),
            o3.clone(),
            b.clone(),
            o2,
            b.clone(),
            o3,
            b.clone(),
        ],
        2,
    );
    // A second camera on which only Joe Biden appears; he is enrolled, for
    // that camera only, while the workers run.
    let door_clip = tmp.path().join("door.mp4");
    make_clip(&door_clip, &[b], 16);

    // What the frames should produce: a plain run of the clip.
    let ref_dir = tmp.path().join("reference");
    std::fs::create_dir_all(&ref_dir).unwrap();
    let ref_cfg = setup(&ref_dir, &clip, &door_clip, None, None);
    let o = run(&ref_cfg, None, &["run", "--fast"]);
    assert!(o.status.success(), "{}", text(&o));
    let expected = stored(
        &ref_dir,
        &format!("sqlite://{}", ref_dir.join("civitas.db").display()),
    );
    assert!(
        expected.candidates.len() >= 3,
        "the clip should give several candidates: {:?}",
        expected.candidates
    );
    assert!(expected.candidates.iter().all(|c| c.0 == "plaza"));

    // The same clip through serve + two workers on NATS and PostgreSQL.
    let pg = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(civitas_store::testing::TestStore::on(
            civitas_store::Backend::Postgres,
            "scale",
        ))
        .unwrap();
    let dir = tmp.path().join("scale");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let nats_dir = tmp.path().join("nats");
    let mut nats = nats_server(port, &nats_dir);
    let cfg = setup(
        &dir,
        &clip,
        &door_clip,
        Some((port, "scaletest")),
        Some(&pg.url),
    );
    let logs = |n: &str| dir.join(format!("{n}.log"));
    let mut serve = spawn(&cfg, &["serve"], &logs("serve"));
    let mut workers = [
        spawn(&cfg, &["worker", "--id", "worker-a"], &logs("worker-a")),
        spawn(&cfg, &["worker", "--id", "worker-b"], &logs("worker-b")),
    ];
    let owner = {
        let mut owner = None;
        wait_for(
            "a worker to take the camera",
            Duration::from_secs(60),
            || {
                owner = ["worker-a", "worker-b"]
                    .into_iter()
                    .position(|w| read(&logs(w)).contains("taking camera plaza"));
                owner.is_some()
            },
        );
        owner.unwrap()
    };
    let (dead, heir) = (
        ["worker-a", "worker-b"][owner],
        ["worker-a", "worker-b"][1 - owner],
    );
    // The command centre is up in `serve` (the console's page answers).
    let serve_log = read(&logs("serve"));
    let addr = serve_log
        .split("command centre at http://")
        .nth(1)
        .and_then(|t| t.split('/').next())
        .unwrap_or_else(|| panic!("no address in\n{serve_log}"))
        .to_owned();
    {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            c,
            "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Once the first candidate is stored, Biden is enrolled for the door
    // camera: both workers reload their watchlists without restarting cameras.
    wait_for("the first candidate", Duration::from_secs(60), || {
        read(&logs("serve")).contains("CANDIDATE camera plaza")
    });
    let mut args = enroll_args("Joe Biden", &b_photo);
    let star = args.iter().position(|a| *a == "*").unwrap();
    args[star] = "door";
    let o = civitas(&cfg, &args);
    assert!(o.status.success(), "{}", text(&o));
    wait_for(
        "both workers to reload their watchlists",
        Duration::from_secs(10),
        || {
            read(&logs(dead)).contains("watchlists changed")
                && read(&logs(heir)).contains("watchlists changed")
        },
    );
    // Mid-stream: kill it.
    workers[owner].kill().unwrap(); // SIGKILL
    workers[owner].wait().unwrap();
    let killed_at = Instant::now();
    let moved = wait_for("the camera to move", Duration::from_secs(20), || {
        read(&logs(heir)).contains("taking camera plaza")
    });
    assert!(
        moved <= Duration::from_millis(LEASE_MS + 1000),
        "the camera moved {moved:?} after {dead} was killed (lease {LEASE_MS} ms)"
    );
    assert!(killed_at.elapsed() >= moved);

    // Later, NATS itself goes away and comes back on the same store.
    std::thread::sleep(Duration::from_secs(3));
    nats.kill().unwrap();
    nats.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let mut nats = nats_server(port, &nats_dir);

    wait_for(
        "the heir to finish the clip",
        Duration::from_secs(90),
        || read(&logs(heir)).contains("camera plaza reached its end"),
    );
    wait_for("the store to catch up", Duration::from_secs(30), || {
        stored(&dir, &pg.url).candidates.len() >= expected.candidates.len()
    });
    // Anything late (a duplicate) would arrive now.
    std::thread::sleep(Duration::from_secs(2));
    interrupt(&mut workers[1 - owner]);
    interrupt(&mut serve);
    let _ = nats.kill();
    let _ = nats.wait();
    let mut got = stored(&dir, &pg.url);
    // Biden, enrolled during the run, was found on the door camera only.
    let biden: Vec<_> = got
        .candidates
        .iter()
        .filter(|c| c.1 == "Joe Biden")
        .cloned()
        .collect();
    let mut distinct = biden.clone();
    distinct.dedup();
    assert!(!biden.is_empty(), "the refreshed watchlist matched nothing");
    assert!(biden.iter().all(|c| c.0 == "door"), "{biden:?}");
    assert_eq!(biden, distinct, "a Biden sighting stored twice");
    let biden_n = biden.len();
    got.candidates.retain(|c| c.1 != "Joe Biden");
    let all_logs = format!(
        "--- serve\n{}\n--- {dead}\n{}\n--- {heir}\n{}",
        read(&logs("serve")),
        read(&logs(dead)),
        read(&logs(heir))
    );
    assert_eq!(
        got.candidates, expected.candidates,
        "lost or duplicated candidates\n{all_logs}"
    );
    assert_eq!(
        got.raised,
        got.candidates.len() + biden_n,
        "one audit entry per candidate"
    );
    assert!(got.verified_entries > 0);
    assert!(read(&logs(heir)).contains("file epoch"), "{all_logs}");
    // The heir replayed the clip from its start: what the dead worker had
    // already delivered came again and was recognised, not stored twice.
    // JetStream drops a repeat within its window, the store any later one.
    let number_after = |log: &str, marker: &str| -> u64 {
        log.split(marker)
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no summary with {marker:?}\n{all_logs}"))
    };
    let (serve_log, heir_log) = (read(&logs("serve")), read(&logs(heir)));
    let store_repeats = number_after(&serve_log, "applied, ");
    let bus_repeats = number_after(&heir_log, "published, ");
    assert!(store_repeats + bus_repeats >= 1, "{all_logs}");
    eprintln!(
        "scale: expected {} candidate(s), stored {}, repeats dropped by JetStream {bus_repeats}, by the store {store_repeats}, camera moved {moved:?} after the kill\n{}\n{}",
        expected.candidates.len(),
        got.candidates.len(),
        serve_log.lines().last().unwrap_or_default(),
        heir_log.lines().last().unwrap_or_default()
    );
}
