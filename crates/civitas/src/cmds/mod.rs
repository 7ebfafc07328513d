//! One module per subcommand.

pub mod analyze;
pub mod bench;
pub mod candidates;
pub mod enroll;
pub mod eval;
pub mod models;
pub mod run;
