//! The sources a run reads, made from the settings that name them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::buildkit::Address;
use super::buildkit::discovery::{self, Inputs};
use super::buildkit::{BuildkitSource, TlsFiles, UnusableBuilder};
use super::dir::DirSource;
use super::dir::cargo_home::default_cargo_home;
use super::dir::guard::Guard;
use super::docker::DockerSource;
use super::docker::dial::{self, DockerHost};
use super::gha::{GhaSettings, GhaSource};
use super::hosts::{DEFAULT_HOST_TIMEOUT, OnHost, timed_out};
use super::local_export::{self, LocalExportSource};
use super::registry::auth::Secret;
use super::registry::{self, RegistrySource};
use super::{ErrorKind, SharedSource};

/// Which daemons, repositories, directories and registries to read, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSettings {
    /// The Docker hosts to read, each once (none when the daemon is not to be read),
    /// each with how it is reached (TLS files, its context); the first is the one
    /// builders given or found on this machine belong to.
    pub docker_hosts: Vec<DockerHost>,
    /// How long each host may take to list.
    pub host_timeout: Duration,
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

impl Default for SourceSettings {
    fn default() -> Self {
        Self {
            docker_hosts: Vec::new(),
            host_timeout: DEFAULT_HOST_TIMEOUT,
            gha: GhaSettings::default(),
            dirs: Vec::new(),
            cargo_home: None,
            registries: Vec::new(),
            registry_user: None,
            registry_password: None,
            insecure_registry: false,
            builders: BuilderSettings::default(),
        }
    }
}

impl SourceSettings {
    /// The host read first: builders given, `BUILDKIT_HOST` and buildx's store
    /// belong with it.
    pub fn first_host(&self) -> Option<&String> {
        self.docker_hosts.first().map(|h| &h.url)
    }
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
    let timeout = settings.host_timeout;
    let hosts: Vec<Arc<str>> = settings
        .docker_hosts
        .iter()
        .map(|h| Arc::from(h.url.as_str()))
        .collect();
    let (builders, unusable, waited) = find_builders(settings).await?;
    for ((host, url), waited) in settings.docker_hosts.iter().zip(&hosts).zip(waited) {
        let daemon = Arc::new(DockerSource::for_host(host));
        sources.push(OnHost::wrap_after_waiting(url, timeout, daemon, waited));
    }
    for builder in builders {
        let on = builder_host(&builder.address, &hosts);
        let source: SharedSource = Arc::new(BuildkitSource::new(builder.address, builder.name));
        match on {
            Some(host) => {
                // The same builder name on two hosts: the later one is told apart by
                // its host, so each deletes only on its own.
                let taken = sources
                    .iter()
                    .any(|s| s.source_ref() == source.source_ref());
                sources.push(match taken {
                    true => OnHost::wrap_renamed(&host, timeout, source),
                    false => OnHost::wrap(&host, timeout, source),
                });
            }
            None => sources.push(source),
        }
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

/// The host a builder belongs to: the daemon it is reached through, when that is one
/// of the hosts read.
fn builder_host(address: &Address, hosts: &[Arc<str>]) -> Option<Arc<str>> {
    let through = match address {
        Address::DockerEmbedded { docker_host } | Address::DockerContainer { docker_host, .. } => {
            docker_host
        }
        Address::Unix(_) | Address::Tcp { .. } => return None,
    };
    hosts.iter().find(|h| ***h == *through.as_str()).cloned()
}

/// What looking for builders found, and how long each host (by index) went without
/// answering meanwhile.
type Found = (
    Vec<discovery::Builder>,
    Vec<discovery::Unusable>,
    Vec<Duration>,
);

/// The BuildKits to read: those given, then those found; the first host's, then each
/// other host's builder containers. A daemon that cannot list its containers (in
/// time) has none to find (its own source says why it failed). Every host is asked
/// at once.
async fn find_builders(settings: &SourceSettings) -> Result<Found, SetupError> {
    let b = &settings.builders;
    let first = settings.first_host();
    let mut inputs = Inputs {
        docker_host: first.cloned(),
        given: b.given.clone(),
        tls: b.tls.clone(),
        ..Default::default()
    };
    let mut containers: Vec<Vec<String>> = vec![Vec::new(); settings.docker_hosts.len()];
    let mut waited = vec![Duration::ZERO; settings.docker_hosts.len()];
    if b.discover {
        inputs.buildkit_host = b.buildkit_host.clone();
        if let Some(dir) = &b.buildx_store {
            let dir = dir.clone();
            inputs.store = tokio::task::spawn_blocking(move || discovery::read_store(&dir))
                .await
                .unwrap_or_default();
        }
        let timeout = settings.host_timeout;
        let asked = futures_util::future::join_all(settings.docker_hosts.iter().map(|h| async {
            dial::register(h);
            let start = Instant::now();
            let found =
                tokio::time::timeout(timeout, discovery::running_builder_containers(&h.url))
                    .await
                    .unwrap_or_else(|_| Err(timed_out(&h.url, timeout)));
            let waited = match &found {
                Err(e) if e.kind == ErrorKind::NoAnswer => start.elapsed(),
                _ => Duration::ZERO,
            };
            (found.unwrap_or_default(), waited)
        }))
        .await;
        (containers, waited) = asked.into_iter().unzip();
    }
    let mut per_host = containers.into_iter();
    inputs.containers = per_host.next().unwrap_or_default();
    let (mut builders, unusable) = discovery::plan(&inputs).map_err(|e| SetupError(e.message))?;
    // buildx's store names builders of this machine's default daemon: the other
    // hosts' containers are read by address alone.
    for (host, containers) in settings.docker_hosts.iter().skip(1).zip(per_host) {
        let only_containers = Inputs {
            docker_host: Some(host.url.clone()),
            containers,
            ..Default::default()
        };
        let (more, _) = discovery::plan(&only_containers).map_err(|e| SetupError(e.message))?;
        builders.extend(more);
    }
    Ok((builders, unusable, waited))
}

/// What directory sources must never empty: `$HOME`, the cargo home (read or not,
/// resolved as the settings resolve it) and every daemon's root directory.
fn dir_guard(settings: &SourceSettings) -> Guard {
    let home = dirs::home_dir();
    let cargo_home = settings.cargo_home.clone().or_else(|| {
        default_cargo_home(
            std::env::var_os("CARGO_HOME").map(PathBuf::from),
            home.clone(),
        )
    });
    let daemons = settings
        .docker_hosts
        .iter()
        .map(|h| h.url.clone())
        .collect();
    Guard::new(home, cargo_home, daemons).waiting_at_most(settings.host_timeout)
}
