//! Photos and snapshot uploads: decoding arbitrary bytes as an image never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = civitas_ingest::decode_image(data) {
        assert_eq!(
            img.data.len(),
            img.width_px as usize * img.height_px as usize * 3
        );
    }
});
