//! RTSP cameras: `retina` (pure-Rust RTSP client) for the session, `openh264`
//! (or libavcodec, per camera) for H.264 and libavcodec for H.265, sampled to the analysis rate. The camera runs on its own
//! thread with its own single-threaded tokio runtime; it reconnects with
//! exponential backoff and jitter and publishes its health (online, degraded,
//! offline, with the last error in words). Credentials never appear in an
//! error or a log line: URLs are masked.

use crate::avcodec::H264Backend;
use crate::mp4::TrackParams;
use crate::recorder::RecorderInput;
use crate::{FrameSource, SourcedFrame};
use civitas_base::{Error, ErrorKind, Result};
use civitas_model::RgbImage;
use futures_util::StreamExt;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A camera's state (one definition, in `civitas-model`).
pub use civitas_model::CameraState;

/// Health shared between the camera thread and the rest of the system.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraHealth {
    pub state: CameraState,
    /// The last error, in words, naming the camera and the fault (no credentials).
    pub last_error: Option<String>,
    pub reconnects: u64,
    pub frames_decoded: u64,
    pub frames_sampled: u64,
    pub decode_errors: u64,
}

impl CameraHealth {
    /// A camera not yet delivering frames.
    pub fn connecting() -> CameraHealth {
        CameraHealth {
            state: CameraState::Connecting,
            last_error: None,
            reconnects: 0,
            frames_decoded: 0,
            frames_sampled: 0,
            decode_errors: 0,
        }
    }
}

/// A shared handle to a camera's health, readable from any thread.
#[derive(Debug, Clone)]
pub struct HealthHandle(pub(crate) Arc<Mutex<CameraHealth>>);

impl HealthHandle {
    pub fn get(&self) -> CameraHealth {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Replaces `user:password@` in a URL with `***@`. The credentials end at
/// the **last** `@`: a password may itself hold `@`, `/` or `?`, and cutting
/// at the first `@` once showed the password's tail.
/// When unsure this masks too much, never too little.
pub fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &url[..s + 3], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// RTP transport: interleaved in the RTSP TCP connection (default, passes
/// NAT and firewalls) or UDP (lower latency on a clean LAN).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
}

/// An RTSP camera as a blocking frame source.
#[derive(Debug)]
pub struct RtspSource {
    rx: Receiver<SourcedFrame>,
    health: Arc<Mutex<CameraHealth>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtspSource {
    /// Starts the camera thread, decoding H.264 with openh264. Returns at once;
    /// frames arrive as the camera delivers them.
    pub fn start(camera: &str, url: &str, fps: f64, transport: Transport) -> Result<RtspSource> {
        Self::start_with(camera, url, fps, transport, H264Backend::default())
    }

    /// [`RtspSource::start`] with the H.264 decoder chosen.
    pub fn start_with(
        camera: &str,
        url: &str,
        fps: f64,
        transport: Transport,
        h264: H264Backend,
    ) -> Result<RtspSource> {
        Self::start_recording(camera, url, fps, transport, h264, None)
    }

    /// [`RtspSource::start_with`], handing every encoded picture to a recorder.
    pub fn start_recording(
        camera: &str,
        url: &str,
        fps: f64,
        transport: Transport,
        h264: H264Backend,
        recorder: Option<RecorderInput>,
    ) -> Result<RtspSource> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid(format!(
                "camera {camera}: URL {} is not valid ({e})",
                mask_url(url)
            ))
        })?;
        if parsed.scheme() != "rtsp" {
            return Err(Error::invalid(format!(
                "camera {camera}: URL {} is not rtsp://",
                mask_url(url)
            )));
        }
        let health = Arc::new(Mutex::new(CameraHealth::connecting()));
        // Two frames of slack: a slow analyser sees the newest frames, not a growing backlog.
        let (tx, rx) = sync_channel(2);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (h, s, cam) = (health.clone(), stop.clone(), camera.to_owned());
        let thread = std::thread::Builder::new()
            .name(format!("rtsp-{camera}"))
            .spawn(move || camera_thread(cam, parsed, fps, transport, h264, recorder, tx, h, s))
            .map_err(|e| Error::internal(format!("camera {camera}: cannot start thread: {e}")))?;
        Ok(RtspSource {
            rx,
            health,
            stop,
            thread: Some(thread),
        })
    }

    pub fn health(&self) -> CameraHealth {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The next frame, waiting at most `timeout`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<SourcedFrame> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl FrameSource for RtspSource {
    fn next_frame(&mut self) -> Result<Option<SourcedFrame>> {
        Ok(self.rx.recv().ok())
    }

    fn health(&self) -> Option<HealthHandle> {
        Some(HealthHandle(self.health.clone()))
    }
}

impl Drop for RtspSource {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn set(h: &Mutex<CameraHealth>, f: impl FnOnce(&mut CameraHealth)) {
    f(&mut h.lock().unwrap_or_else(|p| p.into_inner()));
}

#[allow(clippy::too_many_arguments)]
fn camera_thread(
    camera: String,
    url: url::Url,
    fps: f64,
    transport: Transport,
    h264: H264Backend,
    mut recorder: Option<RecorderInput>,
    tx: SyncSender<SourcedFrame>,
    health: Arc<Mutex<CameraHealth>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            set(&health, |h| {
                h.last_error = Some(format!("camera {camera}: no runtime: {e}"))
            });
            return;
        }
    };
    let started = Instant::now();
    let mut backoff = Duration::from_millis(250);
    let mut index = 0u64;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let r = rt.block_on(session(
            &camera,
            &url,
            fps,
            transport,
            h264,
            recorder.as_mut(),
            &tx,
            &health,
            &stop,
            started,
            &mut index,
        ));
        if let Some(rec) = recorder.as_mut() {
            rec.stream_ended();
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let msg = match r {
            Ok(()) => format!("camera {camera}: stream ended"),
            Err(e) => e.message().to_owned(),
        };
        tracing::warn!(camera = %camera, error = %msg, "camera offline; reconnecting");
        set(&health, |h| {
            h.state = CameraState::Offline;
            h.last_error = Some(msg);
            h.reconnects += 1;
        });
        // Exponential backoff with ±25% jitter, capped at 4 s so a camera is back within 5 s of its return.
        let jitter = 0.75 + 0.5 * (started.elapsed().subsec_nanos() as f64 / 1e9);
        let wait = backoff.mul_f64(jitter);
        let until = Instant::now() + wait;
        while Instant::now() < until && !stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        backoff = (backoff * 2).min(Duration::from_secs(4));
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    camera: &str,
    url: &url::Url,
    fps: f64,
    transport: Transport,
    h264: H264Backend,
    mut recorder: Option<&mut RecorderInput>,
    tx: &SyncSender<SourcedFrame>,
    health: &Mutex<CameraHealth>,
    stop: &std::sync::atomic::AtomicBool,
    started: Instant,
    index: &mut u64,
) -> Result<()> {
    use retina::client::{PlayOptions, Session, SessionOptions, SetupOptions};
    let masked = mask_url(url.as_str());
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "camera {camera} ({masked}): {what}: {}",
                // retina's errors add connection details on further lines; the first says what failed.
                mask_url(e.to_string().lines().next().unwrap_or(""))
            ),
        )
    };
    let creds = (!url.username().is_empty()).then(|| retina::client::Credentials {
        username: url.username().to_owned(),
        password: url.password().unwrap_or("").to_owned(),
    });
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    let opts = SessionOptions::default()
        .creds(creds)
        .user_agent("civitas".into());
    let mut s = tokio::time::timeout(Duration::from_secs(5), Session::describe(clean, opts))
        .await
        .map_err(|_| fail("no answer to DESCRIBE within 5 s", &"timeout"))?
        .map_err(|e| fail("DESCRIBE failed", &e))?;
    let video = s
        .streams()
        .iter()
        .position(|st| st.media() == "video" && matches!(st.encoding_name(), "h264" | "h265"))
        .ok_or_else(|| {
            let found: Vec<String> = s
                .streams()
                .iter()
                .map(|st| format!("{}/{}", st.media(), st.encoding_name()))
                .collect();
            fail(
                "no H.264 or H.265 video stream in the SDP",
                &format!("found {}", found.join(", ")),
            )
        })?;
    let codec = s.streams()[video].encoding_name().to_owned();
    let t = match transport {
        Transport::Tcp => retina::client::Transport::Tcp(Default::default()),
        Transport::Udp => retina::client::Transport::Udp(Default::default()),
    };
    // MP4 framing (length-prefixed, parameter sets out of band): what a
    // recording stores as is; the decoders get Annex B with the parameter
    // sets before every key frame ([`crate::mp4::to_annex_b`]).
    let setup = SetupOptions::default()
        .transport(t)
        .frame_format(retina::codec::FrameFormat::MP4);
    s.setup(video, setup)
        .await
        .map_err(|e| fail("SETUP failed", &e))?;
    let mut s = s
        .play(PlayOptions::default())
        .await
        .map_err(|e| fail("PLAY failed", &e))?
        .demuxed()
        .map_err(|e| fail("demuxing", &e))?;
    let mut dec = crate::avcodec::VideoDecoder::for_codec(&codec, h264)
        .map_err(|e| fail("starting the decoder", &e))?;
    let period = Duration::from_secs_f64(1.0 / fps.max(0.01));
    let mut next_due = Instant::now();
    let mut rgb = Vec::new();
    let mut annex_b = Vec::new();
    let mut consecutive_errors = 0u32;
    let mut params = stream_params(&s, video);
    if let (Some(r), Some(p)) = (recorder.as_deref_mut(), &params) {
        r.params(p.track.clone());
    }
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let item = match tokio::time::timeout(Duration::from_secs(3), s.next()).await {
            Err(_) => return Err(fail("no frame for 3 s", &"stalled")),
            Ok(None) => return Ok(()),
            Ok(Some(Err(e))) => return Err(fail("stream error", &e)),
            Ok(Some(Ok(i))) => i,
        };
        let arrived = Instant::now();
        let retina::codec::CodecItem::VideoFrame(f) = item else {
            continue;
        };
        if f.has_new_parameters() || params.is_none() {
            params = stream_params(&s, video);
            if let (Some(r), Some(p)) = (recorder.as_deref_mut(), &params) {
                r.params(p.track.clone());
            }
        }
        // retina flags only IDR pictures; an H.265 CRA (x265's default, open
        // groups of pictures) starts a group as well.
        let key =
            f.is_random_access_point() || (codec == "h265" && crate::mp4::has_h265_irap(f.data()));
        let sets: Vec<&[u8]> = match (&params, key) {
            (Some(p), true) => p.sets.iter().map(Vec::as_slice).collect(),
            _ => Vec::new(),
        };
        crate::mp4::to_annex_b(f.data(), &sets, &mut annex_b);
        if let Some(r) = recorder.as_deref_mut() {
            r.frame(crate::recorder::EncodedFrame {
                wall_ms: civitas_base::Clock::now(&civitas_base::SystemClock).0,
                sample: crate::mp4::Sample {
                    pts: f.timestamp().timestamp(),
                    keyframe: key,
                    data: f.into_data(),
                },
            });
        }
        // Convert to RGB only the frames that will be analysed.
        let due = Instant::now() >= next_due;
        match dec.decode(&annex_b, due.then_some(&mut rgb)) {
            Ok(Some((w, h))) => {
                consecutive_errors = 0;
                set(health, |hh| {
                    hh.frames_decoded += 1;
                    hh.state = CameraState::Online;
                });
                if !due {
                    continue;
                }
                let now = Instant::now();
                next_due += period;
                if next_due < now {
                    next_due = now + period;
                }
                let Ok(image) = RgbImage::new(w as u32, h as u32, rgb.clone()) else {
                    continue;
                };
                let frame = SourcedFrame {
                    arrived,
                    image,
                    offset_ms: started.elapsed().as_millis() as i64,
                    index: *index,
                    label: format!("camera {camera}"),
                };
                *index += 1;
                set(health, |hh| hh.frames_sampled += 1);
                match tx.try_send(frame) {
                    Ok(()) | Err(TrySendError::Full(_)) => {}
                    Err(TrySendError::Disconnected(_)) => return Ok(()),
                }
            }
            Ok(None) => {}
            Err(e) => {
                consecutive_errors += 1;
                set(health, |h| {
                    h.decode_errors += 1;
                    h.state = CameraState::Degraded;
                    h.last_error = Some(format!(
                        "camera {camera} ({masked}): {} decode error: {e}",
                        dec.name()
                    ));
                });
                if consecutive_errors > 50 {
                    return Err(fail(
                        &format!("the {} stream is undecodable", dec.name()),
                        &e,
                    ));
                }
            }
        }
    }
}

/// A stream's parameters: the recording's track header and the decoders' parameter sets.
struct StreamParams {
    track: TrackParams,
    sets: Vec<Vec<u8>>,
}

fn stream_params(s: &retina::client::Demuxed, video: usize) -> Option<StreamParams> {
    use retina::codec::{ParametersRef, VideoParametersCodec};
    let Some(ParametersRef::Video(v)) = s.streams().get(video)?.parameters() else {
        return None;
    };
    let sets = match v.codec_params() {
        VideoParametersCodec::H264 { sps, pps } => vec![sps.to_vec(), pps.to_vec()],
        VideoParametersCodec::H265 { vps, sps, pps } => {
            vec![vps.to_vec(), sps.to_vec(), pps.to_vec()]
        }
        _ => return None,
    };
    let (width, height) = v.pixel_dimensions();
    Some(StreamParams {
        track: TrackParams {
            sample_entry: v.mp4_sample_entry().build().ok()?,
            width,
            height,
        },
        sets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked() {
        assert_eq!(
            mask_url("rtsp://admin:hunter2@10.0.0.5:554/s"),
            "rtsp://***@10.0.0.5:554/s"
        );
        assert_eq!(mask_url("rtsp://10.0.0.5/s"), "rtsp://10.0.0.5/s");
        // A password holding `@` or `/` leaks nothing of itself.
        for url in [
            "rtsp://admin:p@ss@w0rd@10.0.0.5:554/s",
            "rtsp://admin:se/cr@t@10.0.0.5/s?x=1",
            "rtsp://admin:ss?cr@10.0.0.5:554/s",
        ] {
            let m = mask_url(url);
            assert_eq!(m.split('@').count(), 2, "{m}");
            assert!(
                !m.contains("ss") && !m.contains("w0rd") && !m.contains("cr"),
                "{m}"
            );
            assert!(
                m.ends_with("10.0.0.5:554/s") || m.ends_with("10.0.0.5/s?x=1"),
                "{m}"
            );
        }
    }
}
