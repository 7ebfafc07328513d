//! Civitas pipeline: sources → analysers → matchers → sinks. (Its
//! configuration is read by `civitas-config`, which builds nothing.)
//!
//! - [`face`]: the face analyser + matcher stage (detect → align → embed → 1:N search).
//! - [`plate`]: the plate stage (read → follow per pass → vote → hotlist match).
//! - [`motion`]: the cheap motion gate before the detectors.
//! - [`track`]: follows faces across frames so one passer-by yields one candidate.
//! - [`bus`]: the event bus joining stages (in-process here; NATS JetStream at scale).
//! - [`runner`]: drives a frame source through a pipeline onto the bus.
//! - [`stats`]: per-stage timing, for `civitas bench` and metrics.

pub mod bus;
pub mod face;
pub mod motion;
pub mod plate;
pub mod runner;
pub mod stats;
pub mod track;

pub use bus::{Bus, Event, InProcessBus};
pub use face::{FacePipeline, FrameOutcome, Watchlist};
pub use plate::{CameraHotlist, PlatePipeline};
