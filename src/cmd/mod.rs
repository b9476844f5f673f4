//! The commands behind the CLI. These are the edges: they read the clock, the
//! terminal and the sources, and turn failures into exit codes.

pub mod confirm;
pub mod lint;
pub mod prune;
pub mod repair;
pub mod report;

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;

use crate::config::Settings;
use crate::inventory::{Inventory, collect};
use crate::policy::Policy;
use crate::sources::SharedSource;
use crate::sources::dir::DirSource;
use crate::sources::dir::guard::Guard;
use crate::sources::docker::DockerSource;
use crate::sources::gha::GhaSource;
use crate::sources::local_export::{self, LocalExportSource};
use crate::sources::registry::{self, RegistrySource};

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

/// The sources the settings ask for. `scan_content`: the command will scan content,
/// so directory sources may do it in the walk their listing makes anyway.
pub fn build_sources(
    settings: &Settings,
    scan_content: bool,
) -> Result<Vec<SharedSource>, UsageError> {
    let mut sources: Vec<SharedSource> = Vec::new();
    if let Some(host) = &settings.docker_host {
        sources.push(Arc::new(DockerSource::new(host.clone())));
    }
    for repo in &settings.gha.repos {
        sources.push(Arc::new(GhaSource::new(repo.clone(), &settings.gha)));
    }
    let guard = Arc::new(dir_guard(settings));
    for dir in &settings.dirs {
        if local_export::is_oci_layout(dir) {
            sources.push(Arc::new(LocalExportSource::new(dir.clone())));
            continue;
        }
        if dir.join("oci-layout").is_file() {
            // An export that has not written index.json yet: say so, do not guess.
            return Err(UsageError(local_export::why_not_an_export(dir)));
        }
        sources.push(Arc::new(
            DirSource::new(dir.clone())
                .scanning_content(scan_content)
                .guarded_by(guard.clone()),
        ));
    }
    if let Some(home) = &settings.cargo_home {
        // Found, not given: read by its real path, so a cargo home under a linked
        // directory (`/home -> /data/home`) is not refused as a path through a link.
        let home = std::fs::canonicalize(home).unwrap_or_else(|_| home.clone());
        sources.push(Arc::new(
            DirSource::new(home)
                .scanning_content(scan_content)
                .guarded_by(guard.clone()),
        ));
    }
    if !settings.registries.is_empty() {
        if settings.registry_user.is_some() && settings.registry_password.is_none() {
            return Err(UsageError(
                "--registry-user needs the password in CACHETOP_REGISTRY_PASSWORD".to_string(),
            ));
        }
        let options = registry::Options {
            insecure: settings.insecure_registry,
            user: settings.registry_user.clone(),
            password: settings
                .registry_user
                .as_ref()
                .and(settings.registry_password.clone()),
        };
        for r in &settings.registries {
            let source = RegistrySource::new(r, options.clone()).map_err(UsageError)?;
            sources.push(Arc::new(source));
        }
    }
    if sources.is_empty() {
        return Err(UsageError(
            "nothing to read: --no-docker leaves no source; drop it, name a directory with \
             --dir, or add --gha OWNER/REPO"
                .to_string(),
        ));
    }
    Ok(sources)
}

/// What directory sources must never empty: `$HOME`, the cargo home (read or not,
/// resolved as the settings resolve it) and the daemon's root directory.
fn dir_guard(settings: &Settings) -> Guard {
    let home = dirs::home_dir();
    let cargo_home = settings.cargo_home.clone().or_else(|| {
        crate::config::default_cargo_home(
            std::env::var_os("CARGO_HOME").map(std::path::PathBuf::from),
            home.clone(),
        )
    });
    Guard::new(home, cargo_home, settings.docker_host.clone())
}

/// Terminal width for tables, when stdout is a terminal.
pub fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size().ok().map(|(w, _)| w as usize)
}
