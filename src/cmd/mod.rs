//! The commands behind the CLI. These are the edges: they read the clock, the
//! terminal and the sources, and turn failures into exit codes.

pub mod prune;
pub mod report;

use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Settings;
use crate::sources::SharedSource;
use crate::sources::docker::DockerSource;
use crate::sources::gha::GhaSource;

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

/// The sources the settings ask for.
pub fn build_sources(settings: &Settings) -> Result<Vec<SharedSource>, UsageError> {
    let mut sources: Vec<SharedSource> = Vec::new();
    if let Some(host) = &settings.docker_host {
        sources.push(Arc::new(DockerSource::new(host.clone())));
    }
    for repo in &settings.gha.repos {
        sources.push(Arc::new(GhaSource::new(repo.clone(), &settings.gha)));
    }
    if sources.is_empty() {
        return Err(UsageError(
            "nothing to read: --no-docker leaves no source; drop it, or add --gha OWNER/REPO"
                .to_string(),
        ));
    }
    Ok(sources)
}

/// Terminal width for tables, when stdout is a terminal.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size().ok().map(|(w, _)| w as usize)
}
