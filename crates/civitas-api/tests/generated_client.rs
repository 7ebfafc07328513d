//! The API contract an integrator sees: `docs/openapi.json` given to a
//! standard generator (openapi-python-client, installed by `scripts/setup`
//! with the validator `scripts/test` runs on the same document) yields a
//! client that drives a running server: log in, list candidates, open an
//! incident, read the audit head. No one here wrote that client.

mod common;

use civitas_api::incidents::IncidentSettings;
use civitas_model::IncidentType;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python environment `scripts/setup` makes for the API contract's tools.
fn tools() -> PathBuf {
    let var = std::env::var_os("CIVITAS_VAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("var"));
    let bin = var.join("py/bin");
    assert!(
        bin.join("openapi-python-client").exists(),
        "{} lacks openapi-python-client: run scripts/setup",
        bin.display()
    );
    bin
}

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{cmd:?} failed:\n{text}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_generated_from_the_openapi_document_drives_a_running_server() {
    let bin = tools();
    let f = fixture_with(2, |c| {
        c.incidents = IncidentSettings {
            types: vec![IncidentType {
                id: "robbery".into(),
                label: "Robbery in progress".into(),
                priority: 1,
                sop: vec!["Confirm the location".into()],
            }],
            area: None,
            nearby_radius_m: 1500.0,
        };
    })
    .await;
    // The committed document is the one this server describes.
    let committed = std::fs::read_to_string(root().join("docs/openapi.json")).unwrap();
    assert_eq!(
        committed,
        civitas_api::openapi_json(),
        "docs/openapi.json is stale: CIVITAS_BLESS=1 cargo test -p civitas-api --test console"
    );

    let dir = tempfile::tempdir().unwrap();
    let gen_dir = dir.path().join("gen");
    let mut generate = Command::new(bin.join("openapi-python-client"));
    generate
        .args(["generate", "--meta", "none", "--path"])
        .arg(root().join("docs/openapi.json"))
        .arg("--output-path")
        .arg(gen_dir.join("civitas_client"))
        // Its formatter (ruff) is in the same environment.
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    let log = run(&mut generate);
    assert!(
        gen_dir
            .join("civitas_client/api/review/candidates.py")
            .exists(),
        "no client generated:\n{log}"
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(civitas_api::serve(listener, f.app.clone(), async {
        let _ = stopped.await;
    }));
    let drive = root().join("crates/civitas-api/tests/client/drive.py");
    let python = bin.join("python");
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(python)
            .arg(drive)
            .arg(&base)
            .arg(PW)
            .env("PYTHONPATH", &gen_dir))
    })
    .await
    .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    // The two candidates the fixture stored, by name, through the generated model.
    assert_eq!(got["candidates"].as_array().unwrap().len(), 2, "{got}");
    assert_eq!(got["entry_names"], serde_json::json!(["Ana Example"]));
    // The incident is in the store, opened by olga from the call.
    let id = got["incident"].as_i64().unwrap();
    assert_eq!(got["incident_status"], "new");
    assert_eq!(got["incident_type"], "robbery");
    let audit = f.store.audit_entries(0, 1_000_000, "").await.unwrap();
    assert!(
        audit.iter().any(|e| e.actor == "olga"
            && e.action == "incident.open"
            && e.target.contains(&id.to_string())),
        "no incident.open by olga for {id} in the audit log"
    );
    // The head the client read is the store's signed head at that moment:
    // it verifies under the public key it came with.
    let size = got["audit_size"].as_u64().unwrap();
    assert!(size > 0 && size <= audit.len() as u64, "{got}");
    assert_eq!(
        got["audit_public_key"].as_str().unwrap(),
        civitas_audit::key::hex(&f.console.audit_public)
    );
    let root_hex = got["audit_root"].as_str().unwrap();
    let leaves: Vec<_> = audit[..size as usize]
        .iter()
        .map(|e| e.leaf_hash())
        .collect();
    assert_eq!(
        civitas_audit::key::hex(&civitas_audit::merkle::root(&leaves)),
        root_hex,
        "the head's root is the root of the log's first {size} entries"
    );
}
