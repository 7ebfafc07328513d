//! What is particular to PostgreSQL, against the real server (127.0.0.1:5432,
//! trust auth), each test in its own database: the schema (upgrade from
//! every version equals fresh, rows kept; the same tables and columns as
//! SQLite; its checks and generated key behave as SQLite's) and the
//! writer's path under concurrent writers (one tree). Everything else runs
//! on PostgreSQL as the whole store suite (`CIVITAS_TEST_STORE=postgres`).

mod common;

use civitas_audit::AuditKey;
use civitas_base::Timestamp;
use civitas_base::testing::{free_port, localhost_pki, run, wait_for_port};
use civitas_model::{Candidate, EntryId};
use civitas_store::testing::TestStore;
use civitas_store::{Backend, ReviewPolicy, Store};
use sqlx::{AssertSqlSafe, Connection};
use std::sync::Arc;

#[tokio::test]
async fn an_upgraded_postgres_schema_equals_a_fresh_one_and_matches_sqlites_tables() {
    let fresh_db = TestStore::on(Backend::Postgres, "fresh").await.unwrap();
    let fresh = fresh_db.open().await.unwrap();
    let (fresh_schema, _) = fresh.schema_dump().await.unwrap();
    assert!(
        fresh_schema
            .iter()
            .any(|s| s.starts_with("column applied_event.key "))
    );
    for v in 1..=10 {
        let db = TestStore::on(Backend::Postgres, &format!("v{v}"))
            .await
            .unwrap();
        let seed = if v >= 2 {
            common::seed_v2_postgres()
        } else {
            ""
        };
        Store::create_at_version(&db.url, v, seed).await.unwrap();
        let up = db.open().await.unwrap();
        assert_eq!(
            up.schema_dump().await.unwrap().0,
            fresh_schema,
            "upgraded from v{v}"
        );
        if v >= 2 {
            assert_eq!(
                up.counts().await.unwrap().0,
                1,
                "the v{v} candidate survives"
            );
        }
        up.close().await;
    }
    // Holds widened at v6 and v9 accept what SQLite accepts, refuse what it refuses.
    let mut conn = sqlx::PgConnection::connect(&fresh_db.url).await.unwrap();
    let hold = |t: &str| {
        format!(
            "INSERT INTO legal_hold (target, reason, placed_by, placed_at_ms) VALUES ('{t}', 'r', 'sam', 1)"
        )
    };
    for ok in ["candidate:1", "entry:2", "incident:3", "recording:4"] {
        sqlx::query(AssertSqlSafe(hold(ok)))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    for bad in ["camera:1", "candidate:x", "recording:"] {
        assert!(
            sqlx::query(AssertSqlSafe(hold(bad)))
                .execute(&mut conn)
                .await
                .is_err(),
            "{bad}"
        );
    }
    // The confusion-folded plate key is computed as SQLite computes it.
    let key: String = sqlx::query_scalar(
        "INSERT INTO plate_read (camera_id, pass_id, plate, confidence, frames, bbox_json, first_seen_ms, last_seen_ms, expires_at_ms, created_at_ms)
         VALUES ('g', 1, 'GYE0O77', 0.9, 3, '{}', 1, 1, 2, 1) RETURNING plate_key",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(key, "6YE0077");

    // Same tables, same columns as the SQLite schema.
    let lite = TestStore::on(Backend::Sqlite, "c").await.unwrap();
    let sqlite = lite.open().await.unwrap();
    assert_eq!(
        fresh.columns().await.unwrap(),
        sqlite.columns().await.unwrap()
    );
    fresh.close().await;
}

fn cand(entry: i64, frame_ms: i64) -> Candidate {
    common::cand_at(EntryId(entry), "gate", Timestamp(frame_ms))
}

#[tokio::test]
async fn postgres_candidate_writes_are_idempotent_audited_and_one_tree_under_concurrency() {
    let db = TestStore::on(Backend::Postgres, "writes").await.unwrap();
    let store = db
        .open()
        .await
        .unwrap()
        .with_audit_key(Arc::new(AuditKey::from_seed([3; 32])));
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO legal_basis (kind, authority, reference, purpose, granted_at_ms, expires_at_ms, entered_by)
           VALUES ('court-order', 'Court 1', 'CO-1', 'test', 1000, 9000000000000, 'sam');
         INSERT INTO watchlist_entry (name, legal_basis_id, created_at_ms) VALUES ('Alice', 1, 1000);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let p = ReviewPolicy::default();
    let first = store
        .insert_candidate(&cand(1, 5_000), Timestamp(6_000), &p)
        .await
        .unwrap();
    assert!(first.is_some());
    let again = store
        .insert_candidate(&cand(1, 5_000), Timestamp(9_000), &p)
        .await
        .unwrap();
    assert_eq!(
        first, again,
        "a redelivered result answers what the first got"
    );
    assert_eq!(
        store.counts().await.unwrap(),
        (1, 1),
        "one row, one audit entry"
    );

    // Four writers at once, 25 results each: one contiguous, verifiable tree.
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25i64 {
                s.insert_candidate(
                    &cand(1, 10_000 + w * 1000 + i),
                    Timestamp(20_000),
                    &ReviewPolicy::default(),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.counts().await.unwrap(), (101, 101));
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit_log ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(seqs, (0..101).collect::<Vec<i64>>());
    store
        .audit_verify(&AuditKey::from_seed([3; 32]).public())
        .await
        .unwrap();

    // A rejection on this camera suppresses the entry there for a while.
    sqlx::query("UPDATE candidate SET status = 'rejected', decided_at_ms = 30000 WHERE id = $1")
        .bind(first.unwrap().0)
        .execute(&mut conn)
        .await
        .unwrap();
    let suppressed = store
        .insert_candidate(&cand(1, 31_000), Timestamp(31_000), &p)
        .await
        .unwrap();
    assert_eq!(suppressed, None);
    assert_eq!(
        store.counts().await.unwrap(),
        (101, 102),
        "suppression audited, nothing stored"
    );
    store.close().await;
}

/// A private PostgreSQL cluster of this test's own, served over TLS only
/// with a certificate for `localhost` signed by a CA made for it (Debian's
/// `openssl`); stopped when dropped. Started as the `postgres` user when
/// the test runs as root (the server refuses root).
struct TlsCluster {
    dir: tempfile::TempDir,
    port: u16,
    server: std::process::Child,
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        // Immediate shutdown (SIGQUIT), so no backend outlives the test.
        let pid = self.server.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-QUIT", &pid])
            .status();
        let _ = self.server.wait();
    }
}

/// One of the server's programs (`postgres`, `initdb`), from Debian's
/// versioned directory, newest first.
fn pg_bin(name: &str) -> std::path::PathBuf {
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    versions.sort();
    let mut found = versions.iter().rev().map(|v| v.join("bin").join(name));
    found.find(|p| p.exists()).unwrap_or_else(|| name.into())
}

/// `program`, run as the `postgres` user if this test runs as root.
fn as_server_user(program: std::path::PathBuf) -> std::process::Command {
    let id = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&id.stdout).trim() != "0" {
        return std::process::Command::new(program);
    }
    let mut c = std::process::Command::new("setpriv");
    c.args([
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        "--",
    ]);
    c.arg(program);
    c
}

impl TlsCluster {
    fn start() -> TlsCluster {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        localhost_pki(d, "server");
        let port = free_port();
        // Everything the server reads is its own (the key 0600, as it demands).
        run(std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(d));
        run(std::process::Command::new("chmod")
            .args(["0600", "server.key"])
            .current_dir(d));
        let data = d.join("data");
        run(as_server_user(pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data));
        // TLS or nothing: a connection in clear is rejected by the server.
        std::fs::write(
            data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        let set = |k: &str, v: &str| format!("{k}={v}");
        let server = as_server_user(pg_bin("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(d)
            .args(["-c", &set("listen_addresses", "127.0.0.1")])
            .args(["-c", "ssl=on", "-c", "fsync=off"])
            .args([
                "-c",
                &set("ssl_cert_file", &d.join("server.crt").display().to_string()),
            ])
            .args([
                "-c",
                &set("ssl_key_file", &d.join("server.key").display().to_string()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("postgres starts");
        let cluster = TlsCluster { dir, port, server };
        wait_for_port(port, "the private PostgreSQL cluster");
        cluster
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

/// `sslmode=verify-full` against a private cluster: the store connects,
/// migrates and writes when it trusts the cluster's CA and names the host
/// the certificate is for; it refuses a server its CA did not sign, and a
/// certificate for another name, before sending anything. The cluster
/// rejects a connection in clear, so nothing passed unencrypted.
#[tokio::test]
async fn the_store_speaks_tls_to_postgres_and_verifies_the_servers_certificate() {
    let c = TlsCluster::start();
    let ca = c.file("ca.crt");
    let good = c.url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let mut store = None;
    for _ in 0..50 {
        match Store::connect(&good).await {
            Ok(s) => {
                store = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
    let store = store
        .expect("the store connects over verified TLS")
        .with_audit_key(Arc::new(AuditKey::from_seed([5; 32])));
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut sqlx::PgConnection::connect(&good).await.unwrap())
        .await
        .unwrap();
    assert!(ssl, "the connection is encrypted");
    store
        .audit(
            Timestamp(1_000),
            civitas_store::AuditRecord::new("sam", "test.tls", "postgres"),
        )
        .await
        .expect("a write over TLS");
    store.close().await;

    let refused = |url: String| async move {
        let e = Store::connect(&url).await.expect_err(&url);
        format!("{e:#}")
    };
    // A server another CA vouches for; the right CA, but not the name
    // the certificate is for.
    for (host, trusted) in [("localhost", c.file("other-ca.crt")), ("127.0.0.1", ca)] {
        let query = format!("sslmode=verify-full&sslrootcert={trusted}");
        let e = refused(c.url(host, &query)).await;
        assert!(e.to_lowercase().contains("certificate"), "{host}: {e}");
    }
    let clear = refused(c.url("localhost", "sslmode=disable")).await;
    assert!(
        clear.contains("no encryption") || clear.contains("pg_hba"),
        "{clear}"
    );
}
