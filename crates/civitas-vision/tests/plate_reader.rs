//! The PP-OCRv4 recogniser on a real plate: the test image shipped in the
//! `fast-alpr==0.4.0` sdist, whose own tests assert the text `5AU5341`.

mod common;
use civitas_vision::plate_reader::PlateReader;
use civitas_vision::runtime::SessionOptions;

fn reader() -> PlateReader {
    common::init_runtime();
    PlateReader::open(
        &common::var_dir().join("models/ppocr/ch_PP-OCRv4_rec_infer.onnx"),
        SessionOptions { intra_threads: 1 },
    )
    .expect("PP-OCRv4 recogniser (run scripts/setup)")
}

fn crop(
    img: &civitas_model::RgbImage,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
) -> civitas_model::RgbImage {
    let mut data = Vec::new();
    for y in y0..y1 {
        let row = ((y * img.width_px + x0) * 3) as usize;
        data.extend_from_slice(&img.data[row..row + ((x1 - x0) * 3) as usize]);
    }
    civitas_model::RgbImage::new(x1 - x0, y1 - y0, data).unwrap()
}

#[test]
fn reads_the_real_test_plate_exactly() {
    let mut r = reader();
    assert_eq!(r.classes(), 6625, "the character list comes from the model");
    let img = common::load_rgb(&common::var_dir().join("testdata/fast_alpr/test_image.png"));
    // The plate's box in the 518x331 photo, drawn by hand around it (the
    // detector that finds it automatically comes next).
    let plate = crop(&img, 303, 186, 390, 212);
    let read = r.read(&plate).unwrap();
    let text = civitas_vision::plate_text::normalise(&read.text).unwrap();
    assert_eq!(text, "5AU5341", "read {:?}", read);
    assert!(read.confidence > 0.9, "{read:?}");
    // Not a plate: a patch of tarmac reads as little or nothing, with low confidence.
    let road = crop(&img, 20, 280, 120, 310);
    let r2 = r.read(&road).unwrap();
    assert!(
        r2.text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .count()
            < 3
            || r2.confidence < 0.6,
        "{r2:?}"
    );
    // Too small to read: a clear error, not a guess.
    let e = r.read(&crop(&img, 0, 0, 3, 3)).unwrap_err();
    assert!(e.message().contains("too small"), "{}", e.message());
}
