//! Output for people (tables) and for programs (versioned JSON): the report, and the
//! plans and outcomes of prune and repair, built from the parts they share (`run`).

pub mod json;
pub mod origins;
pub(crate) mod prometheus;
pub mod prune;
pub(crate) mod repair;
pub(crate) mod run;
pub(crate) mod table;
