//! The sources a run reads, made from the settings that name them.

use std::path::PathBuf;
use std::sync::Arc;

use super::SharedSource;
use super::buildkit::discovery::{self, Inputs};
use super::buildkit::{BuildkitSource, TlsFiles, UnusableBuilder};
use super::dir::DirSource;
use super::dir::cargo_home::default_cargo_home;
use super::dir::guard::Guard;
use super::docker::DockerSource;
use super::docker::dial::{self, DockerHost};
use super::gha::{GhaSettings, GhaSource};
use super::local_export::{self, LocalExportSource};
use super::registry::auth::Secret;
use super::registry::{self, RegistrySource};

/// Which daemon, repositories, directories and registries to read, and how.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceSettings {
    /// `None` when the daemon is not to be read.
    pub docker_host: Option<DockerHost>,
    /// GitHub Actions cache sources; none unless `--gha` or the file's `gha` names some.
    pub gha: GhaSettings,
    pub dirs: Vec<PathBuf>,
    /// The local cargo home, read when no directory is given (unless turned off).
    pub cargo_home: Option<PathBuf>,
    pub registries: Vec<String>,
    pub registry_user: Option<String>,
    /// From CACHETOP_REGISTRY_PASSWORD only; its Debug never shows it.
    pub registry_password: Option<Secret>,
    pub insecure_registry: bool,
    pub builders: BuilderSettings,
}

/// Which BuildKits to read besides the daemon's own.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuilderSettings {
    /// `--builder` addresses, else the file's `builders`: always read.
    pub given: Vec<String>,
    /// Look for builders: the daemon's `buildx_buildkit_*` containers, buildx's store
    /// and `BUILDKIT_HOST` (off with `--no-builders`).
    pub discover: bool,
    pub buildkit_host: Option<String>,
    /// buildx's store directory.
    pub buildx_store: Option<PathBuf>,
    /// `--tlscacert`, `--tlscert`, `--tlskey`, `--tlsservername`, for `tcp://` builders
    /// given or from `BUILDKIT_HOST`.
    pub tls: Option<TlsFiles>,
}

/// The settings name no source that can be read: a mistake in how cachetop was
/// called.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// The sources the settings ask for. `scan_content`: the command will scan content,
/// so directory sources may do it in the walk their listing makes anyway.
pub async fn build_sources(
    settings: &SourceSettings,
    scan_content: bool,
) -> Result<Vec<SharedSource>, SetupError> {
    let mut sources: Vec<SharedSource> = Vec::new();
    if let Some(host) = &settings.docker_host {
        sources.push(Arc::new(DockerSource::for_host(host)));
    }
    let (builders, unusable) = find_builders(settings).await?;
    for builder in builders {
        sources.push(Arc::new(BuildkitSource::new(builder.address, builder.name)));
    }
    for u in unusable {
        sources.push(Arc::new(UnusableBuilder::new(&u.address, &u.why)));
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
            return Err(SetupError(local_export::why_not_an_export(dir)));
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
            return Err(SetupError(
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
            let source = RegistrySource::new(r, options.clone()).map_err(SetupError)?;
            sources.push(Arc::new(source));
        }
    }
    if sources.is_empty() {
        return Err(SetupError(
            "nothing to read: --no-docker leaves no source; drop it, name a directory with \
             --dir, or add --gha OWNER/REPO"
                .to_string(),
        ));
    }
    Ok(sources)
}

/// The BuildKits to read: those given, then those found. A daemon that cannot list
/// its containers has none to find (its own source says why it failed).
async fn find_builders(
    settings: &SourceSettings,
) -> Result<(Vec<discovery::Builder>, Vec<discovery::Unusable>), SetupError> {
    let b = &settings.builders;
    let mut inputs = Inputs {
        docker_host: settings.docker_host.as_ref().map(|h| h.url.clone()),
        given: b.given.clone(),
        tls: b.tls.clone(),
        ..Default::default()
    };
    if b.discover {
        inputs.buildkit_host = b.buildkit_host.clone();
        if let Some(dir) = &b.buildx_store {
            let dir = dir.clone();
            inputs.store = tokio::task::spawn_blocking(move || discovery::read_store(&dir))
                .await
                .unwrap_or_default();
        }
        if let Some(host) = &settings.docker_host {
            dial::register(host);
            inputs.containers = discovery::running_builder_containers(&host.url)
                .await
                .unwrap_or_default();
        }
    }
    discovery::plan(&inputs).map_err(|e| SetupError(e.message))
}

/// What directory sources must never empty: `$HOME`, the cargo home (read or not,
/// resolved as the settings resolve it) and the daemon's root directory.
fn dir_guard(settings: &SourceSettings) -> Guard {
    let home = dirs::home_dir();
    let cargo_home = settings.cargo_home.clone().or_else(|| {
        default_cargo_home(
            std::env::var_os("CARGO_HOME").map(PathBuf::from),
            home.clone(),
        )
    });
    Guard::new(
        home,
        cargo_home,
        settings.docker_host.as_ref().map(|h| h.url.clone()),
    )
}
