//! Number-plate recognition end to end through the binary, with the real
//! PP-OCRv4 models: a rendered clip of two cars passing (the real car photo
//! from the fast-alpr sdist with rendered Ecuadorian plates) yields one read
//! per pass; a hotlist entry raises a plate candidate that one reviewer
//! confirms; searches need a justification and are audited; reads without a
//! hit are deleted after 24 hours, hits after their own period; and
//! `eval plates` prints real figures on a generated set.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn python(script: &str, args: &[&str]) {
    let o = Command::new("/usr/bin/python3")
        .arg(repo().join("bench").join(script))
        .args(args)
        .output()
        .expect("Debian's python3 (run scripts/setup)");
    assert!(o.status.success(), "{script}: {}", text(&o));
}

fn cars_clip(dir: &Path, plates: &[&str]) -> std::path::PathBuf {
    let out = dir.join("cars.mp4");
    let bg = var_dir().join("testdata/plate_backgrounds");
    let mut args = vec![
        bg.join("car.png").display().to_string(),
        bg.join("gravel.png").display().to_string(),
        out.display().to_string(),
    ];
    args.extend(plates.iter().map(|s| s.to_string()));
    python(
        "make_plate_clip.py",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    out
}

fn with_anpr(cfg: &Path, extra: &str) {
    let mut t = std::fs::read_to_string(cfg).unwrap();
    t.push_str("[anpr]\nformats = [\"EC\"]\n");
    t.push_str(extra);
    std::fs::write(cfg, t).unwrap();
}

const PLATE_BASIS: [&str; 12] = [
    "--scope",
    "*",
    "--basis-kind",
    "stolen-vehicle-report",
    "--authority",
    "Policía Nacional",
    "--reference",
    "DN-2026-4411",
    "--purpose",
    "recover a stolen vehicle",
    "--expires",
    "2099-01-01",
];

fn json_lines(o: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn two_cars_passing_give_one_read_each_and_a_hotlist_hit_becomes_a_reviewed_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    with_anpr(&cfg, "");
    let clip = cars_clip(dir.path(), &["PBX-1234", "GYE-0077"]);

    // A hotlist with a threshold that forgives one OCR confusion; the entry is
    // written with a letter O where the plate has a zero.
    let o = civitas(
        &cfg,
        &["hotlist", "create", "stolen", "--max-distance", "0.5"],
    );
    assert!(o.status.success(), "{}", text(&o));
    // Without a complete legal basis nothing is listed.
    let o = civitas(
        &cfg,
        &[
            "hotlist",
            "add",
            "--list",
            "stolen",
            "--plate",
            "GYE0O77",
            "--description",
            "grey Skoda",
            "--scope",
            "*",
            "--basis-kind",
            "stolen-vehicle-report",
            "--authority",
            "Policía Nacional",
            "--reference",
            "DN-1",
            "--purpose",
            " ",
            "--expires",
            "2099-01-01",
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("`purpose`"),
        "{}",
        text(&o)
    );
    // Operators cannot list plates; a non-Latin plate is refused in words.
    let mut add = vec![
        "hotlist",
        "add",
        "--list",
        "stolen",
        "--plate",
        "GYE0O77",
        "--description",
        "grey Skoda reported stolen",
    ];
    add.extend(PLATE_BASIS);
    let o = run(&cfg, Some("olga"), &add);
    assert!(
        !o.status.success() && text(&o).contains("enroll"),
        "{}",
        text(&o)
    );
    let mut bad = add.clone();
    bad[5] = "ГУЕ0077";
    let o = civitas(&cfg, &bad);
    assert!(
        !o.status.success() && text(&o).contains("not a Latin"),
        "{}",
        text(&o)
    );
    let o = civitas(&cfg, &add);
    assert!(o.status.success(), "{}", text(&o));

    let o = civitas(
        &cfg,
        &[
            "analyze",
            clip.to_str().unwrap(),
            "--fps",
            "4",
            "--plates",
            "--camera",
            "gate-1",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let lines = json_lines(&o);
    let passes: Vec<&serde_json::Value> = lines.iter().filter(|v| v["type"] == "plate").collect();
    let texts: Vec<&str> = passes
        .iter()
        .map(|v| v["pass"]["plate"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["PBX1234", "GYE0077"],
        "one read per pass: {lines:?}"
    );
    for p in &passes {
        assert!(
            p["pass"]["frames"].as_u64().unwrap() >= 3,
            "voted over frames: {p}"
        );
        assert_eq!(p["pass"]["format"], "EC");
    }
    assert!(passes[0]["pass"]["hit"].is_null() && passes[0]["candidate"].is_null());
    assert_eq!(passes[1]["pass"]["hit"]["hotlist"], "stolen");
    assert_eq!(passes[1]["pass"]["hit"]["distance"], 0.25);
    let cand = passes[1]["candidate"].as_i64().expect("a plate candidate");

    // A plate candidate needs one confirmation (faces need two).
    let o = run(
        &cfg,
        Some("olga"),
        &["review", "confirm", &cand.to_string()],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("CONFIRMED (1 of 1"), "{}", text(&o));

    // Searching stored reads needs the search permission and a
    // justification, and is audited with it.
    let o = run(
        &cfg,
        Some("olga"),
        &[
            "plates",
            "search",
            "GY?0?77",
            "--justification",
            "case DN-2026-4411",
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("search permission"),
        "{}",
        text(&o)
    );
    let o = civitas(
        &cfg,
        &["plates", "search", "GY?0?77", "--justification", "x"],
    );
    assert!(
        !o.status.success() && text(&o).contains("justification"),
        "{}",
        text(&o)
    );
    let o = civitas(
        &cfg,
        &[
            "plates",
            "search",
            "GY?0?77",
            "--justification",
            "case DN-2026-4411",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["plate"], "GYE0077");
    // A confusable character still finds it; a window of years is refused.
    let o = civitas(
        &cfg,
        &[
            "plates",
            "search",
            "6YE0O77",
            "--justification",
            "case DN-2026-4411",
            "--json",
        ],
    );
    let found: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    let o = civitas(
        &cfg,
        &[
            "plates",
            "search",
            "GYE?077",
            "--justification",
            "case DN-2026-4411",
            "--from",
            "2020-01-01",
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("at most 92 days"),
        "{}",
        text(&o)
    );
    let o = run(&cfg, Some("aude"), &["audit", "log"]);
    let log = text(&o);
    assert!(
        log.contains("plate.search") && log.contains("case DN-2026-4411"),
        "{log}"
    );
    assert!(
        log.contains("hotlist.enroll") && log.contains("candidate.raise"),
        "{log}"
    );

    // Retention: 25 hours on, the read without a hit is gone, the hit is kept.
    let later = civitas_base::Timestamp(
        civitas_base::Clock::now(&civitas_base::SystemClock).0 + 25 * 3_600_000,
    )
    .to_rfc3339();
    let o = civitas(&cfg, &["retention", "sweep", "--at", &later]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["plate_reads_deleted"], 1, "{r}");
    // 91 days on, the hit's read is gone too.
    let much_later = civitas_base::Timestamp(
        civitas_base::Clock::now(&civitas_base::SystemClock).0 + 91 * 86_400_000,
    )
    .to_rfc3339();
    let o = civitas(&cfg, &["retention", "sweep", "--at", &much_later]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["plate_reads_deleted"], 1, "{r}");
}

#[test]
fn eval_plates_prints_real_figures_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let set = dir.path().join("plates");
    python(
        "make_plate_set.py",
        &[
            var_dir()
                .join("testdata/plate_backgrounds")
                .to_str()
                .unwrap(),
            set.to_str().unwrap(),
            "24",
            "11",
        ],
    );
    let o = civitas(
        &cfg,
        &[
            "eval",
            "plates",
            "--dir",
            set.to_str().unwrap(),
            "--formats",
            "EC,BO,CO,PE,AR,BR",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["images"], 24);
    assert!(v["exact_read_accuracy"].as_f64().unwrap() >= 0.8, "{v}");
    assert!(v["detection_recall"].as_f64().unwrap() >= 0.9, "{v}");
    assert!(v["char_accuracy"].as_f64().unwrap() >= v["exact_read_accuracy"].as_f64().unwrap());
    assert!(v["ms_per_image"].as_f64().unwrap() > 0.0);

    // A corrupt image is named; a bad label names its file and line.
    std::fs::write(
        set.join("plate-0000.jpg"),
        b"\xff\xd8\xff\xe0 not really a jpeg",
    )
    .unwrap();
    let o = civitas(&cfg, &["eval", "plates", "--dir", set.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("plate-0000.jpg"),
        "{}",
        text(&o)
    );
    std::fs::write(
        set.join("plate-0001.txt"),
        "plate-0001.jpg\t1\t2\tthree\t4\tAB123\n",
    )
    .unwrap();
    let o = civitas(&cfg, &["eval", "plates", "--dir", set.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).contains("plate-0001.txt line 1"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_main_job_reads_plates_on_an_anpr_camera() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    with_anpr(&cfg, "");
    let clip = cars_clip(dir.path(), &["PBX-1234", "GYE-0077"]);
    let mut t = std::fs::read_to_string(&cfg).unwrap();
    t.push_str(&format!(
        "[[camera]]\nid = \"gate\"\nname = \"gate\"\nurl = \"{}\"\nfps = 4.0\nanpr = true\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"test\"\nowner = \"tests\"\n",
        clip.display()
    ));
    std::fs::write(&cfg, t).unwrap();
    let o = civitas(&cfg, &["hotlist", "create", "stolen"]);
    assert!(o.status.success(), "{}", text(&o));
    // Listed for another camera only: the legal basis does not cover "gate".
    let mut add = vec![
        "hotlist",
        "add",
        "--list",
        "stolen",
        "--plate",
        "PBX1234",
        "--description",
        "blue van",
    ];
    add.extend(PLATE_BASIS);
    add[9] = "yard";
    let o = civitas(&cfg, &add);
    assert!(o.status.success(), "{}", text(&o));
    let mut add = vec![
        "hotlist",
        "add",
        "--list",
        "stolen",
        "--plate",
        "GYE0077",
        "--description",
        "grey Skoda",
    ];
    add.extend(PLATE_BASIS);
    let o = civitas(&cfg, &add);
    assert!(o.status.success(), "{}", text(&o));
    let o = civitas(&cfg, &["run", "--fast"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let van = t
        .lines()
        .find(|l| l.starts_with("plate PBX1234 on camera gate"))
        .unwrap_or_else(|| panic!("no read of PBX1234: {t}"));
    assert!(
        !van.contains("HIT"),
        "PBX1234 is listed for camera yard only: {van}"
    );
    assert_eq!(
        t.matches("HIT on hotlist stolen").count(),
        1,
        "only GYE0077's basis covers gate: {t}"
    );
    assert!(t.contains("1 candidate(s) stored"), "{t}");
}
