//! The commands behind the CLI. These are the edges: they read the clock, the
//! terminal and the sources, and turn failures into exit codes.

pub(crate) mod confirm;
pub mod lint;
pub mod prune;
pub mod repair;
pub mod report;
pub mod screen;
pub mod shell;

use std::io::Write;
use std::process::ExitCode;

use chrono::Utc;

use crate::config::Settings;
use crate::inventory::{self, Inventory, Scan};
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

/// Every source, and the content `scan` asks for; read again (a few times) while some
/// of `ids` are not listed. The progress of a content scan goes to stderr when `show`.
pub async fn collect(
    sources: &[SharedSource],
    policy: &Policy,
    scan: Option<Scan>,
    ids: &[String],
    show: bool,
) -> Inventory {
    let progress = |done: usize, total: usize| {
        if show {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rscanning content: {done}/{total}");
            let _ = err.flush();
        }
    };
    let scanning = scan.is_some();
    let inv = inventory::collect_naming(sources, policy, &Utc::now, scan, ids, &progress).await;
    if show && scanning {
        // Clears the progress line.
        eprint!("\r\x1b[2K");
    }
    inv
}

/// The sources the settings ask for (see [`sources::build_sources`]); a setting that
/// names nothing readable is a usage error.
pub async fn build_sources(
    settings: &Settings,
    scan_content: bool,
) -> Result<Vec<SharedSource>, UsageError> {
    sources::build_sources(&settings.sources, scan_content)
        .await
        .map_err(|e| UsageError(e.0))
}

/// Terminal width for tables, when stdout is a terminal.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size().ok().map(|(w, _)| w as usize)
}
