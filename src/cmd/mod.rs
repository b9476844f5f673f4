//! The commands behind the CLI. These are the edges: they read the clock, the
//! terminal and the sources, and turn failures into exit codes.

pub mod confirm;
pub mod prune;
pub mod repair;
pub mod report;
pub mod screen;

use std::collections::HashSet;
use std::process::ExitCode;

use chrono::Utc;

use crate::config::Settings;
use crate::inventory::{Inventory, collect};
use crate::policy::Policy;
use crate::sources::{self, SharedSource};

/// The documented exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Runtime = 1,
    Usage = 2,
    FailOn = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A mistake in how cachetop was called: exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// How many times sources are read again when an id given on the command line is
/// missing: dockerd 20.10 leaves a record out of `/system/df` now and then while other
/// builds run, and a record that is missing for a moment must not be called unknown.
const ID_REREADS: usize = 3;

/// Lists every source; when some of `ids` are not listed, reads again a few times.
pub async fn collect_naming(
    sources: &[SharedSource],
    policy: &Policy,
    ids: &[String],
) -> Inventory {
    let mut inv = collect(sources, policy, Utc::now()).await;
    for _ in 1..ID_REREADS {
        let listed: HashSet<&str> = inv.entries.iter().map(|e| e.id.as_str()).collect();
        if ids.iter().all(|id| listed.contains(id.as_str())) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        inv = collect(sources, policy, Utc::now()).await;
    }
    inv
}

/// The sources the settings ask for (see [`sources::build_sources`]); a setting that
/// names nothing readable is a usage error.
pub fn build_sources(
    settings: &Settings,
    scan_content: bool,
) -> Result<Vec<SharedSource>, UsageError> {
    sources::build_sources(&settings.sources, scan_content).map_err(|e| UsageError(e.0))
}

/// Terminal width for tables, when stdout is a terminal.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size().ok().map(|(w, _)| w as usize)
}
