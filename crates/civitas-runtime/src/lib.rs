//! The running system as a library. Everything `civitas run`, `civitas
//! serve` and `civitas worker` run lives here; the binary only parses
//! arguments and prints.
//!
//! A frame's path, top-down: [`camera`] opens a camera and runs it on its own
//! thread through the pipeline (`civitas-pipeline`), which publishes events
//! on a bus; [`writer::Writer`] applies each event to the store (with its
//! audit entry) and hands it to [`bridge`], which updates the command
//! centre's live state; [`http`] serves that state; [`recording`] and
//! [`mqtt`] are sinks beside the writer; [`evidence`] exports a case.
//! [`engine`] is the composition root: it builds each of those from the
//! configuration.

pub mod bridge;
pub mod camera;
pub mod engine;
pub mod evidence;
pub mod http;
pub mod mqtt;
pub mod recording;
pub mod retention;
pub mod writer;
