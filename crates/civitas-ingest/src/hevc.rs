//! H.265 decoding with FFmpeg's libavcodec (Debian's libav* through
//! `ffmpeg-next`). openh264 decodes only H.264; libavcodec's HEVC decoder is
//! the one in every player and is continuously fuzzed upstream (OSS-Fuzz).
//! Single-threaded by default, so one camera costs at most one core.

use ffmpeg_next as ff;

/// An H.265 decoder that yields RGB only for the frames that are wanted.
pub struct HevcDecoder {
    dec: ff::decoder::Video,
    frame: ff::frame::Video,
    rgb_frame: ff::frame::Video,
    scaler: Option<(ff::software::scaling::Context, ff::format::Pixel, u32, u32)>,
}

impl std::fmt::Debug for HevcDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HevcDecoder")
    }
}

impl HevcDecoder {
    pub fn new() -> Result<Self, String> {
        ff::init().map_err(|e| format!("libavcodec: {e}"))?;
        ff::util::log::set_level(ff::util::log::Level::Fatal);
        let codec = ff::decoder::find(ff::codec::Id::HEVC)
            .ok_or("this FFmpeg build has no H.265 decoder")?;
        let dec = ff::codec::context::Context::new_with_codec(codec)
            .decoder()
            .video()
            .map_err(|e| format!("opening the H.265 decoder: {e}"))?;
        Ok(HevcDecoder {
            dec,
            frame: ff::frame::Video::empty(),
            rgb_frame: ff::frame::Video::empty(),
            scaler: None,
        })
    }

    /// Decodes one access unit in Annex B form. When a picture is ready,
    /// returns its size and, if `rgb` is given, writes packed RGB into it.
    pub fn decode(
        &mut self,
        annexb: &[u8],
        mut rgb: Option<&mut Vec<u8>>,
    ) -> Result<Option<(usize, usize)>, String> {
        let packet = ff::Packet::copy(annexb);
        self.dec.send_packet(&packet).map_err(|e| e.to_string())?;
        let mut got = None;
        while self.dec.receive_frame(&mut self.frame).is_ok() {
            got = Some(self.picture(rgb.as_deref_mut())?);
        }
        Ok(got)
    }

    fn picture(&mut self, rgb: Option<&mut Vec<u8>>) -> Result<(usize, usize), String> {
        let (w, h, fmt) = (self.frame.width(), self.frame.height(), self.frame.format());
        let Some(buf) = rgb else {
            return Ok((w as usize, h as usize));
        };
        let stale =
            !matches!(&self.scaler, Some((_, f, sw, sh)) if *f == fmt && *sw == w && *sh == h);
        if stale {
            let ctx = ff::software::scaling::Context::get(
                fmt,
                w,
                h,
                ff::format::Pixel::RGB24,
                w,
                h,
                ff::software::scaling::Flags::BILINEAR,
            )
            .map_err(|e| format!("no conversion from {fmt:?} to RGB: {e}"))?;
            self.scaler = Some((ctx, fmt, w, h));
            self.rgb_frame = ff::frame::Video::empty();
        }
        let Some((ctx, ..)) = self.scaler.as_mut() else {
            return Err("no scaler".into());
        };
        ctx.run(&self.frame, &mut self.rgb_frame)
            .map_err(|e| format!("converting to RGB: {e}"))?;
        let (wu, hu) = (w as usize, h as usize);
        let stride = self.rgb_frame.stride(0);
        let data = self.rgb_frame.data(0);
        buf.resize(wu * hu * 3, 0);
        for y in 0..hu {
            buf[y * wu * 3..(y + 1) * wu * 3]
                .copy_from_slice(&data[y * stride..y * stride + wu * 3]);
        }
        Ok((wu, hu))
    }

    /// Pictures still held for reordering at the end of a stream.
    pub fn flush(&mut self) -> usize {
        let mut n = 0;
        if self.dec.send_eof().is_ok() {
            while self.dec.receive_frame(&mut self.frame).is_ok() {
                n += 1;
            }
        }
        n
    }
}

/// A decoder for a camera's codec.
#[derive(Debug)]
pub enum VideoDecoder {
    H264(crate::h264::H264Decoder),
    H265(HevcDecoder),
}

impl VideoDecoder {
    /// `codec` as RTSP names it in the SDP: `h264` or `h265`.
    pub fn for_codec(codec: &str) -> Result<Self, String> {
        match codec {
            "h264" => crate::h264::H264Decoder::new().map(VideoDecoder::H264),
            "h265" => HevcDecoder::new().map(VideoDecoder::H265),
            other => Err(format!(
                "unsupported video codec {other:?} (H.264 and H.265 are)"
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            VideoDecoder::H264(_) => "H.264",
            VideoDecoder::H265(_) => "H.265",
        }
    }

    pub fn decode(
        &mut self,
        annexb: &[u8],
        rgb: Option<&mut Vec<u8>>,
    ) -> Result<Option<(usize, usize)>, String> {
        match self {
            VideoDecoder::H264(d) => d.decode(annexb, rgb),
            VideoDecoder::H265(d) => d.decode(annexb, rgb),
        }
    }
}
