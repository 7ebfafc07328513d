//! Camera URLs from configs and messages: masking never panics and never lets
//! the password part of `scheme://user:password@host` through.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let masked = civitas_ingest::rtsp::mask_url(s);
    if let (Some(scheme), Some(at)) = (s.find("://"), s.find('@'))
        && at > scheme
    {
        let secret = &s[scheme + 3..at];
        assert!(masked.starts_with(&s[..scheme + 3]));
        assert!(masked.ends_with(&s[at + 1..]));
        assert_eq!(masked.len(), scheme + 3 + 4 + (s.len() - at - 1), "{secret:?}");
    }
});
