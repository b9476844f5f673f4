//! The Docker Engine source: BuildKit cache records from `/system/df`, deleted one
//! exact id at a time through `POST /build/prune`, and buildx builders' state volumes
//! (see [`state_volumes`]), deleted with their stopped builder container.

pub mod content;
pub mod context;
pub mod description;
pub mod dial;
pub mod engine;
pub mod records;
pub mod ssh;
pub mod state_volumes;

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::model::{Entry, Origin, SourceKind, SourceRef};
use crate::sources::buildkit::{metadata_path, read_cache_ids};
use crate::sources::{Deletion, ErrorKind, Listing, Source, SourceError, shell_quote};
pub use engine::DEFAULT_HOST;
use engine::Engine;

pub struct DockerSource {
    sref: SourceRef,
    engine: OnceCell<Engine>,
}

impl DockerSource {
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            sref: SourceRef::new(SourceKind::Docker, host),
            engine: OnceCell::new(),
        }
    }

    /// The daemon `host` names, reached with its certificates (or over ssh) and named
    /// by its context, if any.
    pub fn for_host(host: &dial::DockerHost) -> Self {
        dial::register(host);
        Self::new(host.url.clone())
    }

    async fn engine(&self) -> Result<&Engine, SourceError> {
        self.engine
            .get_or_try_init(|| Engine::connect(&self.sref.name))
            .await
    }
}

#[async_trait]
impl Source for DockerSource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        let engine = self.engine().await?;
        let (info, usage) = tokio::try_join!(engine.info(), engine.disk_usage(&self.sref))?;
        let mut entries = usage.records;
        let location = content::Location::find(&self.sref.name, &info.driver, &info.root_dir);
        content::locate_all(&mut entries, &location);
        let cache_ids = if !entries.iter().any(lacks_cache_id) {
            None
        } else if content::is_local(&self.sref.name) {
            Some(fill_cache_ids(&mut entries, &info.root_dir).await)
        } else {
            Some("not read: the daemon runs on another machine".to_string())
        };
        let records = entries.len();
        // Who holds a state volume decides whether it is in use: without that, none
        // is listed (nor deleted).
        let volumes = if usage.volumes.is_empty() {
            Vec::new()
        } else {
            let containers = engine.containers().await?;
            let reach = state_volumes::Reach::of(&self.sref.name);
            state_volumes::entries(&self.sref, usage.volumes, &containers, reach)
        };
        let context = dial::host(&self.sref.name).context;
        let mut summary = format!(
            "{}Docker {} (API {}), {} at {}",
            context
                .as_ref()
                .map_or(String::new(), |c| format!("context {c}: ")),
            engine.version.version,
            engine.api,
            info.driver,
            info.root_dir
        );
        if !volumes.is_empty() {
            summary.push_str(&format!(
                ", {}",
                crate::units::plural(
                    volumes.len(),
                    "builder state volume",
                    "builder state volumes"
                )
            ));
        }
        let mut details = json!({
            "engine_version": engine.version.version,
            "api_version": engine.api.to_string(),
            "os": engine.version.os,
            "arch": engine.version.arch,
            "root_dir": info.root_dir,
            "driver": info.driver,
            "records": records,
            "state_volumes": volumes.len(),
        });
        // Only when some description lacks its id: where the ids came from, or why not.
        if let (Some(why), Some(obj)) = (cache_ids, details.as_object_mut()) {
            obj.insert("cache_ids".to_string(), why.into());
        }
        if let (Some(c), Some(obj)) = (context, details.as_object_mut()) {
            obj.insert("context".to_string(), c.into());
        }
        entries.extend(volumes);
        // Only a daemon on this machine keeps its data on a filesystem seen here.
        let location = content::is_local(&self.sref.name)
            .then(|| std::path::PathBuf::from(&info.root_dir))
            .filter(|p| p.is_absolute());
        Ok(Listing {
            entries,
            summary,
            details,
            location,
        })
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        if let Origin::StateVolume { .. } = entry.origin {
            return self.delete_state_volume(entry).await;
        }
        let answer = self.engine().await?.prune_one(&entry.id).await?;
        Ok(Deletion {
            deleted_ids: answer.deleted,
            reclaimed_bytes: Some(answer.reclaimed),
        })
    }
}

impl DockerSource {
    /// The stopped builder container that holds the volume (if one does), then the
    /// volume: each by exact id or name, each checked gone. The entry is the one just
    /// listed again, so what it says holds it is current.
    async fn delete_state_volume(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        let refuse = |why: String| {
            SourceError::new(
                ErrorKind::Refused,
                format!("not deleting the volume {}: {why}", entry.id),
            )
        };
        if entry.in_use {
            return Err(refuse("in use".to_string()));
        }
        if let Some(why) = never_delete(entry) {
            return Err(refuse(why));
        }
        let engine = self.engine().await?;
        let mut removed_builder = None;
        if let Some(b) = state_volumes::builder_to_remove(entry) {
            match engine.remove_container(&b.id, &b.name).await {
                // Someone else removed it meanwhile: the volume can go all the same.
                Ok(()) => removed_builder = Some(b.name.as_str()),
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(SourceError::new(
                        e.kind,
                        format!("{}; the volume {} was kept", e.message, entry.id),
                    ));
                }
            }
        }
        engine
            .remove_volume(&entry.id)
            .await
            .map_err(|e| match removed_builder {
                Some(name) => SourceError::new(
                    e.kind,
                    format!(
                        "{} (its stopped builder container {name} was removed)",
                        e.message
                    ),
                ),
                None => e,
            })?;
        Ok(Deletion {
            deleted_ids: vec![entry.id.clone()],
            reclaimed_bytes: None,
        })
    }
}

fn lacks_cache_id(e: &Entry) -> bool {
    e.kind == "exec.cachemount" && e.mount.as_ref().is_some_and(|m| m.cache_id.is_none())
}

/// Gives cache mounts whose description lacks ` with id "<id>"` (dockerd 20.10) the id
/// BuildKit's metadata holds; never one it does not. Says where the ids came from, or
/// why they could not be read.
async fn fill_cache_ids(entries: &mut [Entry], root_dir: &str) -> String {
    let path = metadata_path(std::path::Path::new(root_dir));
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || read_cache_ids(&path)).await
    };
    let ids = match read {
        Ok(Ok(ids)) => ids,
        Ok(Err(e)) => return e.to_string(),
        Err(e) => return format!("cannot read {}: {e}", path.display()),
    };
    for e in entries.iter_mut().filter(|e| lacks_cache_id(e)) {
        let (Some(id), Some(mount)) = (ids.get(&e.id), e.mount.as_mut()) else {
            continue;
        };
        // BuildKit leaves the id out of newer descriptions too when it is the target:
        // that is no id given, and none is shown.
        if id.dockerfile() != mount.target {
            mount.cache_id = Some(id.dockerfile().to_string());
        }
    }
    format!("from the record descriptions and {}", path.display())
}

/// BuildKit's prune keeps these unless asked for `--all`; planning them would promise a
/// deletion that cannot happen.
pub fn never_delete(entry: &Entry) -> Option<String> {
    if let Origin::StateVolume { .. } = entry.origin {
        return state_volumes::never_delete(entry);
    }
    if entry.shared {
        return Some(
            "shared with an image: the daemon keeps it, and deleting it would free nothing"
                .to_string(),
        );
    }
    if entry.kind == "internal" || entry.kind == "frontend" {
        return Some(format!(
            "{} record: BuildKit keeps these for itself",
            entry.kind
        ));
    }
    None
}

/// What cachetop does to delete the entry, as docker commands in the same order.
pub fn equivalent_commands(entry: &Entry) -> Vec<String> {
    match entry.origin {
        Origin::StateVolume { .. } => state_volumes::commands(entry),
        _ => vec![equivalent_command(entry)],
    }
}

/// The docker CLI's options that reach the same daemon as cachetop does, each followed
/// by a space: none for the default socket, `--context NAME` for a context, `-H URL`
/// (with the TLS files cachetop verifies it with) otherwise.
pub fn docker_flags(url: &str) -> String {
    let host = dial::host(url);
    if let Some(c) = &host.context {
        return format!("--context {} ", shell_quote(c));
    }
    if url == DEFAULT_HOST {
        return String::new();
    }
    let mut out = format!("-H {} ", shell_quote(url));
    if let Some(tls) = &host.tls {
        out.push_str(&format!(
            "--tlsverify --tlscacert {} ",
            shell_quote(&tls.ca.to_string_lossy())
        ));
        if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
            out.push_str(&format!(
                "--tlscert {} --tlskey {} ",
                shell_quote(&cert.to_string_lossy()),
                shell_quote(&key.to_string_lossy())
            ));
        }
    }
    out
}

/// Whether the docker CLI needs flags beyond `-H` to reach the daemon as cachetop
/// does (a context, or TLS files).
pub fn needs_flags(url: &str) -> bool {
    let host = dial::host(url);
    host.context.is_some() || host.tls.is_some()
}

/// `docker builder prune` with the same anchored id filter cachetop sends.
pub fn equivalent_command(entry: &Entry) -> String {
    if let Origin::StateVolume { .. } = entry.origin {
        return state_volumes::commands(entry).join(" && ");
    }
    let host = docker_flags(&entry.source.name);
    let filter = format!("id={}", engine::exact_id_pattern(&entry.id));
    format!(
        "docker {host}builder prune --force --filter {}",
        shell_quote(&filter)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_command_names_the_host_only_when_it_is_not_the_default() {
        let local = Entry::new(
            SourceRef::new(SourceKind::Docker, DEFAULT_HOST),
            "abc",
            "regular",
        );
        assert_eq!(
            equivalent_command(&local),
            "docker builder prune --force --filter 'id=^abc$'"
        );
        let other = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///tmp/d.sock"),
            "abc",
            "regular",
        );
        assert_eq!(
            equivalent_command(&other),
            "docker -H unix:///tmp/d.sock builder prune --force --filter 'id=^abc$'"
        );
    }

    #[test]
    fn equivalent_commands_reach_the_daemon_as_cachetop_does() {
        use crate::sources::buildkit::TlsFiles;
        let on = |url: &str| Entry::new(SourceRef::new(SourceKind::Docker, url), "abc", "regular");
        dial::register(&dial::DockerHost {
            url: "ssh://ci@runner-equivalent".into(),
            tls: None,
            context: Some("runner 3".into()),
        });
        assert_eq!(
            equivalent_command(&on("ssh://ci@runner-equivalent")),
            "docker --context 'runner 3' builder prune --force --filter 'id=^abc$'"
        );
        dial::register(&dial::DockerHost {
            url: "tcp://tls-equivalent:2376".into(),
            tls: Some(TlsFiles {
                ca: "/c/ca.pem".into(),
                cert: Some("/c/cert.pem".into()),
                key: Some("/c/key.pem".into()),
                server_name: None,
            }),
            context: None,
        });
        assert_eq!(
            equivalent_command(&on("tcp://tls-equivalent:2376")),
            "docker -H tcp://tls-equivalent:2376 --tlsverify --tlscacert /c/ca.pem --tlscert \
             /c/cert.pem --tlskey /c/key.pem builder prune --force --filter 'id=^abc$'"
        );
        assert_eq!(
            equivalent_command(&on("ssh://plain-equivalent")),
            "docker -H ssh://plain-equivalent builder prune --force --filter 'id=^abc$'"
        );
    }
}
