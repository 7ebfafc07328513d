//! SCRFD on the real photos shipped in the `scrfd==0.3.0` source distribution,
//! against the truths its own tests assert (`tests/test_images.py`,
//! `tests/truth_faces.py`).

mod common;

use civitas_vision::detect::{DetectorConfig, FaceDetector};
use civitas_vision::runtime::SessionOptions;
use civitas_vision::scrfd::Scrfd;

fn detector() -> Scrfd {
    common::init_runtime();
    Scrfd::open(
        &common::var_dir().join("models/scrfd.onnx"),
        DetectorConfig::default(),
        SessionOptions::default(),
    )
    .expect("scrfd model (run scripts/setup)")
}

#[test]
fn finds_all_29_faces_at_the_solvay_conference() {
    let img =
        common::load_rgb(&common::var_dir().join("testdata/scrfd/solvay_conference_1927.jpg"));
    let faces = detector().detect(&img).unwrap();
    assert_eq!(faces.len(), 29, "faces found: {}", faces.len());
    for f in &faces {
        for p in f.landmarks.0 {
            assert!(
                f.bbox.contains(p),
                "landmark {p:?} outside its box {:?}",
                f.bbox
            );
        }
    }
}

/// (file, box x0 y0 x1 y1, landmarks) from scrfd's `tests/truth_faces.py`.
/// (file, box, five landmarks).
type Truth = (&'static str, [f32; 4], [[f32; 2]; 5]);

const TRUTH: [Truth; 2] = [
    (
        "newton.png",
        [334.0, 89.0, 438.0, 232.0],
        [
            [371.0, 143.0],
            [419.0, 145.0],
            [399.0, 177.0],
            [371.0, 197.0],
            [409.0, 199.0],
        ],
    ),
    (
        "gauss.png",
        [376.0, 203.0, 654.0, 568.0],
        [
            [469.0, 353.0],
            [594.0, 346.0],
            [549.0, 436.0],
            [487.0, 489.0],
            [589.0, 482.0],
        ],
    ),
];

#[test]
fn newton_and_gauss_match_the_packaged_truth() {
    let mut det = detector();
    for (file, bbox, lms) in TRUTH {
        let img = common::load_rgb(&common::var_dir().join("testdata/scrfd").join(file));
        let faces = det.detect(&img).unwrap();
        assert_eq!(faces.len(), 1, "{file}: {} faces", faces.len());
        let f = &faces[0];
        let size = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
        // Within 5% of the face size: our letterbox resize is bilinear, the package's nearest.
        let tol = 0.05 * size;
        for (got, want) in [f.bbox.x0, f.bbox.y0, f.bbox.x1, f.bbox.y1]
            .iter()
            .zip(bbox)
        {
            assert!(
                (got - want).abs() < tol,
                "{file}: box {:?} vs {bbox:?}",
                f.bbox
            );
        }
        for (got, want) in f.landmarks.0.iter().zip(lms) {
            let d = ((got[0] - want[0]).powi(2) + (got[1] - want[1]).powi(2)).sqrt();
            assert!(d < tol, "{file}: landmark {got:?} vs {want:?}");
        }
        assert!(f.score > 0.5, "{file}: score {}", f.score);
    }
}

#[test]
fn an_image_without_faces_gives_none() {
    // A smooth synthetic gradient: nothing face-like.
    let (w, h) = (320u32, 240u32);
    let data = (0..w * h).flat_map(|i| {
        let (x, y) = (i % w, i / w);
        [(x * 255 / w) as u8, (y * 255 / h) as u8, 128]
    });
    let img = civitas_model::RgbImage::new(w, h, data.collect()).unwrap();
    assert!(detector().detect(&img).unwrap().is_empty());
}

#[test]
fn blazeface_finds_the_portraits_and_most_of_solvay() {
    common::init_runtime();
    let mut det = civitas_vision::blazeface::BlazeFace::open(
        &common::var_dir().join("models/blazeface"),
        DetectorConfig {
            min_score: 0.5,
            nms_iou: 0.3,
        },
        SessionOptions::default(),
    )
    .expect("blazeface model (run scripts/setup)");
    for (file, bbox, lms) in TRUTH {
        let img = common::load_rgb(&common::var_dir().join("testdata/scrfd").join(file));
        let faces = det.detect(&img).unwrap();
        assert_eq!(faces.len(), 1, "{file}: {} faces", faces.len());
        let size = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
        // Eyes and nose within 10% of the face size of scrfd's truth.
        for k in 0..3 {
            let (g, w) = (faces[0].landmarks.0[k], lms[k]);
            let d = ((g[0] - w[0]).powi(2) + (g[1] - w[1]).powi(2)).sqrt();
            assert!(d < 0.1 * size, "{file}: point {k} {g:?} vs {w:?}");
        }
    }
    let img =
        common::load_rgb(&common::var_dir().join("testdata/scrfd/solvay_conference_1927.jpg"));
    // Without tiles BlazeFace misses these small faces; a 4×4 grid finds them.
    det.tiles = 4;
    let found = det.detect(&img).unwrap();
    let truth = detector().detect(&img).unwrap();
    let eyes_in = |t: &civitas_model::FaceDetection, b: &civitas_model::FaceDetection| {
        let l = b.landmarks.0;
        t.bbox
            .contains([(l[0][0] + l[1][0]) / 2.0, (l[0][1] + l[1][1]) / 2.0])
    };
    let recalled = truth
        .iter()
        .filter(|t| found.iter().any(|b| eyes_in(t, b)))
        .count();
    let spurious = found
        .iter()
        .filter(|b| !truth.iter().any(|t| eyes_in(t, b)))
        .count();
    eprintln!(
        "blazeface (4x4 tiles): {recalled} of {} SCRFD faces, {spurious} others",
        truth.len()
    );
    assert!(
        recalled >= 27,
        "blazeface recalled {recalled} of {} faces",
        truth.len()
    );
    assert!(
        spurious <= 2,
        "blazeface found {spurious} faces SCRFD does not"
    );
}

/// The height-patched graph finds the same faces as the packaged 640 × 640 one
/// (a frame that needs the full square runs the original graph).
#[test]
fn patched_height_gives_the_same_faces_as_the_square_graph() {
    let mut det = detector();
    let img = common::load_rgb(&common::var_dir().join("testdata/scrfd/newton.png"));
    assert_eq!(civitas_vision::scrfd::input_height(768, 432), 384);
    let patched = det.detect(&img).unwrap();
    // Pad the frame to a square: the detector then runs the unpatched graph on identical pixels.
    let mut square = civitas_model::RgbImage::zeros(768, 768);
    square.data[..img.data.len()].copy_from_slice(&img.data);
    let full = det.detect(&square).unwrap();
    assert_eq!(patched.len(), 1);
    assert_eq!(full.len(), 1);
    let (a, b) = (patched[0].bbox, full[0].bbox);
    for (x, y) in [(a.x0, b.x0), (a.y0, b.y0), (a.x1, b.x1), (a.y1, b.y1)] {
        assert!((x - y).abs() < 1.0, "{a:?} vs {b:?}");
    }
    assert!((patched[0].score - full[0].score).abs() < 0.01);
}
