//! Decoding with FFmpeg's libavcodec (Debian's libav* through `ffmpeg-next`):
//! H.265 always (openh264 decodes only H.264), and H.264 when a camera asks
//! for it (`decoder = "libavcodec"`; about twice openh264's speed, see
//! BENCHMARKS.md). libavcodec's decoders are the ones in every player and are
//! continuously fuzzed upstream (OSS-Fuzz). Single-threaded, so one camera
//! costs at most one core.

use ffmpeg_next as ff;

/// A libavcodec decoder that yields RGB only for the frames that are wanted.
pub struct AvDecoder {
    dec: ff::decoder::Video,
    frame: ff::frame::Video,
    rgb_frame: ff::frame::Video,
    scaler: Option<(ff::software::scaling::Context, ff::format::Pixel, u32, u32)>,
}

impl std::fmt::Debug for AvDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AvDecoder")
    }
}

impl AvDecoder {
    /// `h265` selects HEVC, otherwise H.264.
    pub fn new(h265: bool) -> Result<Self, String> {
        ff::init().map_err(|e| format!("libavcodec: {e}"))?;
        ff::util::log::set_level(ff::util::log::Level::Fatal);
        let (id, name) = if h265 {
            (ff::codec::Id::HEVC, "H.265")
        } else {
            (ff::codec::Id::H264, "H.264")
        };
        let codec = ff::decoder::find(id)
            .ok_or_else(|| format!("this FFmpeg build has no {name} decoder"))?;
        let dec = ff::codec::context::Context::new_with_codec(codec)
            .decoder()
            .video()
            .map_err(|e| format!("opening the {name} decoder: {e}"))?;
        Ok(AvDecoder {
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

/// Which library decodes a camera's H.264 (H.265 always uses libavcodec).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum H264Backend {
    /// Cisco's openh264 (BSD): the default.
    #[default]
    Openh264,
    /// FFmpeg's libavcodec: about twice as fast on one core.
    Libavcodec,
}

/// A decoder for a camera's codec.
#[derive(Debug)]
pub enum VideoDecoder {
    H264(crate::h264::H264Decoder),
    Av(AvDecoder, &'static str),
}

impl VideoDecoder {
    /// `codec` as RTSP names it in the SDP: `h264` or `h265`.
    pub fn for_codec(codec: &str, h264: H264Backend) -> Result<Self, String> {
        match (codec, h264) {
            ("h264", H264Backend::Openh264) => {
                crate::h264::H264Decoder::new().map(VideoDecoder::H264)
            }
            ("h264", H264Backend::Libavcodec) => {
                AvDecoder::new(false).map(|d| VideoDecoder::Av(d, "H.264"))
            }
            ("h265", _) => AvDecoder::new(true).map(|d| VideoDecoder::Av(d, "H.265")),
            other => Err(format!(
                "unsupported video codec {other:?} (H.264 and H.265 are)"
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            VideoDecoder::H264(_) => "H.264",
            VideoDecoder::Av(_, name) => name,
        }
    }

    pub fn decode(
        &mut self,
        annexb: &[u8],
        rgb: Option<&mut Vec<u8>>,
    ) -> Result<Option<(usize, usize)>, String> {
        match self {
            VideoDecoder::H264(d) => d.decode(annexb, rgb),
            VideoDecoder::Av(d, _) => d.decode(annexb, rgb),
        }
    }
}
