//! Plate recognition on whole frames: the PP-OCRv4 detector finds the real
//! plate in the `fast-alpr==0.4.0` test photo (text `5AU5341`, asserted by
//! that package's own tests) and the recogniser reads it; bad input gives a
//! clear result or error.

mod common;
use civitas_model::RgbImage;
use civitas_vision::anpr::{AnprConfig, PlateRecogniser};
use civitas_vision::plate_text::formats_for;
use civitas_vision::runtime::SessionOptions;

fn recogniser(formats: &[&str]) -> PlateRecogniser {
    common::init_runtime();
    let cfg = AnprConfig {
        formats: formats_for(&formats.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap(),
        ..AnprConfig::default()
    };
    PlateRecogniser::open(
        &common::var_dir().join("models/ppocr"),
        cfg,
        SessionOptions { intra_threads: 1 },
    )
    .expect("PP-OCRv4 models (run scripts/setup)")
}

fn car() -> RgbImage {
    common::load_rgb(&common::var_dir().join("testdata/fast_alpr/test_image.png"))
}

/// Two images side by side (heights padded with black).
fn side_by_side(a: &RgbImage, b: &RgbImage) -> RgbImage {
    let (w, h) = (a.width_px + b.width_px, a.height_px.max(b.height_px));
    let mut out = RgbImage::zeros(w, h);
    for (img, x0) in [(a, 0), (b, a.width_px)] {
        for y in 0..img.height_px {
            for x in 0..img.width_px {
                let o = ((y * w + x0 + x) * 3) as usize;
                out.data[o..o + 3].copy_from_slice(&img.pixel(x, y));
            }
        }
    }
    out
}

/// Nearest-neighbour resize by an integer factor (down).
fn shrink(img: &RgbImage, k: u32) -> RgbImage {
    let (w, h) = (img.width_px / k, img.height_px / k);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&img.pixel(x * k, y * k));
        }
    }
    RgbImage::new(w, h, data).unwrap()
}

/// Rotated a quarter turn clockwise.
fn rotate90(img: &RgbImage) -> RgbImage {
    let (w, h) = (img.height_px, img.width_px);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&img.pixel(y, img.height_px - 1 - x));
        }
    }
    RgbImage::new(w, h, data).unwrap()
}

#[test]
fn finds_and_reads_the_real_plate_in_the_whole_photo() {
    let mut r = recogniser(&["ANY"]);
    let scan = r.scan(&car()).unwrap();
    let plate = scan
        .reads
        .iter()
        .find(|p| p.text == "5AU5341")
        .unwrap_or_else(|| {
            panic!(
                "no 5AU5341 among {:?}",
                scan.reads.iter().map(|p| &p.text).collect::<Vec<_>>()
            )
        });
    // Inside the box drawn by hand around the plate (x 303–390, y 186–212).
    let (cx, cy) = (
        (plate.bbox.x0 + plate.bbox.x1) / 2.0,
        (plate.bbox.y0 + plate.bbox.y1) / 2.0,
    );
    assert!(
        (303.0..390.0).contains(&cx) && (186.0..212.0).contains(&cy),
        "{:?}",
        plate.bbox
    );
    assert!(plate.confidence > 0.9, "{}", plate.confidence);
    assert!(
        plate.crop.width_px > plate.crop.height_px,
        "rectified crop lies flat"
    );
    assert!(scan.lines.len() >= scan.reads.len());
}

#[test]
fn many_plates_in_one_frame_are_each_read() {
    let mut r = recogniser(&["ANY"]);
    let c = car();
    let scan = r.scan(&side_by_side(&c, &c)).unwrap();
    let xs: Vec<f32> = scan
        .reads
        .iter()
        .filter(|p| p.text == "5AU5341")
        .map(|p| p.bbox.x0)
        .collect();
    assert_eq!(
        xs.len(),
        2,
        "{:?}",
        scan.reads.iter().map(|p| &p.text).collect::<Vec<_>>()
    );
    assert!((xs[0] - xs[1]).abs() > 400.0, "two places: {xs:?}");
}

#[test]
fn bad_input_gives_a_clear_result_never_a_wrong_plate() {
    let mut r = recogniser(&["ANY"]);
    // A frame far too small to search.
    let e = r.scan(&RgbImage::zeros(5, 5)).unwrap_err();
    assert!(e.message().contains("too small"), "{}", e.message());
    // A photo with no plate and no text: nothing is read.
    let cat = common::load_rgb(&common::var_dir().join("testdata/plate_backgrounds/chelsea.png"));
    let scan = r.scan(&cat).unwrap();
    assert!(
        scan.reads.is_empty(),
        "{:?}",
        scan.reads.iter().map(|p| &p.text).collect::<Vec<_>>()
    );
    // A tiny plate (the photo at a quarter size: the text is ~6 px high) is
    // counted as too small, or read correctly, never read as something else.
    let scan = r.scan(&shrink(&car(), 4)).unwrap();
    assert!(
        scan.reads.iter().all(|p| p.text == "5AU5341"),
        "{:?}",
        scan.reads.iter().map(|p| &p.text).collect::<Vec<_>>()
    );
    // A plate turned on its side: whatever is found, the call answers.
    let scan = r.scan(&rotate90(&car())).unwrap();
    assert!(scan.reads.iter().all(|p| p.text.len() <= 10));
    // With a format configured, the plate fits it and band-like text does not.
    let mut strict = recogniser(&["EC"]);
    let scan = strict.scan(&car()).unwrap();
    assert!(scan.reads.iter().all(|p| p.format.as_deref() == Some("EC")));
    assert!(
        scan.reads.iter().all(|p| p.text != "5AU5341"),
        "5AU5341 is not an Ecuadorian plate"
    );
}
