//! `civitas bench login`: password guessing as an attacker does it, against
//! the real API on loopback. GUESSES wrong passwords for one name are sent
//! at once from one address (through a trusted proxy's `X-Forwarded-For`),
//! and while they wait the owner logs in with the right password from
//! another address. Reports the guesses' answers and latency (p50, p99,
//! max), and how long the owner waited.

use anyhow::{Context, Result};
use civitas_base::{Clock, SystemClock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PASSWORD: &str = "correct horse battery staple";

/// One login from `client` (named by `X-Forwarded-For`): status and seconds.
async fn login(at: SocketAddr, client: &str, password: &str) -> Result<(u16, f64)> {
    let body = serde_json::json!({"username": "olga", "password": password}).to_string();
    let req = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nX-Forwarded-For: {client}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(at).await?;
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let status = String::from_utf8_lossy(&out)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status in the answer")?;
    Ok((status, t.elapsed().as_secs_f64()))
}

pub async fn bench_login(guesses: usize, json: bool) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("civitas-bench-login-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let key = Arc::new(civitas_audit::AuditKey::from_seed([7; 32]));
    let store = civitas_store::Store::open(&dir.join("login.db"))
        .await?
        .with_audit_key(key.clone());
    let hash = civitas_auth::hash_password(PASSWORD)?;
    let now = SystemClock.now();
    store
        .add_user(None, "olga", civitas_auth::Role::Operator, &[], &hash, now)
        .await?;
    let mut centre = civitas_api::CommandCentre::new(
        store,
        Arc::new(SystemClock),
        civitas_store::ReviewPolicy::default(),
        key.public(),
        civitas_api::Settings::default(),
    );
    centre.trusted_proxies = vec!["127.0.0.1".parse()?];
    let (app, _) = civitas_api::router(civitas_api::ApiState {
        console: Some(Arc::new(centre)),
        ..Default::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let at = listener.local_addr()?;
    tokio::spawn(civitas_api::serve(listener, app, std::future::pending()));
    let mut tasks = Vec::new();
    for i in 0..guesses {
        let guess = format!("guess number {i}");
        tasks.push(tokio::spawn(async move {
            login(at, "203.0.113.7", &guess).await
        }));
    }
    // The owner, from her own address, while the guesses wait.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (owner_status, owner_s) = login(at, "198.51.100.2", PASSWORD).await?;
    let mut secs = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        let (status, s) = t.await??;
        *statuses.entry(status).or_default() += 1;
        secs.push(s);
    }
    secs.sort_by(f64::total_cmp);
    let q = |p: f64| secs[((secs.len() - 1) as f64 * p).round() as usize];
    let report = serde_json::json!({
        "guesses": guesses,
        "guess_statuses": statuses,
        "guess_p50_s": q(0.5), "guess_p99_s": q(0.99), "guess_max_s": q(1.0),
        "owner_status": owner_status, "owner_s": owner_s,
    });
    let _ = std::fs::remove_dir_all(&dir);
    if json {
        println!("{report}");
    } else {
        println!(
            "{guesses} wrong passwords at once from one address: answers {statuses:?}; latency p50 {:.2} s, p99 {:.2} s, max {:.2} s\nthe owner from another address meanwhile: HTTP {owner_status} in {owner_s:.3} s",
            q(0.5),
            q(0.99),
            q(1.0)
        );
    }
    Ok(())
}
