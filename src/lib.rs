//! cachetop: see what a CI runner's build caches hold, and evict the bad ones safely.
//!
//! The pure parts (model, policy, selectors, plans, output) are separate from the
//! I/O (sources, commands) so they can be tested without daemons or terminals.

// Library code reports failures as errors, never by panicking; tests may.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod children;
pub mod cli;
pub mod cmd;
pub mod config;
// A fuzz target reports a broken property by panicking: that is its whole job.
pub mod filesystems;
#[cfg(feature = "fuzzing")]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod fuzzing;
pub mod inventory;
pub(crate) mod lint;
pub mod model;
pub mod plan;
pub mod policy;
pub mod prune;
pub mod repair;
pub mod report;
pub(crate) mod safe_remove;
pub mod scan;
pub mod sources;
pub mod terminal_text;
pub mod tui;
pub mod units;
