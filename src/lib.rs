//! cachetop: see what a CI runner's build caches hold, and evict the bad ones safely.
//!
//! The pure parts (model, policy, selectors, plans, output) are separate from the
//! I/O (sources, commands) so they can be tested without daemons or terminals.

pub mod children;
pub mod cli;
pub mod cmd;
pub mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod inventory;
pub(crate) mod lint;
pub mod model;
pub mod policy;
pub mod prune;
pub mod repair;
pub mod report;
pub mod safe_remove;
pub mod scan;
pub mod sources;
pub mod terminal_text;
pub mod tui;
pub mod units;
