//! The lines we never cross, as tests that fail if one is crossed.
//!
//! - Lines 1 and 2: no field, column, type or value names a sensitive attribute
//!   or a geofence of people, in the live database schema or in any source file.
//! - Line 3: templates of faces that match no one are written nowhere: not in
//!   the database files, not in the logs (at trace level), not on stdout, not on
//!   the bus. A positive control proves the search would find a template if one
//!   were there (the enrolled one, which *is* stored by design).

mod common;

use civitas_pipeline::face::{FacePipeline, FaceStageConfig, Watchlist};
use civitas_pipeline::{Bus, InProcessBus};
use civitas_vision::runtime::SessionOptions;
use civitas_vision::{DetectorConfig, EmbedderConfig, FaceEmbedder, Scrfd};
use common::*;
use std::path::Path;
use std::sync::Arc;

/// Words that must never name a field, column, type or value.
const FORBIDDEN: &[&str] = &[
    "ethnic",
    "ethnicity",
    "race",
    "racial",
    "religion",
    "religious",
    "political",
    "politics",
    "sexual",
    "gender",
    "skin",
    "complexion",
    "emotion",
    "disability",
    "medical",
    "diagnosis",
    "caste",
    "tribe",
    "nationality",
    "geofence",
    "geofencing",
    "safezone",
    "safearea",
    "exclusionzone",
    "restricted_area",
];

/// Splits identifiers and text into lower-case words (snake_case, camelCase, punctuation).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            if ch.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = ch.is_ascii_lowercase();
            cur.push(ch.to_ascii_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn forbidden_in(text: &str) -> Vec<String> {
    let w = words(text);
    let mut hits: Vec<String> = w
        .iter()
        .filter(|x| FORBIDDEN.contains(&x.as_str()))
        .cloned()
        .collect();
    // Two-word names: safe_area, restricted_area, exclusion_zone, safe_zone.
    for pair in w.windows(2) {
        let joined = format!("{}{}", pair[0], pair[1]);
        if FORBIDDEN.contains(&joined.as_str()) {
            hits.push(joined);
        }
    }
    hits
}

/// Source text with comments removed (comments may say what is absent; code may not).
fn code_only(text: &str, sql: bool) -> String {
    text.lines()
        .map(|l| {
            let cut = if sql { l.find("--") } else { l.find("//") };
            match cut {
                Some(i) => &l[..i],
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "rs" || x == "sql" || x == "toml")
        {
            out.push(p);
        }
    }
}

#[test]
fn the_forbidden_word_check_works() {
    assert_eq!(
        forbidden_in("struct Person { ethnicity: String }"),
        vec!["ethnicity"]
    );
    assert_eq!(
        forbidden_in("CREATE TABLE zone (safe_area TEXT)"),
        vec!["safearea"]
    );
    assert_eq!(forbidden_in("fn inferRace()"), vec!["race"]);
    assert!(forbidden_in("tracing::trace!(embrace)").is_empty());
}

#[test]
fn no_source_file_names_a_sensitive_attribute_or_a_geofence() {
    let mut files = Vec::new();
    walk(&repo().join("crates"), &mut files);
    assert!(files.len() > 20, "walked {} files", files.len());
    let me = Path::new(file!()).file_name().unwrap();
    let mut bad = Vec::new();
    for f in files.iter().filter(|f| f.file_name() != Some(me)) {
        let text = std::fs::read_to_string(f).unwrap();
        let sql = f.extension().is_some_and(|x| x == "sql");
        for h in forbidden_in(&code_only(&text, sql)) {
            bad.push(format!("{}: {h}", f.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "forbidden names in code:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_database_schema_names_no_sensitive_attribute_or_geofence() {
    for engine in [
        civitas_store::Backend::Sqlite,
        civitas_store::Backend::Postgres,
    ] {
        schema_names_no_sensitive_attribute_or_geofence(engine);
    }
}

fn schema_names_no_sensitive_attribute_or_geofence(engine: civitas_store::Backend) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt
        .block_on(civitas_store::testing::TestStore::on(engine, "lines"))
        .unwrap();
    let schema = rt.block_on(async {
        let store = db.open().await.unwrap();
        let s = store.schema().await.unwrap();
        store.close().await;
        s
    });
    assert!(
        schema.iter().any(|s| s == "candidate.crop_jpeg"),
        "columns listed: {schema:?}"
    );
    let hits: Vec<String> = schema
        .iter()
        .flat_map(|s| forbidden_in(&code_only(s, true)))
        .collect();
    assert!(hits.is_empty(), "forbidden names in the schema: {hits:?}");
    // And only the enrolment table has a column that could hold a template.
    let mut tables: Vec<&str> = schema
        .iter()
        .filter(|s| !s.starts_with("CREATE"))
        .filter(|s| {
            ["template", "embedding", "descriptor", "vector", "feature"]
                .iter()
                .any(|w| s.split('.').nth(1).unwrap_or("").contains(w))
        })
        .map(|s| s.split('.').next().unwrap_or(""))
        .collect();
    tables.dedup();
    assert_eq!(tables, vec!["entry_template"]);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn pipeline() -> FacePipeline {
    let v = var_dir();
    civitas_vision::runtime::init(&v.join("lib/libonnxruntime.so.1.31.1")).unwrap();
    let det = Scrfd::open(
        &v.join("models/scrfd.onnx"),
        DetectorConfig::default(),
        SessionOptions::default(),
    )
    .unwrap();
    let emb = FaceEmbedder::open(
        &v.join("models/dlib_face_recognition_resnet_model_v1.onnx"),
        EmbedderConfig::default(),
    )
    .unwrap();
    FacePipeline::new(
        "lines".into(),
        Box::new(det),
        emb,
        Arc::new(Watchlist::new(128)),
        FaceStageConfig::default(),
    )
}

/// Byte and text signatures of a template: its first four floats as stored
/// little-endian, and its first value as Rust and JSON print it.
fn signatures(t: &[f32]) -> (Vec<u8>, String) {
    (
        t[..4].iter().flat_map(|x| x.to_le_bytes()).collect(),
        format!("{:?}", t[0]),
    )
}

#[test]
fn templates_of_strangers_are_written_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let enrolled_photo = photo("face_recognition/obama.jpg");
    assert!(
        enroll(&cfg, "Barack Obama", &enrolled_photo)
            .status
            .success()
    );

    // A clip full of people on no watchlist: 29 physicists, Biden, Newton, Gauss, an astronaut.
    let clip = dir.path().join("strangers.mp4");
    let strangers = [
        photo("scrfd/solvay_conference_1927.jpg"),
        photo("face_recognition/biden.jpg"),
        photo("scrfd/newton.png"),
        photo("scrfd/gauss.png"),
        photo("skimage/astronaut.png"),
    ];
    make_clip(&clip, &strangers, 1);

    // Run the real command with the most verbose logging there is.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_civitas"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--log-json",
            "analyze",
            clip.to_str().unwrap(),
            "--json",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut written: Vec<(String, Vec<u8>)> =
        vec![("stdout".into(), out.stdout), ("stderr".into(), out.stderr)];
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("civitas.db") {
            written.push((name, std::fs::read(e.path()).unwrap()));
        }
    }
    assert!(written.iter().any(|(n, _)| n == "civitas.db"));

    // The same frames, decoded the same way, through the same models, in this process.
    let mut p = pipeline();
    let bus = InProcessBus::default();
    let mut rx = bus.subscribe();
    let mut src = civitas_ingest::open_path(&clip, 2.0, false).unwrap();
    let mut stranger_templates = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        for (_, t) in p.faces_with_templates(&f.image).unwrap() {
            stranger_templates.push(t.as_slice().to_vec());
        }
    }
    assert!(
        stranger_templates.len() >= 5 * 2 * 4,
        "only {} stranger faces",
        stranger_templates.len()
    );
    // And through the live path onto the bus, to inspect every message.
    let mut src = civitas_ingest::open_path(&clip, 2.0, false).unwrap();
    civitas_pipeline::runner::analyse_source(
        &mut p,
        None,
        src.as_mut(),
        &"lines".into(),
        &bus,
        &civitas_base::SystemClock,
        || {},
        civitas_pipeline::runner::RunOptions::default(),
    )
    .unwrap();
    drop(bus);
    let mut bus_bytes = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        bus_bytes.extend(serde_json::to_vec(&ev).unwrap());
        bus_bytes.extend(format!("{ev:?}").into_bytes());
        // Exactly the bytes a worker puts on NATS JetStream for this event.
        bus_bytes.extend(civitas_nats::wire::encode(&ev));
    }
    assert!(!bus_bytes.is_empty());
    written.push(("bus".into(), bus_bytes));

    // Positive control: the enrolled template, computed here the same way, IS found in the database.
    let img = civitas_ingest::load_image(&enrolled_photo).unwrap();
    let enrolled = p.faces_with_templates(&img).unwrap().remove(0).1;
    let (eb, _) = signatures(enrolled.as_slice());
    let db = &written.iter().find(|(n, _)| n == "civitas.db").unwrap().1;
    let wal = written
        .iter()
        .find(|(n, _)| n == "civitas.db-wal")
        .map(|w| w.1.clone())
        .unwrap_or_default();
    assert!(
        contains(db, &eb) || contains(&wal, &eb),
        "control failed: the enrolled template was not found, so the search proves nothing"
    );

    for (k, t) in stranger_templates.iter().enumerate() {
        let (b, s) = signatures(t);
        for (name, bytes) in &written {
            assert!(
                !contains(bytes, &b),
                "stranger template {k} found as bytes in {name}"
            );
            assert!(
                !contains(bytes, s.as_bytes()),
                "stranger template {k} found as text ({s}) in {name}"
            );
        }
    }
}

/// Line 6: it runs with no network at all. The whole enrol-and-analyse path runs
/// inside a fresh network namespace (no interface up, not even loopback), so any
/// phone-home, telemetry or cloud call would fail or hang; it must not matter.
#[test]
fn enrolment_and_analysis_run_with_no_network_at_all() {
    let probe = std::process::Command::new("unshare")
        .args(["-rn", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        // The same check runs in CI on this machine, where namespaces are available;
        // fail loudly rather than pass silently if they are not.
        panic!("cannot create a network namespace here (unshare -rn); this test needs one");
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let run = |args: &[&str]| {
        std::process::Command::new("unshare")
            .args([
                "-rn",
                "--",
                env!("CARGO_BIN_EXE_civitas"),
                "--config",
                cfg.to_str().unwrap(),
            ])
            .args(args)
            .env("CIVITAS_USER", "sam")
            .env("CIVITAS_PASSWORD", PW)
            .output()
            .unwrap()
    };
    let p = photo("face_recognition/obama.jpg");
    let o = run(&enroll_args("Offline", &p));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "analyze",
        photo("face_recognition/obama2.jpg").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"entry_name\":\"Offline\""),
        "{}",
        text(&o)
    );
}
