//! Recording a camera's encoded stream: a ring buffer of the last groups of
//! pictures (pre-roll) and, on an event or continuously, fragmented MP4 files
//! ([`crate::mp4`]) with no re-encoding. The camera thread hands each encoded
//! picture over a bounded channel and never waits on the disk; the recorder
//! runs on its own thread per camera.
//!
//! Files are written as `DIR/CAMERA/START_MS-KIND.mp4.part` and renamed to
//! `.mp4` when closed; [`recover_dir`] repairs the `.part` files a crash left
//! (truncated to the last complete fragment, or reported). A write error (a
//! full disk) stops this camera's recording with the error in its health, cuts
//! the file back to its last complete fragment, and touches no other file.
//! (Over 600 lines with its tests: the state machine, the pre-roll ring and
//! the crash repair are tested together against a fake file system.)

use crate::mp4::{self, Sample, TrackParams};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// When a camera is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Not recorded.
    #[default]
    Off,
    /// Clips around events (a candidate, a plate read), with pre- and post-roll.
    Events,
    /// Everything, in segments.
    Continuous,
}

/// A camera's recording settings.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub camera: String,
    /// The recordings directory; this camera's files go in `dir/camera/`.
    pub dir: PathBuf,
    pub mode: Mode,
    pub pre_roll: Duration,
    pub post_roll: Duration,
    /// How late an event may arrive after the frame it is about (analysis
    /// decides a few seconds after the first match; a plate pass ends when
    /// the vehicle has gone): the buffer holds this much beyond the pre-roll.
    pub event_delay: Duration,
    /// Continuous mode: a new file at the first key frame after this long.
    pub segment: Duration,
}

/// One encoded picture, as the camera delivered it.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    pub sample: Sample,
    /// Wall-clock time it arrived (Unix milliseconds).
    pub wall_ms: i64,
}

/// A file the recorder opened or finished, for the index in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A file is being written.
    Opened {
        path: PathBuf,
        start_ms: i64,
        kind: &'static str,
    },
    /// A file is complete and closed.
    Closed {
        path: PathBuf,
        start_ms: i64,
        end_ms: i64,
        bytes: u64,
        kind: &'static str,
    },
    /// Recording stopped on an error; `kept` is what was saved of the file.
    Failed {
        path: Option<PathBuf>,
        error: String,
        kept: Option<(i64, i64, u64)>,
    },
}

/// Recorder state for operators.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecorderHealth {
    /// `idle`, `recording` or `failed`.
    pub state: String,
    pub error: Option<String>,
    pub files: u64,
    pub bytes: u64,
    /// Pictures the recorder could not keep up with (dropped to the next key frame).
    pub dropped: u64,
}

enum Msg {
    Params(TrackParams),
    Frame(EncodedFrame),
    /// The session ended (the camera dropped): the open file is finished;
    /// timestamps start over after a reconnect, so a new file starts then.
    StreamEnded,
    Trigger(i64),
    Stop,
}

/// The camera thread's end: hands pictures to the recorder without blocking.
#[derive(Debug)]
pub struct RecorderInput {
    tx: SyncSender<Msg>,
    skipping: bool,
    health: Arc<Mutex<RecorderHealth>>,
    params: Option<TrackParams>,
}

impl RecorderInput {
    /// The stream's parameters (at the start and whenever they change).
    pub fn params(&mut self, p: TrackParams) {
        if self.params.as_ref() != Some(&p) {
            self.params = Some(p.clone());
            // Parameters must not be lost: wait for room.
            let _ = self.tx.send(Msg::Params(p));
            self.skipping = true;
        }
    }

    /// The camera's session ended; a new one starts a new file.
    pub fn stream_ended(&mut self) {
        self.skipping = true;
        let _ = self.tx.send(Msg::StreamEnded);
    }

    /// One picture. If the recorder is behind, pictures are dropped up to the
    /// next key frame (a group with a hole would not decode).
    pub fn frame(&mut self, f: EncodedFrame) {
        if self.skipping && !f.sample.keyframe {
            return;
        }
        match self.tx.try_send(Msg::Frame(f)) {
            Ok(()) => self.skipping = false,
            Err(TrySendError::Full(_)) => {
                self.skipping = true;
                self.health
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .dropped += 1;
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The rest of the system's end: triggers clips, reads health.
#[derive(Debug, Clone)]
pub struct RecorderHandle {
    tx: SyncSender<Msg>,
    health: Arc<Mutex<RecorderHealth>>,
}

impl RecorderHandle {
    /// Something happened at `wall_ms` (a frame's time): keep a clip around it.
    pub fn trigger(&self, wall_ms: i64) {
        let _ = self.tx.try_send(Msg::Trigger(wall_ms));
    }

    pub fn health(&self) -> RecorderHealth {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Finishes the open file and stops the recorder thread.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

/// Opens files; a seam so tests can fill the disk.
pub trait FileSystem: Send + 'static {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn FileOut>>;
}

/// A file being written.
pub trait FileOut: Send {
    /// Appends and flushes to the disk.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// The real disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileOut for std::fs::File {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        mp4::append(self, bytes)
    }
}

impl FileSystem for RealFs {
    fn create(&self, path: &Path) -> std::io::Result<Box<dyn FileOut>> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        Ok(Box::new(
            std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .open(path)?,
        ))
    }
}

/// Where the recorder reports the files it opens and closes.
pub type Notify = Box<dyn Fn(Notice) + Send>;

/// Starts a camera's recorder thread.
pub fn start(
    cfg: RecorderConfig,
    fs: impl FileSystem,
    notices: Notify,
) -> std::io::Result<(RecorderInput, RecorderHandle, std::thread::JoinHandle<()>)> {
    // ~10 s of 25 fps video: the disk may pause; the camera never waits on it.
    let (tx, rx) = sync_channel(256);
    let health = Arc::new(Mutex::new(RecorderHealth {
        state: "idle".into(),
        ..Default::default()
    }));
    let h = health.clone();
    let thread = std::thread::Builder::new()
        .name(format!("record-{}", cfg.camera))
        .spawn(move || Recorder::new(cfg, Box::new(fs), notices, h).run(rx))?;
    Ok((
        RecorderInput {
            tx: tx.clone(),
            skipping: true,
            health: health.clone(),
            params: None,
        },
        RecorderHandle { tx, health },
        thread,
    ))
}

struct Gop {
    frames: Vec<EncodedFrame>,
    /// Whether it is in the open file already.
    written: bool,
}

impl Gop {
    fn start_ms(&self) -> i64 {
        self.frames.first().map(|f| f.wall_ms).unwrap_or(0)
    }
    fn end_ms(&self) -> i64 {
        self.frames.last().map(|f| f.wall_ms).unwrap_or(0)
    }
}

struct Open {
    out: Box<dyn FileOut>,
    path: PathBuf,
    start_ms: i64,
    end_ms: i64,
    /// Decode time of the file's first picture.
    base: i64,
    sequence: u32,
    bytes: u64,
    kind: &'static str,
}

struct Recorder {
    cfg: RecorderConfig,
    fs: Box<dyn FileSystem>,
    notices: Notify,
    health: Arc<Mutex<RecorderHealth>>,
    params: Option<TrackParams>,
    ring: VecDeque<Gop>,
    current: Option<Gop>,
    open: Option<Open>,
    /// Events mode: keep writing until this wall time.
    until_ms: Option<i64>,
    /// The wall time the last closed clip reaches: a later clip starts after
    /// it, and an event inside it needs no clip of its own.
    recorded_to_ms: Option<i64>,
    failed: bool,
}

impl Recorder {
    fn new(
        cfg: RecorderConfig,
        fs: Box<dyn FileSystem>,
        notices: Notify,
        health: Arc<Mutex<RecorderHealth>>,
    ) -> Recorder {
        Recorder {
            cfg,
            fs,
            notices,
            health,
            params: None,
            ring: VecDeque::new(),
            current: None,
            open: None,
            until_ms: None,
            recorded_to_ms: None,
            failed: false,
        }
    }

    fn set_health(&self, f: impl FnOnce(&mut RecorderHealth)) {
        f(&mut self.health.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn run(mut self, rx: Receiver<Msg>) {
        while let Ok(m) = rx.recv() {
            match m {
                Msg::Params(p) => {
                    if self.params.as_ref() != Some(&p) {
                        // A new stream configuration starts a new file.
                        self.finish_current(None);
                        self.close();
                        self.ring.clear();
                        self.params = Some(p);
                    }
                }
                Msg::Frame(f) => self.frame(f),
                Msg::StreamEnded => {
                    self.finish_current(None);
                    self.close();
                    self.ring.clear();
                    self.until_ms = None;
                }
                Msg::Trigger(at) => self.trigger(at),
                Msg::Stop => break,
            }
        }
        self.finish_current(None);
        self.close();
    }

    fn frame(&mut self, f: EncodedFrame) {
        if f.sample.keyframe {
            let next = f.sample.pts;
            self.finish_current(Some(next));
            self.current = Some(Gop {
                frames: vec![f],
                written: false,
            });
        } else if let Some(g) = &mut self.current {
            g.frames.push(f);
        }
    }

    fn trigger(&mut self, at: i64) {
        if self.cfg.mode != Mode::Events || self.failed || self.params.is_none() {
            return;
        }
        let until = at + self.cfg.post_roll.as_millis() as i64;
        if self.open.is_none() && self.recorded_to_ms.is_some_and(|e| until <= e) {
            // Announced after its clip closed (the store was slow, say), and
            // that clip already holds it with its post-roll.
            return;
        }
        self.until_ms = Some(self.until_ms.map_or(until, |u| u.max(until)));
        if self.open.is_none() {
            // Pre-roll: the buffered groups that reach into the window, after
            // what the last clip holds (a clip never repeats another's groups,
            // nor takes its file name).
            let from = (at - self.cfg.pre_roll.as_millis() as i64)
                .max(self.recorded_to_ms.map_or(i64::MIN, |e| e + 1));
            // Nothing buffered yet (the camera just started): the clip starts
            // with the group being received.
            let first = self
                .ring
                .iter()
                .position(|g| g.end_ms() >= from)
                .unwrap_or(self.ring.len());
            let start = self
                .ring
                .get(first)
                .or(self.current.as_ref())
                .map(|g| g.start_ms());
            if let Some(start) = start
                && self.open_file(start, "event")
            {
                for i in first..self.ring.len() {
                    let next = self
                        .ring
                        .get(i + 1)
                        .and_then(|g| g.frames.first())
                        .map(|f| f.sample.pts)
                        .or_else(|| {
                            self.current
                                .as_ref()
                                .and_then(|g| g.frames.first())
                                .map(|f| f.sample.pts)
                        });
                    if !self.write_gop(i, next) {
                        return;
                    }
                }
            }
        }
    }

    /// A group is complete (the next key frame arrived, or the stream ended).
    fn finish_current(&mut self, next_pts: Option<i64>) {
        let Some(g) = self.current.take() else { return };
        self.ring.push_back(g);
        let last = self.ring.len() - 1;
        let end = self.ring[last].end_ms();
        // Keep the pre-roll of an event that may still be announced, plus one
        // group for the key frame before it.
        let keep_from = end - (self.cfg.pre_roll + self.cfg.event_delay).as_millis() as i64;
        while self.ring.len() > 2 && self.ring[1].end_ms() < keep_from {
            self.ring.pop_front();
        }
        let last = self.ring.len() - 1;
        if self.failed || self.params.is_none() {
            return;
        }
        match self.cfg.mode {
            Mode::Off => {}
            Mode::Continuous => {
                if self
                    .open
                    .as_ref()
                    .is_some_and(|o| o.end_ms - o.start_ms >= self.cfg.segment.as_millis() as i64)
                {
                    self.close();
                }
                if self.open.is_none() {
                    let start = self.ring[last].start_ms();
                    if !self.open_file(start, "continuous") {
                        return;
                    }
                }
                self.write_gop(last, next_pts);
            }
            Mode::Events => {
                if self.open.is_some() {
                    if !self.write_gop(last, next_pts) {
                        return;
                    }
                    if self.until_ms.is_some_and(|u| end >= u) {
                        self.close();
                        self.until_ms = None;
                    }
                }
            }
        }
    }

    fn open_file(&mut self, start_ms: i64, kind: &'static str) -> bool {
        let Some(params) = &self.params else {
            return false;
        };
        let path = self
            .cfg
            .dir
            .join(&self.cfg.camera)
            .join(format!("{start_ms}-{kind}.mp4.part"));
        let header = mp4::header(params);
        let r = self
            .fs
            .create(&path)
            .and_then(|mut out| out.append(&header).map(|()| out));
        match r {
            Ok(out) => {
                self.open = Some(Open {
                    out,
                    path: path.clone(),
                    start_ms,
                    end_ms: start_ms,
                    base: i64::MIN,
                    sequence: 0,
                    bytes: header.len() as u64,
                    kind,
                });
                self.set_health(|h| h.state = "recording".into());
                (self.notices)(Notice::Opened {
                    path,
                    start_ms,
                    kind,
                });
                true
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                self.fail(None, &path, &e);
                false
            }
        }
    }

    /// Appends ring group `i` to the open file once. False if writing failed.
    fn write_gop(&mut self, i: usize, next_pts: Option<i64>) -> bool {
        let Some(o) = &mut self.open else {
            return true;
        };
        let g = &mut self.ring[i];
        if g.written || g.frames.is_empty() {
            return true;
        }
        let samples: Vec<&Sample> = g.frames.iter().map(|f| &f.sample).collect();
        if o.base == i64::MIN {
            o.base = samples.iter().map(|s| s.pts).min().unwrap_or(0);
        }
        o.sequence += 1;
        let bytes = mp4::fragment(o.sequence, o.base, &samples, next_pts);
        drop(samples);
        match o.out.append(&bytes) {
            Ok(()) => {
                g.written = true;
                o.bytes += bytes.len() as u64;
                o.end_ms = g.end_ms();
                let n = bytes.len() as u64;
                self.set_health(|h| h.bytes += n);
                true
            }
            Err(e) => {
                let o = self.open.take();
                let path = o.as_ref().map(|o| o.path.clone()).unwrap_or_default();
                self.fail(o, &path, &e);
                false
            }
        }
    }

    /// Stops recording this camera: the file is cut back to its last complete
    /// fragment and kept if anything is left.
    fn fail(&mut self, open: Option<Open>, path: &Path, e: &std::io::Error) {
        let error = format!(
            "camera {}: recording stopped: writing {} failed: {e}",
            self.cfg.camera,
            path.display()
        );
        tracing::error!(camera = %self.cfg.camera, error = %error, "recording failed");
        let mut kept = None;
        let mut saved = None;
        if let Some(o) = open {
            drop(o.out);
            if let Ok(s) = mp4::recover(&o.path) {
                let done = final_path(&o.path);
                if std::fs::rename(&o.path, &done).is_ok() {
                    kept = Some((o.start_ms, o.start_ms + s.duration_ms, s.valid_bytes));
                    saved = Some(done);
                }
            } else {
                let _ = std::fs::remove_file(&o.path);
            }
        }
        self.failed = true;
        self.set_health(|h| {
            h.state = "failed".into();
            h.error = Some(error.clone());
        });
        (self.notices)(Notice::Failed {
            path: saved,
            error,
            kept,
        });
    }

    fn close(&mut self) {
        let Some(o) = self.open.take() else { return };
        drop(o.out);
        self.recorded_to_ms = Some(o.end_ms);
        let done = final_path(&o.path);
        if let Err(e) = std::fs::rename(&o.path, &done) {
            tracing::error!(path = %o.path.display(), error = %e, "closing a recording");
            return;
        }
        self.set_health(|h| {
            h.files += 1;
            h.state = "idle".into();
        });
        (self.notices)(Notice::Closed {
            path: done,
            start_ms: o.start_ms,
            end_ms: o.end_ms,
            bytes: o.bytes,
            kind: o.kind,
        });
    }
}

fn final_path(part: &Path) -> PathBuf {
    part.with_extension("")
}

/// A file found at start-up that a crash left open.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub camera: String,
    /// The repaired file (renamed from `.part`), or `None` if nothing in it could be kept.
    pub path: Option<PathBuf>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: u64,
    /// Bytes of the interrupted fragment that were cut.
    pub cut_bytes: u64,
    pub error: Option<String>,
}

/// Repairs every `.part` file under `dir/CAMERA/`: truncated to its last
/// complete fragment and renamed, or removed and reported when nothing in it
/// is complete.
pub fn recover_dir(dir: &Path) -> Vec<Recovered> {
    let mut out = Vec::new();
    let Ok(cams) = std::fs::read_dir(dir) else {
        return out;
    };
    for cam in cams.flatten() {
        let Ok(files) = std::fs::read_dir(cam.path()) else {
            continue;
        };
        for f in files.flatten() {
            let path = f.path();
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".mp4.part") else {
                continue;
            };
            let start_ms = stem
                .split('-')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let camera = cam.file_name().to_string_lossy().into_owned();
            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
            match mp4::recover(&path) {
                Ok(s) => {
                    let done = final_path(&path);
                    let r = std::fs::rename(&path, &done);
                    out.push(Recovered {
                        camera,
                        path: r.is_ok().then_some(done),
                        start_ms,
                        end_ms: start_ms + s.duration_ms,
                        bytes: s.valid_bytes,
                        cut_bytes: s.trailing_bytes,
                        error: r.err().map(|e| e.to_string()),
                    });
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    out.push(Recovered {
                        camera,
                        path: None,
                        start_ms,
                        end_ms: start_ms,
                        bytes: 0,
                        cut_bytes: size,
                        error: Some(e.to_string()),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> TrackParams {
        let mut entry = 86u32.to_be_bytes().to_vec();
        entry.extend_from_slice(b"avc1");
        entry.resize(86, 0);
        TrackParams {
            sample_entry: entry,
            width: 64,
            height: 48,
        }
    }

    /// 1 s groups at 10 fps; frame `i` at wall time `i * 100` ms.
    fn frame(i: i64) -> EncodedFrame {
        let mut data = 96u32.to_be_bytes().to_vec();
        data.resize(100, i as u8);
        EncodedFrame {
            sample: Sample {
                pts: i * 9000,
                keyframe: i % 10 == 0,
                data,
            },
            wall_ms: i * 100,
        }
    }

    fn cfg(dir: &Path, mode: Mode) -> RecorderConfig {
        RecorderConfig {
            camera: "gate".into(),
            dir: dir.to_owned(),
            mode,
            pre_roll: Duration::from_secs(2),
            post_roll: Duration::from_secs(2),
            event_delay: Duration::ZERO,
            segment: Duration::from_secs(5),
        }
    }

    fn notify(tx: std::sync::mpsc::Sender<Notice>) -> Notify {
        Box::new(move |n| {
            let _ = tx.send(n);
        })
    }

    fn drain(rx: &std::sync::mpsc::Receiver<Notice>) -> Vec<Notice> {
        rx.try_iter().collect()
    }

    #[test]
    fn an_event_clip_has_its_pre_and_post_roll_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut r = Recorder::new(
            cfg(dir.path(), Mode::Events),
            Box::new(RealFs),
            notify(tx),
            Default::default(),
        );
        r.params = Some(params());
        for i in 0..100 {
            r.frame(frame(i));
            if i == 55 {
                r.trigger(5_500);
            }
        }
        r.finish_current(None);
        r.close();
        // An event announced 3 s after its frame still gets its pre-roll.
        r.cfg.event_delay = Duration::from_secs(4);
        for i in 100..160 {
            r.frame(frame(i));
            if i == 150 {
                r.trigger(11_500);
            }
        }
        r.finish_current(None);
        r.close();
        let n = drain(&rx);
        let Some(Notice::Closed {
            path,
            start_ms,
            end_ms,
            ..
        }) = n
            .iter()
            .find(|n| matches!(n, Notice::Closed { .. }))
            .cloned()
        else {
            panic!("{n:?}")
        };
        // From the key frame at or before 3.5 s, to the end of the group holding 7.5 s.
        assert_eq!((start_ms, end_ms), (3_000, 7_900), "{n:?}");
        let s = mp4::summarise(&path).unwrap();
        assert_eq!((s.fragments, s.samples, s.trailing_bytes), (5, 50, 0));
        assert_eq!(s.duration_ms, 5_000);
        assert!(!dir.path().join("gate").join("3000-event.mp4.part").exists());
    }

    #[test]
    fn an_event_announced_after_its_clip_closed_is_not_recorded_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut r = Recorder::new(
            cfg(dir.path(), Mode::Events),
            Box::new(RealFs),
            notify(tx),
            Default::default(),
        );
        r.params = Some(params());
        // Events may be announced up to 4 s late, so the ring keeps them.
        r.cfg.event_delay = Duration::from_secs(4);
        for i in 0..130 {
            r.frame(frame(i));
            if i == 55 {
                r.trigger(5_500);
            }
            // The first clip (3 s to 7.9 s) has closed. An event at 5.6 s,
            // announced late, lies inside it: no new clip.
            if i == 85 {
                r.trigger(5_600);
            }
            // An event at 6.5 s, later still, needs 2 s past the clip: a
            // clip of its own from the group after it, not the same groups
            // again under the same name.
            if i == 95 {
                r.trigger(6_500);
            }
        }
        r.finish_current(None);
        r.close();
        let closed: Vec<(PathBuf, i64, i64)> = drain(&rx)
            .into_iter()
            .filter_map(|n| match n {
                Notice::Closed {
                    path,
                    start_ms,
                    end_ms,
                    ..
                } => Some((path, start_ms, end_ms)),
                _ => None,
            })
            .collect();
        let gate = dir.path().join("gate");
        assert_eq!(
            closed,
            vec![
                (gate.join("3000-event.mp4"), 3_000, 7_900),
                (gate.join("8000-event.mp4"), 8_000, 9_900)
            ]
        );
        // The first clip is whole: nothing overwrote it.
        let first = mp4::summarise(&closed[0].0).unwrap();
        assert_eq!((first.fragments, first.samples), (5, 50));
    }

    #[test]
    fn continuous_recording_is_cut_into_segments_at_key_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut r = Recorder::new(
            cfg(dir.path(), Mode::Continuous),
            Box::new(RealFs),
            notify(tx),
            Default::default(),
        );
        r.params = Some(params());
        for i in 0..120 {
            r.frame(frame(i));
        }
        r.finish_current(None);
        r.close();
        let closed: Vec<(i64, i64)> = drain(&rx)
            .into_iter()
            .filter_map(|n| match n {
                Notice::Closed {
                    start_ms, end_ms, ..
                } => Some((start_ms, end_ms)),
                _ => None,
            })
            .collect();
        assert_eq!(closed, vec![(0, 5_900), (6_000, 11_900)]);
    }

    struct FullAfter(Arc<Mutex<u64>>);
    struct FullFile(Arc<Mutex<u64>>, std::fs::File);
    impl FileOut for FullFile {
        fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let mut left = self.0.lock().unwrap();
            if (bytes.len() as u64) > *left {
                // Like a full disk: part of the write lands, then ENOSPC.
                let n = *left as usize;
                std::io::Write::write_all(&mut self.1, &bytes[..n])?;
                *left = 0;
                return Err(std::io::Error::from_raw_os_error(28));
            }
            *left -= bytes.len() as u64;
            std::io::Write::write_all(&mut self.1, bytes)
        }
    }
    impl FileSystem for FullAfter {
        fn create(&self, path: &Path) -> std::io::Result<Box<dyn FileOut>> {
            std::fs::create_dir_all(path.parent().unwrap())?;
            Ok(Box::new(FullFile(
                self.0.clone(),
                std::fs::File::create(path)?,
            )))
        }
    }

    #[test]
    fn a_full_disk_stops_this_cameras_recording_and_keeps_what_was_complete() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other.mp4");
        std::fs::write(&other, b"another camera's file").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let health = Arc::new(Mutex::new(RecorderHealth::default()));
        let mut r = Recorder::new(
            cfg(dir.path(), Mode::Continuous),
            Box::new(FullAfter(Arc::new(Mutex::new(3_500)))),
            notify(tx),
            health.clone(),
        );
        r.params = Some(params());
        for i in 0..80 {
            r.frame(frame(i));
        }
        let n = drain(&rx);
        let Some(Notice::Failed { path, error, kept }) = n.last().cloned() else {
            panic!("{n:?}")
        };
        assert!(error.contains("No space left on device"), "{error}");
        assert!(error.contains("camera gate: recording stopped"), "{error}");
        let path = path.expect("the complete fragments are kept");
        let s = mp4::summarise(&path).unwrap();
        assert_eq!(s.trailing_bytes, 0);
        assert!(s.fragments >= 1, "{s:?}");
        assert_eq!(kept.unwrap().2, s.valid_bytes);
        let h = health.lock().unwrap().clone();
        assert_eq!(h.state, "failed");
        // Nothing else is touched, and recording stays stopped.
        assert_eq!(std::fs::read(&other).unwrap(), b"another camera's file");
        for i in 80..120 {
            r.frame(frame(i));
        }
        assert!(drain(&rx).is_empty());
    }

    #[test]
    fn a_crash_leaves_a_part_file_that_start_up_repairs() {
        let dir = tempfile::tempdir().unwrap();
        let cam = dir.path().join("gate");
        std::fs::create_dir_all(&cam).unwrap();
        let mut bytes = mp4::header(&params());
        let s: Vec<Sample> = (0..10).map(|i| frame(i).sample).collect();
        bytes.extend(mp4::fragment(1, 0, &s, Some(90_000)));
        let good = bytes.len() as u64;
        bytes.extend(&mp4::fragment(2, 0, &s, None)[..200]);
        std::fs::write(cam.join("1000-continuous.mp4.part"), &bytes).unwrap();
        std::fs::write(cam.join("2000-event.mp4.part"), b"\0\0\0\x10ftyp").unwrap();
        let mut r = recover_dir(dir.path());
        r.sort_by_key(|r| r.start_ms);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].path.as_deref(),
            Some(cam.join("1000-continuous.mp4").as_path())
        );
        assert_eq!(
            (r[0].bytes, r[0].cut_bytes, r[0].end_ms),
            (good, 200, 2_000)
        );
        assert!(
            r[1].path.is_none()
                && r[1]
                    .error
                    .as_deref()
                    .unwrap()
                    .contains("no complete fragment")
        );
        assert!(!cam.join("2000-event.mp4.part").exists());
    }
}
