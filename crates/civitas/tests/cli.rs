//! The commands a newcomer runs, end to end on real photos and clips.

mod common;

use common::*;

#[test]
fn enrol_then_analyse_a_clip_finds_the_person_and_stores_one_candidate_per_pass() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let o = enroll(&cfg, "Barack Obama", &photo("face_recognition/obama.jpg"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("enrolled \"Barack Obama\" as entry 1"),
        "{}",
        text(&o)
    );

    let clip = clip_in(dir.path(), "c.mp4", &TWO_PASSES, 2);
    let o = civitas(&cfg, &["analyze", clip.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect();
    let cands: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["type"] == "candidate").collect();
    assert_eq!(cands.len(), 2, "{lines:?}");
    for c in &cands {
        assert_eq!(c["candidate"]["entry_name"], "Barack Obama");
        assert!(c["candidate"]["id"].as_i64().is_some(), "stored with an id");
    }
    let summary = lines
        .iter()
        .find(|v| v["type"] == "summary")
        .expect("summary line");
    assert_eq!(summary["summary"]["frames"], 12);
    assert_eq!(
        summary["summary"]["unknown"], 4,
        "Biden's 4 frames are unknown"
    );

    let o = civitas(&cfg, &["candidates", "--json"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        2,
        "{}",
        text(&o)
    );
}

#[test]
fn enrolment_refuses_bad_photos_naming_the_file_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    // No face: a synthetic test card.
    let card = dir.path().join("card.png");
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x480",
            "-frames:v",
            "1",
        ])
        .arg(&card)
        .status()
        .unwrap();
    assert!(ok.success());
    let o = enroll(&cfg, "Nobody", &card);
    assert!(!o.status.success());
    assert!(text(&o).contains("card.png: no face found"), "{}", text(&o));

    // Many faces.
    let o = enroll(&cfg, "Crowd", &photo("scrfd/solvay_conference_1927.jpg"));
    assert!(!o.status.success());
    assert!(
        text(&o).contains("solvay_conference_1927.jpg: 29 faces found"),
        "{}",
        text(&o)
    );

    // Not an image at all.
    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"\xff\xd8\xff garbage").unwrap();
    let o = enroll(&cfg, "Junk", &junk);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("junk.jpg") && text(&o).contains("not a readable JPEG or PNG"),
        "{}",
        text(&o)
    );

    // A good photo followed by a bad one: nothing is stored.
    let good = photo("face_recognition/obama.jpg");
    let mut args = enroll_args("X", &good);
    args.extend(["--photo", card.to_str().unwrap()]);
    assert!(!civitas(&cfg, &args).status.success());
    let o = civitas(&cfg, &["candidates"]);
    assert!(o.status.success());
    let o = civitas(&cfg, &["analyze", good.to_str().unwrap(), "--json"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"unknown\":1"),
        "watchlist must still be empty: {}",
        text(&o)
    );
}

#[test]
fn enrolment_without_a_complete_legal_basis_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let p = photo("face_recognition/obama.jpg");
    // A missing argument: clap names it.
    let o = civitas(
        &cfg,
        &[
            "enroll",
            "--name",
            "A",
            "--photo",
            p.to_str().unwrap(),
            "--basis-kind",
            "court-order",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("--authority"), "{}", text(&o));
    // An empty field and an expiry in the past: our validation names the field.
    let mut args: Vec<&str> = vec!["enroll", "--name", "A", "--photo", p.to_str().unwrap()];
    let mut b = BASIS;
    b[5] = " ";
    args.extend(b);
    let o = civitas(&cfg, &args);
    assert!(
        text(&o).contains("field `authority` is required"),
        "{}",
        text(&o)
    );
    let mut args: Vec<&str> = vec!["enroll", "--name", "A", "--photo", p.to_str().unwrap()];
    let mut b = BASIS;
    b[11] = "2001-01-01";
    args.extend(b);
    let o = civitas(&cfg, &args);
    assert!(
        text(&o).contains("field `expires`") && text(&o).contains("in the past"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_config_and_bad_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[vision]\nmatch_threshold = 7\n").unwrap();
    let o = run(&cfg, None, &["candidates"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("vision.match_threshold") && text(&o).contains("bad.toml"),
        "{}",
        text(&o)
    );

    let cfg = config(dir.path());
    let notvideo = dir.path().join("notes.mp4");
    std::fs::write(&notvideo, "not a video").unwrap();
    let o = civitas(&cfg, &["analyze", notvideo.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("notes.mp4: not a readable video"),
        "{}",
        text(&o)
    );
    let o = civitas(&cfg, &["analyze", "/no/such/clip.mp4"]);
    assert!(
        text(&o).contains("/no/such/clip.mp4: no such file"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_main_job_runs_the_configured_cameras() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_obama(dir.path());
    let clip = clip_in(
        dir.path(),
        "cam.mp4",
        &["face_recognition/obama2.jpg", "scrfd/newton.png"],
        1,
    );
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    for (id, url) in [
        ("good", clip.to_str().unwrap()),
        ("broken", "/no/such/camera.mp4"),
    ] {
        text_cfg.push_str(&format!(
            "[[camera]]\nid = \"{id}\"\nname = \"{id}\"\nurl = \"{url}\"\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"test\"\nowner = \"tests\"\n"
        ));
    }
    std::fs::write(&cfg, text_cfg).unwrap();
    let o = civitas(&cfg, &["run", "--fast"]);
    let t = text(&o);
    // The broken camera fails with its name; the good one still delivers its candidate.
    assert!(
        t.contains("camera broken stopped") && t.contains("/no/such/camera.mp4"),
        "{t}"
    );
    assert!(
        t.contains("CANDIDATE camera good") && t.contains("Barack Obama"),
        "{t}"
    );
    assert!(t.contains("1 candidate(s) stored"), "{t}");
    assert!(
        !o.status.success(),
        "a failed camera makes the run exit non-zero"
    );
}

#[test]
fn eval_commands_report_real_figures() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let o = civitas(
        &cfg,
        &[
            "eval",
            "detect",
            "--boxes",
            repo()
                .join("testdata/detect/scrfd_truth.tsv")
                .to_str()
                .unwrap(),
            "--root",
            var_dir().join("testdata/scrfd").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("true faces 2, detections 2, recall 1.0000, precision 1.0000"),
        "{}",
        text(&o)
    );

    // Verification on a tiny LFW-style set: two photos of one man, one of another.
    let root = dir.path().join("lfw");
    for (name, files) in [
        ("Obama", vec!["obama.jpg", "obama2.jpg"]),
        ("Biden", vec!["biden.jpg"]),
    ] {
        std::fs::create_dir_all(root.join(name)).unwrap();
        for (i, f) in files.iter().enumerate() {
            std::fs::copy(
                photo(&format!("face_recognition/{f}")),
                root.join(name).join(format!("{name}_{:04}.jpg", i + 1)),
            )
            .unwrap();
        }
    }
    let pairs = dir.path().join("pairs.txt");
    std::fs::write(&pairs, "1 1\nObama 1 2\nObama 1 Biden 1\n").unwrap();
    let roc = dir.path().join("roc.csv");
    let o = civitas(
        &cfg,
        &[
            "eval",
            "faces",
            "--pairs",
            pairs.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
            "--roc",
            roc.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["accuracy_mean"], 1.0, "{v}");
    assert_eq!(v["failures"], 0);
    assert!(
        std::fs::read_to_string(&roc)
            .unwrap()
            .starts_with("threshold,far,tar\n")
    );

    // A malformed pairs file names the line.
    std::fs::write(&pairs, "1 1\nObama one 2\n").unwrap();
    let o = civitas(
        &cfg,
        &[
            "eval",
            "faces",
            "--pairs",
            pairs.to_str().unwrap(),
            "--root",
            root.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("pairs line 2"), "{}", text(&o));
}

#[test]
fn an_rtsp_camera_in_the_config_has_its_faces_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_obama(dir.path());
    let clip = clip_in(dir.path(), "cam.mp4", &["face_recognition/obama2.jpg"], 30);
    let (mut server, port) = rtsp_server(&clip, Some(("viewer", "s3cret-pass")));
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.push_str(&format!(
        "[[camera]]\nid = \"door\"\nname = \"Front door\"\nurl = \"rtsp://viewer:s3cret-pass@127.0.0.1:{port}/cam\"\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"entrance\"\nowner = \"tests\"\n"
    ));
    std::fs::write(&cfg, text_cfg).unwrap();
    let o = run(&cfg, None, &["run", "--for-seconds", "6"]);
    let _ = server.kill();
    let _ = server.wait();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("CANDIDATE camera door") && t.contains("Barack Obama"),
        "{t}"
    );
    assert!(
        t.contains("rtsp://***@127.0.0.1") && !t.contains("s3cret-pass"),
        "credentials must be masked: {t}"
    );
    // The candidate started an event clip (recorded by default), a standard MP4.
    let clips = mp4s(&dir.path().join("var/recordings/door"));
    assert_eq!(clips.len(), 1, "{clips:?}\n{t}");
    assert!(ffprobe_frames(&clips[0]) >= 25, "{t}");
}

/// `civitas run` killed with SIGKILL while recording: the next start repairs
/// the interrupted file to its last complete fragment, says so, and indexes
/// it; FFmpeg decodes the repaired file without an error.
#[test]
fn a_recording_interrupted_by_sigkill_is_repaired_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let clip = clip_in(dir.path(), "cam.mp4", &["face_recognition/biden.jpg"], 60);
    let (mut server, port) = rtsp_server(&clip, None);
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.push_str(&format!(
        "[[camera]]\nid = \"yard\"\nname = \"Yard\"\nurl = \"rtsp://127.0.0.1:{port}/cam\"\nrecord = \"continuous\"\nfps = 1\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"yard\"\nowner = \"tests\"\n"
    ));
    std::fs::write(&cfg, text_cfg).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_civitas"))
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--for-seconds", "120"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let cam_dir = dir.path().join("var/recordings/yard");
    let part = || {
        std::fs::read_dir(&cam_dir).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(".mp4.part"))
        })
    };
    // Wait for a few fragments (the clip has a key frame every second or so).
    let t = std::time::Instant::now();
    loop {
        if let Some(p) = part()
            && std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0) > 60_000
        {
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(40),
            "no recording grew"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let p = part().expect("the interrupted file is still .part");
    // Whatever the kill left, end it in a torn fragment as an interrupted write would.
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.extend_from_slice(&[0, 0, 0x40, 0, b'm', b'o', b'o', b'f', 1, 2, 3]);
    std::fs::write(&p, &bytes).unwrap();
    let o = run(&cfg, None, &["run", "--for-seconds", "2"]);
    let _ = server.kill();
    let _ = server.wait();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("recovered after an interruption"), "{t}");
    let repaired = p.with_extension("");
    assert!(repaired.exists() && !p.exists(), "{t}");
    let kept = std::fs::metadata(&repaired).unwrap().len();
    assert!(kept < bytes.len() as u64 && kept > 30_000, "{kept}");
    assert!(ffprobe_frames(&repaired) >= 25);
}

/// A camera that pushes snapshots over HTTP: `civitas camera token` makes
/// its token, bad uploads are refused in words while the service keeps
/// running, and a real photo of an enrolled person becomes a candidate.
#[test]
fn a_push_camera_snapshot_of_an_enrolled_person_becomes_a_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_obama(dir.path());
    let o = run(&cfg, None, &["camera", "token"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap()
        .to_owned();
    let hash_line = out
        .lines()
        .find(|l| l.starts_with("push_token_sha256"))
        .unwrap()
        .to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    text_cfg.push_str(&format!(
        "[[camera]]\nid = \"gate\"\nname = \"Gate\"\nurl = \"push\"\n{hash_line}\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"entrance\"\nowner = \"tests\"\n"
    ));
    std::fs::write(&cfg, text_cfg).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_civitas"))
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--for-seconds", "12"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "no listener"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{port}/api/v1/cameras/gate/snapshot");
    let curl = |token: &str, file: &std::path::Path| {
        let o = std::process::Command::new("curl")
            .args(["-sS", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .args(["-H", "Content-Type: image/jpeg", "--data-binary"])
            .arg(format!("@{}", file.display()))
            .arg(&url)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let garbage = dir.path().join("not-an-image.jpg");
    std::fs::write(&garbage, b"GIF89a but not really").unwrap();
    let r = curl("wrong-token", &photo("face_recognition/obama2.jpg"));
    assert!(r.ends_with("401") && r.contains("wrong token"), "{r}");
    let r = curl(&token, &garbage);
    assert!(r.ends_with("400") && r.contains("not a JPEG or PNG"), "{r}");
    let r = curl(&token, &photo("face_recognition/obama2.jpg"));
    assert!(r.ends_with("202"), "{r}");
    let o = child.wait_with_output().unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("CANDIDATE camera gate") && t.contains("Barack Obama"),
        "{t}"
    );
    assert!(!t.contains(&token), "the token must never be logged: {t}");
}

#[test]
fn the_motion_gate_skips_still_frames_and_still_finds_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_obama(dir.path());
    let clip = clip_in(
        dir.path(),
        "c.mp4",
        &["face_recognition/obama2.jpg", "face_recognition/biden.jpg"],
        2,
    );
    let o = run(
        &cfg,
        None,
        &["analyze", clip.to_str().unwrap(), "--json", "--motion-gate"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s = &lines.iter().find(|v| v["type"] == "summary").unwrap()["summary"];
    // 8 sampled frames of two stills: the first of each is analysed, the other 6 skipped.
    assert_eq!(s["frames"], 8, "{s}");
    assert_eq!(s["skipped_no_motion"], 6, "{s}");
    assert_eq!(s["unknown"], 1, "Biden's one analysed frame: {s}");
    assert_eq!(lines.iter().filter(|v| v["type"] == "candidate").count(), 1);
}

#[test]
fn events_are_published_over_mqtt_without_names() {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_obama(dir.path());
    let clip = clip_in(dir.path(), "cam.mp4", &["face_recognition/obama2.jpg"], 1);
    let prefix = format!(
        "civitas-test/{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.push_str(&format!(
        "[mqtt]\nenabled = true\nhost = \"127.0.0.1\"\nport = 1883\ntopic_prefix = \"{prefix}\"\nclient_id = \"civitas-{}\"\n[[camera]]\nid = \"gate\"\nname = \"Gate\"\nurl = \"{}\"\nlatitude = 0.1\nlongitude = 0.2\npurpose = \"test\"\nowner = \"tests\"\n",
        std::process::id(),
        clip.display()
    ));
    std::fs::write(&cfg, text_cfg).unwrap();
    // Subscribe first (the local Mosquitto broker), then run the job.
    let mut opts = MqttOptions::new(format!("sub-{}", std::process::id()), "127.0.0.1", 1883);
    opts.set_keep_alive(std::time::Duration::from_secs(10));
    let (client, mut conn) = Client::new(opts, 64);
    client
        .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((
                        p.topic.clone(),
                        String::from_utf8_lossy(&p.payload).to_string(),
                    ));
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = tx.send(("suback".into(), String::new()));
                }
                Ok(_) => {}
                Err(e) => panic!(
                    "the test's MQTT subscriber failed (is Mosquitto running on 127.0.0.1:1883?): {e}"
                ),
            }
        }
    });
    assert_eq!(
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .unwrap()
            .0,
        "suback"
    );
    let o = civitas(&cfg, &["run", "--fast"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut got = Vec::new();
    while let Ok(m) = rx.recv_timeout(std::time::Duration::from_secs(3)) {
        got.push(m);
    }
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    assert!(
        topics.contains(&format!("{prefix}/cameras/gate/candidates").as_str()),
        "{got:?}"
    );
    assert!(
        topics.contains(&format!("{prefix}/cameras/gate/health").as_str()),
        "{got:?}"
    );
    for (t, p) in &got {
        assert!(!p.contains("Obama") && !p.contains("distance"), "{t}: {p}");
    }
    // Retained health messages would outlive the test: clear them.
    client
        .publish(
            format!("{prefix}/cameras/gate/health"),
            QoS::AtLeastOnce,
            true,
            Vec::<u8>::new(),
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
}

/// A witness on another machine would send its `read_audit` token in clear
/// over `http://`: refused unless said on purpose.
#[test]
fn a_witness_will_not_send_its_token_in_clear_to_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let url = ["--url", "http://10.1.1.1:8080", "--token-file", "t"];
    let rest = ["--public-key", "00", "--out", "h.jsonl", "--once"];
    let o = civitas(&cfg, &[&["audit", "witness"][..], &url, &rest].concat());
    assert!(!o.status.success());
    assert!(text(&o).contains("in clear"), "{}", text(&o));
}
