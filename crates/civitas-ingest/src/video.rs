//! Video files decoded by an `ffmpeg` subprocess into raw RGB, sampled at a
//! fixed analysis rate by FFmpeg's `fps` filter.

use crate::{FrameSource, SourcedFrame};
use civitas_base::{Error, ErrorKind, Result};
use civitas_model::RgbImage;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Instant;

/// Facts about a video stream, from `ffprobe`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoInfo {
    pub width_px: u32,
    pub height_px: u32,
    /// Duration in milliseconds, if the container says.
    pub duration_ms: Option<i64>,
    /// Average frame rate (else the stream's base rate), if the stream says.
    pub frame_rate: Option<f64>,
}

/// Asks ffprobe for the first video stream's size, frame rate and the duration.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,avg_frame_rate,r_frame_rate:format=duration",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(path)
        .output()
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Unavailable,
                "running ffprobe (install ffmpeg: scripts/setup)",
                e,
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::trim)
    };
    let (w, h) = (
        field("width").and_then(|v| v.parse().ok()),
        field("height").and_then(|v| v.parse().ok()),
    );
    match (w, h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Ok(VideoInfo {
            width_px: w,
            height_px: h,
            duration_ms: field("duration")
                .and_then(|d| d.parse::<f64>().ok())
                .map(|s| (s * 1000.0) as i64),
            frame_rate: ["avg_frame_rate", "r_frame_rate"].iter().find_map(|k| {
                let (a, b) = field(k)?.split_once('/')?;
                let (a, b): (f64, f64) = (a.parse().ok()?, b.parse().ok()?);
                (a > 0.0 && b > 0.0).then_some(a / b)
            }),
        }),
        _ => {
            let why = String::from_utf8_lossy(&out.stderr);
            let why = why.lines().last().unwrap_or("no video stream found").trim();
            Err(Error::invalid(format!(
                "{}: not a readable video ({why})",
                path.display()
            )))
        }
    }
}

/// A video file as a sampled frame source.
#[derive(Debug)]
pub struct VideoFileSource {
    path: PathBuf,
    info: VideoInfo,
    fps: f64,
    realtime: bool,
    child: Child,
    stdout: ChildStdout,
    next_index: u64,
    started: Instant,
    stderr_path: tempfile_path::TempPath,
}

mod tempfile_path {
    //! A stderr capture file removed on drop.
    #[derive(Debug)]
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl VideoFileSource {
    /// Opens `path`, sampling `fps` frames per second of video. With `realtime`,
    /// frames are released no faster than the video's own clock (a replayed camera).
    pub fn open(path: &Path, fps: f64, realtime: bool) -> Result<Self> {
        if !(fps > 0.0 && fps <= 60.0) {
            return Err(Error::invalid(format!(
                "analysis rate {fps} fps is outside 0 < fps <= 60"
            )));
        }
        let info = probe(path)?;
        let stderr_path = std::env::temp_dir().join(format!(
            "civitas-ffmpeg-{}-{}.log",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let stderr = std::fs::File::create(&stderr_path).map_err(|e| {
            Error::with_source(ErrorKind::Unavailable, "creating ffmpeg log file", e)
        })?;
        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-vf"])
            .arg(format!("fps={fps}"))
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| {
                Error::with_source(
                    ErrorKind::Unavailable,
                    "running ffmpeg (install it: scripts/setup)",
                    e,
                )
            })?;
        let stdout = child.stdout.take().expect("piped");
        Ok(VideoFileSource {
            path: path.to_path_buf(),
            info,
            fps,
            realtime,
            child,
            stdout,
            next_index: 0,
            started: Instant::now(),
            stderr_path: tempfile_path::TempPath(stderr_path),
        })
    }

    pub fn info(&self) -> VideoInfo {
        self.info
    }

    fn ffmpeg_errors(&self) -> String {
        std::fs::read_to_string(&self.stderr_path.0)
            .unwrap_or_default()
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl FrameSource for VideoFileSource {
    fn next_frame(&mut self) -> Result<Option<SourcedFrame>> {
        let n = self.info.width_px as usize * self.info.height_px as usize * 3;
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.stdout.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::with_source(
                        ErrorKind::DataLoss,
                        format!("{}: reading decoded frames", self.path.display()),
                        e,
                    ));
                }
            }
        }
        if got < n {
            let status = self.child.wait().ok();
            let errors = self.ffmpeg_errors();
            if got > 0 || !status.is_some_and(|s| s.success()) {
                if self.next_index == 0 {
                    return Err(Error::new(
                        ErrorKind::InvalidArgument,
                        format!(
                            "{}: could not decode any frame ({errors})",
                            self.path.display()
                        ),
                    ));
                }
                tracing::warn!(file = %self.path.display(), frames = self.next_index, errors = %errors,
                    "video ended early: the file is truncated or corrupt; frames before the fault were analysed");
            } else if !errors.is_empty() {
                tracing::warn!(file = %self.path.display(), errors = %errors, "decoder reported errors; damaged frames were skipped");
            }
            return Ok(None);
        }
        let index = self.next_index;
        self.next_index += 1;
        let offset_ms = (index as f64 * 1000.0 / self.fps).round() as i64;
        if self.realtime {
            let due = std::time::Duration::from_millis(offset_ms as u64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        Ok(Some(SourcedFrame {
            arrived: std::time::Instant::now(),
            image: RgbImage::new(self.info.width_px, self.info.height_px, buf)?,
            offset_ms,
            index,
            label: self.path.display().to_string(),
        }))
    }

    fn len_hint(&self) -> Option<u64> {
        self.info
            .duration_ms
            .map(|d| ((d as f64 / 1000.0) * self.fps).ceil() as u64)
    }
}

impl Drop for VideoFileSource {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
