//! The dlib model parser and converter: arbitrary bytes give an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = civitas_vision::dlib_convert::convert(data);
});
