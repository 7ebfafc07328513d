//! Recognition on real photos from the registry packages: same person under the
//! threshold, different people over it; a person enrolled from one photo is
//! found in a video made from their other photos, and strangers are unknown.

mod common;

use civitas_base::Timestamp;
use civitas_model::{EntryId, FaceTemplate};
use civitas_pipeline::face::{DEFAULT_MATCH_THRESHOLD, FaceStageConfig, Watchlist};
use civitas_pipeline::runner::analyse_source;
use civitas_pipeline::{Bus, Event, InProcessBus};

fn single_face(p: &mut civitas_pipeline::FacePipeline, rel: &str) -> FaceTemplate {
    let img = civitas_ingest::load_image(&common::photo(rel)).unwrap();
    let mut f = p.faces_with_templates(&img).unwrap();
    assert_eq!(f.len(), 1, "{rel}: {} faces", f.len());
    f.remove(0).1
}

/// A watchlist with Obama (entry 7) enrolled from `obama.jpg`, never expiring.
fn obama_listed() -> Watchlist {
    let mut p = common::pipeline("t", Watchlist::new(128));
    let enrolled = single_face(&mut p, "face_recognition/obama.jpg");
    let mut wl = Watchlist::new(128);
    wl.add(EntryId(7), "Barack Obama", &enrolled, Timestamp(i64::MAX))
        .unwrap();
    wl
}

/// Runs a clip through the pipeline on `clock`; returns the summary and the candidates published.
fn replay(
    p: &mut civitas_pipeline::FacePipeline,
    clip: &std::path::Path,
    camera: &str,
    clock: &dyn civitas_base::Clock,
) -> (
    civitas_pipeline::runner::Summary,
    Vec<civitas_model::Candidate>,
) {
    let bus = InProcessBus::default();
    let mut rx = bus.subscribe();
    let mut src = civitas_ingest::open_path(clip, 2.0, false).unwrap();
    let s = analyse_source(
        p,
        None,
        src.as_mut(),
        &camera.into(),
        &bus,
        clock,
        || {},
        Default::default(),
    )
    .unwrap();
    let mut out = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let Event::Candidate(c) = ev {
            out.push(c);
        }
    }
    (s, out)
}

#[test]
fn same_person_is_under_the_threshold_and_different_people_over_it() {
    let mut p = common::pipeline("t", Watchlist::new(128));
    let obama: Vec<FaceTemplate> = [
        "face_recognition/obama.jpg",
        "face_recognition/obama2.jpg",
        "face_recognition/obama3.jpg",
    ]
    .iter()
    .map(|r| single_face(&mut p, r))
    .collect();
    let others: Vec<FaceTemplate> = [
        "face_recognition/biden.jpg",
        "scrfd/newton.png",
        "scrfd/gauss.png",
        "skimage/astronaut.png",
    ]
    .iter()
    .map(|r| single_face(&mut p, r))
    .collect();
    let t = DEFAULT_MATCH_THRESHOLD;
    for i in 0..obama.len() {
        for j in i + 1..obama.len() {
            let d = obama[i].distance(&obama[j]);
            eprintln!("obama {i}-{j}: {d:.3}");
            assert!(
                d < t,
                "same person, photos {i} and {j}: distance {d:.3} >= {t}"
            );
        }
        for (k, o) in others.iter().enumerate() {
            let d = obama[i].distance(o);
            eprintln!("obama {i} vs other {k}: {d:.3}");
            assert!(d > t, "different people: distance {d:.3} <= {t}");
        }
    }
    // Not asserted: the 29 faces of the grayscale Solvay 1927 photo. dlib's
    // embedder does not separate them (nor does dlib's own pipeline: 214 of 406
    // different-person pairs fall under its 0.6 threshold). See BENCHMARKS.md.
}

#[test]
fn enrolled_person_is_found_in_a_video_and_strangers_are_unknown() {
    let wl = obama_listed();
    let mut p = common::pipeline("cam-test", wl);

    // A clip: stranger, enrolled person (other photo), two strangers, enrolled person again.
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("walk.mp4");
    common::make_clip(
        &clip,
        &[
            common::photo("face_recognition/biden.jpg"),
            common::photo("face_recognition/obama2.jpg"),
            common::photo("scrfd/newton.png"),
            common::photo("skimage/astronaut.png"),
            common::photo("face_recognition/obama3.jpg"),
        ],
        2,
    );
    let (s, candidates) = replay(&mut p, &clip, "cam-test", &civitas_base::SystemClock);
    assert_eq!(s.frames, 20);
    // One candidate per pass of the enrolled person (two passes), none for strangers.
    assert_eq!(candidates.len(), 2, "{candidates:?}");
    for c in &candidates {
        assert_eq!(c.entry, EntryId(7));
        assert_eq!(c.entry_name, "Barack Obama");
        assert!(c.distance < DEFAULT_MATCH_THRESHOLD);
        assert!(!c.crop_jpeg.is_empty());
    }
    let mut at: Vec<i64> = candidates.iter().map(|c| c.offset_ms).collect();
    at.sort();
    assert!(
        (2000..4000).contains(&at[0]) && (8000..10000).contains(&at[1]),
        "candidate times {at:?}"
    );
    // 3 strangers × 4 frames each are unknown.
    assert_eq!(s.unknown, 12, "{s:?}");
}

#[test]
fn gray_pictures_and_infrared_cameras_are_judged_at_the_gray_threshold() {
    let wl = obama_listed();
    let colour = civitas_ingest::load_image(&common::photo("face_recognition/obama2.jpg")).unwrap();
    assert!(!colour.is_grayscale());
    let mut gray = colour.clone();
    for px in gray.data.chunks_exact_mut(3) {
        let y = ((px[0] as u32 * 299 + px[1] as u32 * 587 + px[2] as u32 * 114) / 1000) as u8;
        px.copy_from_slice(&[y, y, y]);
    }
    assert!(gray.is_grayscale());
    // A gray threshold no real pair of photos meets, so which threshold
    // judged a face shows in whether it matched.
    let cfg = FaceStageConfig {
        grayscale_match_threshold: 0.01,
        ..Default::default()
    };
    let outcome = |infrared: bool, frame: &civitas_model::RgbImage| {
        let mut p = common::pipeline_with("t", wl.clone(), FaceStageConfig { infrared, ..cfg });
        let o = p.process(frame, 0, Timestamp(0), Timestamp(0)).unwrap();
        (o.matched, o.unknown)
    };
    assert_eq!(
        outcome(false, &colour),
        (1, 0),
        "colour: the colour threshold"
    );
    assert_eq!(outcome(false, &gray), (0, 1), "gray: the gray threshold");
    assert_eq!(
        outcome(true, &colour),
        (0, 1),
        "an infrared camera: always the gray threshold"
    );
}

#[test]
fn an_expired_entry_stops_matching() {
    let mut p = common::pipeline("t", Watchlist::new(128));
    let enrolled = single_face(&mut p, "face_recognition/obama.jpg");
    let probe = single_face(&mut p, "face_recognition/obama2.jpg");
    let mut wl = Watchlist::new(128);
    let expires = Timestamp::parse_rfc3339("2027-01-01").unwrap();
    wl.add(EntryId(1), "x", &enrolled, expires).unwrap();
    let before = wl
        .index
        .search(&probe, DEFAULT_MATCH_THRESHOLD, expires.plus_ms(-1));
    assert!(matches!(before, civitas_model::MatchOutcome::Match { .. }));
    let after = wl.index.search(&probe, DEFAULT_MATCH_THRESHOLD, expires);
    assert_eq!(after, civitas_model::MatchOutcome::Unknown);
}

/// The same real clip replayed on a simulated clock, before and after the
/// entry's legal basis expires: it matches before, and not at all after.
#[test]
fn replaying_a_clip_on_a_simulated_clock_shows_expiry_takes_effect_at_once() {
    let mut p = common::pipeline("t", Watchlist::new(128));
    let enrolled = single_face(&mut p, "face_recognition/obama.jpg");
    let expires = Timestamp::parse_rfc3339("2027-01-01").unwrap();
    let mut wl = Watchlist::new(128);
    wl.add(EntryId(1), "Barack Obama", &enrolled, expires)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("c.mp4");
    common::make_clip(&clip, &[common::photo("face_recognition/obama2.jpg")], 2);
    let mut p = common::pipeline("cam", wl);
    let clock = civitas_base::SimClock::at(expires.plus_ms(-3_600_000));
    for (label, want) in [("an hour before expiry", 1), ("at expiry", 0)] {
        let (s, candidates) = replay(&mut p, &clip, "cam", &clock);
        for c in &candidates {
            assert!(
                c.frame_time < expires,
                "candidate stamped with simulated time"
            );
        }
        let n = candidates.len();
        assert_eq!(n, want, "{label}");
        if want == 0 {
            assert_eq!(s.unknown, s.faces, "{label}: every face is unknown");
        }
        clock.set(expires);
    }
}
