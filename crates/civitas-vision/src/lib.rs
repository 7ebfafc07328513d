//! Civitas vision: everything that turns pixels into faces and templates.
//!
//! - [`runtime`]: ONNX Runtime, loaded from the PyPI wheel's shared library.
//! - [`detect`], [`scrfd`]: face detectors behind the [`detect::FaceDetector`] trait.
//! - [`align`]: similarity alignment to the embedder's 150 × 150 chip.
//! - [`embed`]: the dlib ResNet embedder (converted to ONNX by [`dlib_convert`]).
//! - [`watchlist`]: exact in-memory 1:N search that answers "unknown" for strangers.
//!
//! This crate knows nothing of SQL, HTTP or cameras: frames come in as
//! [`civitas_model::RgbImage`], results go out as plain values.

pub mod align;
pub mod anpr;
pub mod blazeface;
pub mod detect;
pub mod dlib_convert;
pub mod embed;
pub mod onnx_proto;
pub mod plate_detect;
pub mod plate_reader;
pub mod runtime;
pub mod scrfd;
pub mod watchlist;

/// Plate text rules live with the domain types (the store needs them too).
pub use civitas_model::plate_text;
pub use detect::{DetectorConfig, FaceDetector};
pub use embed::{EmbedderConfig, FaceEmbedder};
pub use scrfd::Scrfd;
pub use watchlist::WatchlistIndex;
