//! Snapshot-push cameras: cameras that POST a still JPEG or PNG on an event
//! (a door contact, a line crossing) instead of streaming. The HTTP endpoint
//! lives in the API crate; this module is what it hands the bytes to: size and
//! pixel limits, decoding, the camera's health, and a [`FrameSource`] that the
//! pipeline reads like any other camera.

use crate::rtsp::{CameraHealth, CameraState, HealthHandle};
use crate::{FrameSource, SourcedFrame};
use civitas_base::{Error, ErrorKind, Result};
use civitas_model::RgbImage;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Limits on what a camera may upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotLimits {
    /// Largest upload in bytes.
    pub max_bytes: usize,
    /// Largest width or height in pixels (a small file can declare a huge image).
    pub max_side: u32,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        SnapshotLimits {
            max_bytes: 8 << 20,
            max_side: 8192,
        }
    }
}

/// Decodes an uploaded snapshot: JPEG or PNG only, within `limits`. The error
/// says what was wrong in words (too big, not an image, too many pixels).
pub fn decode_snapshot(bytes: &[u8], limits: SnapshotLimits) -> Result<RgbImage> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "the snapshot is {} bytes; the limit is {} bytes",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }
    if bytes.is_empty() {
        return Err(Error::invalid("the snapshot is empty"));
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, image::ImageFormat::Jpeg | image::ImageFormat::Png))
        .ok_or_else(|| Error::invalid("the snapshot is not a JPEG or PNG image"))?;
    if format == image::ImageFormat::Jpeg {
        // The decoder fills a cut-off JPEG with grey; a cut upload is an error.
        let end = bytes.iter().rposition(|&b| b != 0).unwrap_or(0);
        if end < 1 || bytes[end - 1..=end] != [0xff, 0xd9] {
            return Err(Error::invalid(
                "the snapshot JPEG is truncated (no end-of-image marker)",
            ));
        }
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut lim = image::Limits::default();
    lim.max_image_width = Some(limits.max_side);
    lim.max_image_height = Some(limits.max_side);
    // RGBA at the largest side squared, plus decoder scratch.
    lim.max_alloc = Some(u64::from(limits.max_side).pow(2) * 4 + (64 << 20));
    reader.limits(lim);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Error::new(
            ErrorKind::TooLarge,
            format!("the snapshot's pixel size exceeds {0}x{0}", limits.max_side),
        ),
        e => Error::invalid(format!(
            "the snapshot is not a readable {format:?} image ({e})"
        )),
    })?;
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    RgbImage::new(w, h, rgb.into_raw())
}

/// The receiving side of a push camera, read by the pipeline.
#[derive(Debug)]
pub struct PushSource {
    rx: Receiver<SourcedFrame>,
    health: HealthHandle,
    idle_poll: Duration,
    until: Option<Instant>,
}

/// The sending side, held by the HTTP endpoint. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PushHandle {
    camera: String,
    tx: SyncSender<SourcedFrame>,
    health: HealthHandle,
    limits: SnapshotLimits,
    started: Instant,
    index: Arc<Mutex<u64>>,
}

/// Creates a push camera: the source the pipeline reads, and the handle the
/// endpoint submits to. Up to `queue` snapshots wait for analysis; beyond that
/// an upload is refused as busy rather than queued without bound.
pub fn push_camera(camera: &str, limits: SnapshotLimits, queue: usize) -> (PushSource, PushHandle) {
    let (tx, rx) = sync_channel(queue.max(1));
    let health = HealthHandle(Arc::new(Mutex::new(CameraHealth::connecting())));
    (
        PushSource {
            rx,
            health: health.clone(),
            idle_poll: Duration::from_millis(250),
            until: None,
        },
        PushHandle {
            camera: camera.to_owned(),
            tx,
            health,
            limits,
            started: Instant::now(),
            index: Arc::new(Mutex::new(0)),
        },
    )
}

impl PushHandle {
    pub fn camera(&self) -> &str {
        &self.camera
    }

    pub fn limits(&self) -> SnapshotLimits {
        self.limits
    }

    pub fn health(&self) -> HealthHandle {
        self.health.clone()
    }

    /// Decodes and queues one uploaded snapshot. A bad upload marks the camera
    /// degraded with the fault in words; the next good one brings it back online.
    pub fn submit(&self, bytes: &[u8]) -> Result<u64> {
        let arrived = Instant::now();
        let set = |f: &dyn Fn(&mut CameraHealth)| {
            f(&mut self.health.0.lock().unwrap_or_else(|p| p.into_inner()))
        };
        let image = match decode_snapshot(bytes, self.limits) {
            Ok(i) => i,
            Err(e) => {
                let msg = format!(
                    "camera {}: snapshot upload refused: {}",
                    self.camera,
                    e.message()
                );
                set(&|h| {
                    h.decode_errors += 1;
                    h.state = CameraState::Degraded;
                    h.last_error = Some(msg.clone());
                });
                return Err(Error::new(e.kind(), msg));
            }
        };
        let index = {
            let mut i = self.index.lock().unwrap_or_else(|p| p.into_inner());
            *i += 1;
            *i - 1
        };
        let frame = SourcedFrame {
            arrived,
            image,
            offset_ms: self.started.elapsed().as_millis() as i64,
            index,
            label: format!("camera {} snapshot {index}", self.camera),
        };
        match self.tx.try_send(frame) {
            Ok(()) => {
                set(&|h| {
                    h.frames_decoded += 1;
                    h.frames_sampled += 1;
                    h.state = CameraState::Online;
                });
                Ok(index)
            }
            Err(TrySendError::Full(_)) => Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "camera {}: the analysis queue is full; retry shortly",
                    self.camera
                ),
            )),
            Err(TrySendError::Disconnected(_)) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("camera {}: analysis has stopped", self.camera),
            )),
        }
    }
}

impl PushSource {
    /// Ends the source at `until` (bounded runs); waiting snapshots are still delivered first.
    pub fn until(mut self, until: Option<Instant>) -> Self {
        self.until = until;
        self
    }

    /// The next snapshot, waiting at most `timeout`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<SourcedFrame> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl FrameSource for PushSource {
    /// Blocks until a snapshot arrives; `None` once every handle is dropped.
    fn next_frame(&mut self) -> Result<Option<SourcedFrame>> {
        loop {
            match self.rx.recv_timeout(self.idle_poll) {
                Ok(f) => return Ok(Some(f)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if self.until.is_some_and(|u| Instant::now() >= u) {
                        return Ok(None);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }

    fn health(&self) -> Option<HealthHandle> {
        Some(self.health.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_good_snapshot_reaches_the_source_and_the_camera_is_online() {
        let (mut src, h) = push_camera("gate", SnapshotLimits::default(), 4);
        assert_eq!(h.submit(&png(64, 48)).unwrap(), 0);
        let f = src.next_timeout(Duration::from_secs(1)).unwrap();
        assert_eq!((f.image.width_px, f.image.height_px), (64, 48));
        assert_eq!(f.image.data[..3], [10, 200, 30]);
        assert_eq!(h.health().get().state, CameraState::Online);
    }

    #[test]
    fn bad_uploads_are_refused_in_words_and_mark_the_camera_degraded() {
        let lim = SnapshotLimits {
            max_bytes: 4096,
            max_side: 100,
        };
        let (_src, h) = push_camera("gate", lim, 4);
        let e = h.submit(&vec![0u8; 5000]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert!(
            e.message().contains("camera gate") && e.message().contains("5000 bytes"),
            "{e}"
        );
        let e = h.submit(b"%PDF-1.4 not an image").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("not a JPEG or PNG"), "{e}");
        let e = h.submit(&png(200, 10)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooLarge);
        assert!(e.message().contains("100x100"), "{e}");
        let mut cut = png(50, 50);
        cut.truncate(cut.len() / 2);
        let e = h.submit(&cut).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
        let health = h.health().get();
        assert_eq!(health.state, CameraState::Degraded);
        assert_eq!(health.decode_errors, 4);
        assert!(health.last_error.unwrap().contains("camera gate"));
        h.submit(&png(20, 20)).unwrap();
        assert_eq!(h.health().get().state, CameraState::Online);
    }

    #[test]
    fn a_full_queue_is_refused_as_busy_not_queued_without_bound() {
        let (_src, h) = push_camera("gate", SnapshotLimits::default(), 2);
        h.submit(&png(8, 8)).unwrap();
        h.submit(&png(8, 8)).unwrap();
        let e = h.submit(&png(8, 8)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    }
}
