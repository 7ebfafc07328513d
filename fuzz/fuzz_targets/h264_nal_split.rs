//! Camera bytes: Annex B splitting and the openh264 decoder must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let nals = civitas_ingest::h264::split_annexb(data);
    let total: usize = nals.iter().map(|n| n.len()).sum();
    assert!(total <= data.len());
    if let Ok(mut dec) = civitas_ingest::h264::H264Decoder::new() {
        let mut rgb = Vec::new();
        for n in nals.iter().take(64) {
            let _ = dec.decode(n, Some(&mut rgb));
        }
    }
});
