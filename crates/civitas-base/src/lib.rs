//! Foundations shared by every Civitas crate: one error type with a small kind,
//! clocks (real and simulated, so tests replay clips deterministically) and
//! tracing set-up, and `wire_enum!` for names that cross a boundary.
//!
//! Nothing here knows about video, SQL or HTTP.

pub mod clock;
pub mod error;
pub mod logging;
pub mod testing;
pub mod wire;

pub use clock::{Clock, SimClock, SystemClock, Timestamp};
pub use error::{Error, ErrorKind, Result, ResultExt};
