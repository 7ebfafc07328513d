//! Snapshot-push uploads: whatever a camera (or anyone with its token) POSTs
//! is refused in words or decoded within the limits; never a panic, never an
//! image past the pixel limit.
#![no_main]
use civitas_ingest::push::{SnapshotLimits, decode_snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = SnapshotLimits {
        max_bytes: 1 << 20,
        max_side: 1024,
    };
    match decode_snapshot(data, limits) {
        Ok(img) => {
            assert!(img.width_px <= 1024 && img.height_px <= 1024);
            assert_eq!(
                img.data.len(),
                img.width_px as usize * img.height_px as usize * 3
            );
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
});
