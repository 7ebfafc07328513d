//! Civitas ingest: where frames come from.
//!
//! Every source implements [`FrameSource`], a blocking iterator of sampled RGB
//! frames with their offset from the start of the source. Each camera runs its
//! source on its own thread, so one stuck or broken camera never stalls another.
//!
//! - [`video::VideoFileSource`]: any file FFmpeg reads (mp4, mkv, Annex-B
//!   .h264/.h265, ...), decoded by an `ffmpeg` subprocess and sampled to the
//!   configured analysis rate. Why a subprocess rather than linked libav*: a
//!   corrupt or hostile file can crash a decoder, and a crash in a child process
//!   is an error message, not a dead service. The cost, one copy of raw RGB through a pipe,
//!   is ~1 ms per 720p frame at the 2–5 analysed frames per second we sample.
//! - [`still::StillSource`]: one image or a folder of images, one frame each.
//! - [`rtsp::RtspSource`]: a live RTSP camera (retina), H.264 decoded by
//!   openh264 ([`h264`]) and H.265 by libavcodec ([`avcodec`]), with reconnects
//!   and health.

pub mod avcodec;
pub mod h264;
pub mod mp4;
pub mod push;
pub mod recorder;
pub mod rtsp;
pub mod still;
pub mod video;

use civitas_base::{Error, Result};
use civitas_model::RgbImage;
use std::path::Path;

/// A decoded, sampled frame.
#[derive(Debug, Clone)]
pub struct SourcedFrame {
    pub image: RgbImage,
    /// Offset from the start of the source, in milliseconds.
    pub offset_ms: i64,
    /// Index among the sampled frames (0, 1, 2, ...).
    pub index: u64,
    /// Where the frame came from (file name for folders), for messages.
    pub label: String,
    /// When its bytes reached Civitas (a camera's access unit off the network,
    /// an upload, a file's decoded picture): the start of frame-to-analysis latency.
    pub arrived: std::time::Instant,
}

/// A source of sampled frames.
pub trait FrameSource: Send {
    /// The next frame, or `None` at the end of the source.
    fn next_frame(&mut self) -> Result<Option<SourcedFrame>>;
    /// Total frames expected, when known (for progress bars).
    fn len_hint(&self) -> Option<u64> {
        None
    }

    /// Live health, for sources that have one (cameras); files and stills have none.
    fn health(&self) -> Option<rtsp::HealthHandle> {
        None
    }
}

/// Opens a configured camera: `rtsp://` URLs as live RTSP cameras (H.264 or H.265, over `transport`), anything
/// else as a file path replayed at its own speed (`realtime`) or as fast as possible.
pub fn open_camera(
    camera: &str,
    url: &str,
    fps: f64,
    realtime: bool,
    transport: rtsp::Transport,
    h264: avcodec::H264Backend,
    recorder: Option<recorder::RecorderInput>,
) -> Result<Box<dyn FrameSource>> {
    if url.starts_with("rtsp://") {
        return Ok(Box::new(rtsp::RtspSource::start_recording(
            camera, url, fps, transport, h264, recorder,
        )?));
    }
    open_path(Path::new(url), fps, realtime)
}

/// Image file extensions handled as stills.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png"];

/// Opens an image, a folder of images, or a video file, sampling video at `fps`.
pub fn open_path(path: &Path, fps: f64, realtime: bool) -> Result<Box<dyn FrameSource>> {
    if path.is_dir() {
        return Ok(Box::new(still::StillSource::folder(path)?));
    }
    if !path.exists() {
        return Err(Error::not_found(format!(
            "{}: no such file or folder",
            path.display()
        )));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        return Ok(Box::new(still::StillSource::files(vec![
            path.to_path_buf(),
        ])));
    }
    Ok(Box::new(video::VideoFileSource::open(path, fps, realtime)?))
}

/// Decodes an image file to RGB, naming the file on failure.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::unreadable(format!("{}: cannot read", path.display()), e))?;
    decode_image(&bytes).map_err(|e| Error::invalid(format!("{}: {}", path.display(), e.message())))
}

/// Decodes JPEG or PNG bytes to RGB (alpha dropped, EXIF orientation not applied).
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| Error::invalid(format!("not a readable JPEG or PNG image ({e})")))?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    RgbImage::new(w, h, rgb.into_raw())
}

/// Encodes an RGB image as JPEG (quality 90), for face crops kept as evidence.
pub fn encode_jpeg(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    image::ImageEncoder::write_image(
        enc,
        &img.data,
        img.width_px,
        img.height_px,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| Error::internal(format!("encoding JPEG: {e}")))?;
    Ok(out)
}
