//! One module per subcommand.

pub mod admin;
pub mod analyze;
pub mod audit;
pub mod bus;
pub mod camera;
pub mod candidates;
pub mod enroll;
pub mod eval;
pub mod evidence;
pub mod identify;
pub mod models;
pub mod plates;
pub mod report;
pub mod retention;
pub mod review;
pub mod run;
pub mod serve;
pub mod token;
pub mod worker;
