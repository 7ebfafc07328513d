//! The accountability core from the command line: two people confirm a face
//! candidate, every step is in the verifiable audit log, and the transparency
//! report counts it without naming anyone.

mod common;

use common::*;

#[test]
fn two_people_confirm_and_everything_is_audited_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_obama(dir.path());
    let clip = clip_in(dir.path(), "c.mp4", &TWO_PASSES, 2);
    assert!(
        run(&cfg, None, &["analyze", clip.to_str().unwrap()])
            .status
            .success()
    );

    // Operators see the candidates; an auditor does not (no images for auditors).
    let o = run(&cfg, Some("olga"), &["candidates", "--json"]);
    let ids: Vec<i64> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{}", text(&o));
    let o = run(&cfg, Some("aude"), &["candidates"]);
    assert!(
        text(&o).contains("lacks the view_candidates permission"),
        "{}",
        text(&o)
    );

    // First confirmation: still a candidate. Same person again: refused. Second person: confirmed.
    let c = ids[0].to_string();
    let o = run(&cfg, Some("olga"), &["review", "confirm", &c]);
    assert!(
        text(&o).contains("1 of 2 confirmations; a different person must also confirm"),
        "{}",
        text(&o)
    );
    let o = run(&cfg, Some("olga"), &["review", "confirm", &c]);
    assert!(
        !o.status.success() && text(&o).contains("must come from a different person"),
        "{}",
        text(&o)
    );
    let o = run(&cfg, Some("omar"), &["review", "confirm", &c]);
    assert!(
        text(&o).contains(&format!("candidate {c} CONFIRMED (2 of 2")),
        "{}",
        text(&o)
    );
    let o = run(
        &cfg,
        Some("omar"),
        &[
            "review",
            "reject",
            &ids[1].to_string(),
            "--reason",
            "not this person",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));

    // A wrong password is refused and audited.
    let mut bad = std::process::Command::new(env!("CARGO_BIN_EXE_civitas"));
    let o = bad
        .args(["--config", cfg.to_str().unwrap(), "candidates"])
        .env("CIVITAS_USER", "olga")
        .env("CIVITAS_PASSWORD", "not the password")
        .output()
        .unwrap();
    assert!(
        !o.status.success() && text(&o).contains("wrong user name or password"),
        "{}",
        text(&o)
    );

    // The auditor verifies the log and gets a proof; an operator may not read it.
    let o = run(&cfg, Some("aude"), &["audit", "verify"]);
    assert!(
        o.status.success() && text(&o).contains("audit log OK"),
        "{}",
        text(&o)
    );
    let o = run(&cfg, Some("olga"), &["audit", "verify"]);
    assert!(
        text(&o).contains("lacks the read_audit permission"),
        "{}",
        text(&o)
    );
    let o = run(&cfg, Some("aude"), &["audit", "prove", "3"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"], true, "{v}");
    let o = run(
        &cfg,
        Some("aude"),
        &["audit", "log", "--action", "candidate."],
    );
    let actions: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for a in [
        "candidate.raise",
        "candidate.list",
        "candidate.confirm",
        "candidate.reject",
    ] {
        assert!(
            actions.iter().any(|x| x == a),
            "{a} missing from {actions:?}"
        );
    }
    let o = run(
        &cfg,
        Some("aude"),
        &["audit", "log", "--action", "login.failed"],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        1,
        "{}",
        text(&o)
    );

    // The transparency report counts without identifying anyone.
    let (json, html) = report(&cfg, &dir.path().join("report"));
    assert_eq!(json["counts"]["candidates_raised"], 2);
    assert_eq!(json["counts"]["confirmed"], 1);
    assert_eq!(json["counts"]["rejected"], 1);
    assert_eq!(
        json["counts"]["active_entries_by_basis_kind"]["court-order"],
        1
    );
    assert!(html.contains("Transparency report") && html.contains("rejected (false positives)"));
    // It states the operating point: the target false-alarm rate, the
    // thresholds in force for the one entry in force, and what they mean.
    let m = &json["face_matching"];
    assert_eq!(m["target_fpir"], 0.001);
    assert_eq!(m["face_entries_in_force"], 1);
    let t = m["match_threshold"].as_f64().unwrap();
    assert!(t > 0.35 && t < 0.40, "one entry at FPIR 1e-3: {t}");
    let fpir = m["expected_fpir"].as_f64().unwrap();
    assert!(fpir > 1e-4 && fpir <= 1.001e-3, "{fpir}");
    assert!(
        html.contains("The configured false-alarm rate is 1 in 1000 searched faces of strangers"),
        "{html}"
    );
    for text in [html.as_str(), &json.to_string()] {
        for name in ["Obama", "olga", "omar", "sam"] {
            assert!(!text.contains(name), "the report names {name}");
        }
    }
}

#[test]
fn a_face_confirmation_rule_below_two_people_is_refused_in_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[review]\nface_confirmations = 1\n").unwrap();
    let o = run(&cfg, None, &["init"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("two different people"), "{}", text(&o));
}

#[test]
fn a_witnessed_head_stays_consistent_and_config_changes_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // A witness records the head.
    let o = run(&cfg, Some("aude"), &["audit", "head"]);
    let head: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (size, root) = (
        head["tree_size"].as_u64().unwrap(),
        head["root"].as_str().unwrap().to_string(),
    );
    assert!(head["public_key"].as_str().unwrap().len() == 64);

    // The service runs a camera; later someone edits the config and it runs again.
    let clip = clip_in(dir.path(), "cam.mp4", &["scrfd/newton.png"], 1);
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.push_str(&format!(
        "[[camera]]\nid = \"c1\"\nname = \"c1\"\nurl = \"{}\"\nlatitude = 1\nlongitude = 2\npurpose = \"test\"\nowner = \"tests\"\n",
        clip.display()
    ));
    std::fs::write(&cfg, &text_cfg).unwrap();
    assert!(run(&cfg, None, &["run", "--fast"]).status.success());
    assert!(run(&cfg, None, &["run", "--fast"]).status.success());
    std::fs::write(
        &cfg,
        text_cfg.replace("purpose = \"test\"", "purpose = \"changed\""),
    )
    .unwrap();
    assert!(run(&cfg, None, &["run", "--fast"]).status.success());
    let o = run(&cfg, Some("aude"), &["audit", "log", "--action", "config."]);
    let actions: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        actions,
        vec!["config.load", "config.change"],
        "{}",
        text(&o)
    );

    // The grown log is consistent with the witnessed head; a different root is not.
    let o = run(
        &cfg,
        Some("aude"),
        &[
            "audit",
            "consistency",
            "--from",
            &size.to_string(),
            "--root",
            &root,
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verified"], true);
    assert!(v["tree_head"]["tree_size"].as_u64().unwrap() > size);
    let forged = "00".repeat(32);
    let o = run(
        &cfg,
        Some("aude"),
        &[
            "audit",
            "consistency",
            "--from",
            &size.to_string(),
            "--root",
            &forged,
        ],
    );
    assert!(
        !o.status.success() && text(&o).contains("history was rewritten"),
        "{}",
        text(&o)
    );
}
