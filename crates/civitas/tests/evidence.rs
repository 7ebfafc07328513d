//! Evidence export end to end: a real RTSP camera recorded by `civitas run`,
//! a real face match confirmed by two people, the case exported with every
//! face but the subject's blurred, checked with the real face detector, and
//! the bundle verified offline — and refused once one byte of a clip changes.

mod common;

use common::*;

fn summary(o: &std::process::Output) -> serde_json::Value {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "summary")
        .unwrap_or_else(|| panic!("no summary: {}", text(o)))["summary"]
        .clone()
}

#[test]
fn an_exported_case_shows_only_the_subject_and_verifies_until_a_byte_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_obama(dir.path());
    // The subject beside a bystander, in every frame.
    let pair = dir.path().join("pair.jpg");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(photo("face_recognition/obama2.jpg"))
        .arg("-i")
        .arg(photo("face_recognition/biden.jpg"))
        .args([
            "-filter_complex",
            "[0]scale=-2:480,setsar=1[a];[1]scale=-2:480,setsar=1[b];[a][b]hstack",
        ])
        .arg(&pair)
        .status()
        .unwrap();
    assert!(ok.success());
    let clip = dir.path().join("cam.mp4");
    make_clip(&clip, &[pair], 20);
    let (mut server, port) = rtsp_server(&clip, None);
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.push_str(&format!(
        "[recording]\npre_roll_s = 2\npost_roll_s = 2\n[[camera]]\nid = \"hall\"\nname = \"Hall\"\nurl = \"rtsp://127.0.0.1:{port}/cam\"\nfps = 1\nmotion_gate = false\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"entrance hall\"\nowner = \"tests\"\n"
    ));
    // The scene is still (two photos), so the motion gate would skip every
    // frame after the first and the match would decide only at the end of
    // the run, after the recorder has stopped; this test is about export.
    std::fs::write(&cfg, text_cfg).unwrap();
    let o = run(&cfg, None, &["run", "--for-seconds", "9"]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(o.status.success(), "{}", text(&o));
    let recorded = mp4s(&dir.path().join("var/recordings/hall"));
    assert!(!recorded.is_empty(), "{}", text(&o));

    let o = run(&cfg, Some("olga"), &["candidates", "--json"]);
    let id = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["camera"] == "hall")
        .and_then(|v| v["id"].as_i64())
        .unwrap_or_else(|| panic!("no candidate on hall: {}", text(&o)))
        .to_string();
    let bundle = dir.path().join("bundle");
    let export = |who: &str| {
        run(
            &cfg,
            Some(who),
            &[
                "evidence",
                "export",
                "--candidate",
                &id,
                "--justification",
                "court case 12/2026",
                "--out",
                bundle.to_str().unwrap(),
            ],
        )
    };
    // A candidate is not evidence until two people confirm it.
    let o = export("sam");
    assert!(
        !o.status.success() && text(&o).contains("only a confirmed match is exported"),
        "{}",
        text(&o)
    );
    assert!(
        run(&cfg, Some("olga"), &["review", "confirm", &id])
            .status
            .success()
    );
    assert!(
        run(&cfg, Some("omar"), &["review", "confirm", &id])
            .status
            .success()
    );
    // An operator may not export.
    let o = export("olga");
    assert!(
        !o.status.success() && text(&o).contains("lacks the export permission"),
        "{}",
        text(&o)
    );
    let o = export("sam");
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains(&format!("exported candidate {id}")), "{t}");
    let clips = mp4s(&bundle.join("clips"));
    assert_eq!(clips.len(), 1, "{t}");

    // The original recording: both faces are found (the check can fail).
    let src = run(
        &cfg,
        None,
        &["analyze", recorded[0].to_str().unwrap(), "--json"],
    );
    let s = summary(&src);
    assert!(
        s["unknown"].as_u64().unwrap() > 0,
        "the bystander is visible in the recording: {s}"
    );
    // The exported clip: the subject is still recognised, and no other face is detected.
    let out = run(
        &cfg,
        None,
        &["analyze", clips[0].to_str().unwrap(), "--json"],
    );
    let s = summary(&out);
    assert_eq!(
        s["unknown"], 0,
        "a face other than the subject's is recognisable: {s}"
    );
    let subject = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"candidate\"") && l.contains("Barack Obama"))
        .count();
    assert!(
        subject > 0,
        "the subject must stay recognisable: {}",
        text(&out)
    );

    // Verified offline; the manifest carries the legal basis and the proofs.
    let o = run(
        &cfg,
        None,
        &["evidence", "verify", bundle.to_str().unwrap()],
    );
    assert!(
        o.status.success() && text(&o).contains("VERIFIED"),
        "{}",
        text(&o)
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["legal_basis"]["kind"], "court-order");
    let actions: Vec<&str> = m["audit"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "watchlist.enroll",
        "candidate.raise",
        "candidate.confirm",
        "evidence.export",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // One byte of the clip changed: refused, naming the file.
    let mut b = std::fs::read(&clips[0]).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 1;
    std::fs::write(&clips[0], b).unwrap();
    let o = run(
        &cfg,
        None,
        &["evidence", "verify", bundle.to_str().unwrap()],
    );
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("recording-") && text(&o).contains("was altered"),
        "{}",
        text(&o)
    );
    // The export is counted in the transparency report.
    let (json, html) = report(&cfg, &dir.path().join("report"));
    assert_eq!(json["counts"]["evidence_exports"], 1);
    assert!(html.contains("bundles exported"));
}
