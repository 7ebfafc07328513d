//! H.264 decoding with openh264, shared by RTSP cameras and the decode
//! benchmark. Configured with `Flush::NoFlush` (with the default, streams with
//! B-frames decode only a fraction of their frames) and drained with
//! `flush_remaining` at the end of a stream.

use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

/// An H.264 decoder that yields RGB only for the frames that are wanted.
pub struct H264Decoder {
    dec: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("H264Decoder")
    }
}

impl H264Decoder {
    pub fn new() -> Result<Self, String> {
        let cfg = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        Decoder::with_api_config(openh264::OpenH264API::from_source(), cfg)
            .map(|dec| H264Decoder { dec })
            .map_err(|e| e.to_string())
    }

    /// Decodes Annex B bytes (one or more NAL units). When a picture is
    /// ready, returns its size and, if `rgb` is given, writes packed RGB into it.
    pub fn decode(
        &mut self,
        annexb: &[u8],
        rgb: Option<&mut Vec<u8>>,
    ) -> Result<Option<(usize, usize)>, String> {
        match self.dec.decode(annexb) {
            Ok(Some(yuv)) => {
                let (w, h) = yuv.dimensions();
                if let Some(buf) = rgb {
                    buf.resize(w * h * 3, 0);
                    yuv.write_rgb8(buf);
                }
                Ok(Some((w, h)))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Pictures still held for reordering at the end of a stream.
    pub fn flush(&mut self) -> usize {
        self.dec.flush_remaining().map(|v| v.len()).unwrap_or(0)
    }
}

/// Splits an Annex B byte stream into NAL units, each with its start code.
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            let s = if i > 0 && data[i - 1] == 0 { i - 1 } else { i };
            starts.push(s);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &s)| &data[s..starts.get(k + 1).copied().unwrap_or(data.len())])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_three_and_four_byte_start_codes() {
        let d = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4,
        ];
        let n = split_annexb(&d);
        assert_eq!(n.len(), 3);
        assert_eq!(n[0], &[0, 0, 0, 1, 0x67, 1, 2]);
        assert_eq!(n[1], &[0, 0, 1, 0x68, 3]);
        assert_eq!(n[2], &[0, 0, 0, 1, 0x65, 4]);
    }
}
