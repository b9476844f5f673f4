//! The Docker Engine source: BuildKit cache records from `/system/df`, deleted one
//! exact id at a time through `POST /build/prune`.

pub mod content;
pub mod description;
pub mod engine;
pub mod records;

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::model::{Entry, SourceKind, SourceRef};
use crate::sources::buildkit::{metadata_path, read_cache_ids};
use crate::sources::{Deletion, Listing, Source, SourceError, shell_quote};
pub use engine::DEFAULT_HOST;
use engine::Engine;

/// The daemon address to use: the flag, else `DOCKER_HOST`, else the local socket.
pub fn resolve_host(flag: Option<&str>, docker_host_env: Option<&str>) -> String {
    flag.filter(|s| !s.is_empty())
        .or(docker_host_env.filter(|s| !s.is_empty()))
        .unwrap_or(DEFAULT_HOST)
        .to_string()
}

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
        let (info, mut entries) = tokio::try_join!(engine.info(), engine.build_cache(&self.sref))?;
        let location = content::Location::find(&self.sref.name, &info.driver, &info.root_dir);
        content::locate_all(&mut entries, &location);
        let cache_ids = if !entries.iter().any(lacks_cache_id) {
            None
        } else if content::is_local(&self.sref.name) {
            Some(fill_cache_ids(&mut entries, &info.root_dir).await)
        } else {
            Some("not read: the daemon runs on another machine".to_string())
        };
        let summary = format!(
            "Docker {} (API {}), {} at {}",
            engine.version.version, engine.api, info.driver, info.root_dir
        );
        let mut details = json!({
            "engine_version": engine.version.version,
            "api_version": engine.api.to_string(),
            "os": engine.version.os,
            "arch": engine.version.arch,
            "root_dir": info.root_dir,
            "driver": info.driver,
            "records": entries.len(),
        });
        // Only when some description lacks its id: where the ids came from, or why not.
        if let (Some(why), Some(obj)) = (cache_ids, details.as_object_mut()) {
            obj.insert("cache_ids".to_string(), why.into());
        }
        Ok(Listing {
            entries,
            summary,
            details,
        })
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        let answer = self.engine().await?.prune_one(&entry.id).await?;
        Ok(Deletion {
            deleted_ids: answer.deleted,
            reclaimed_bytes: Some(answer.reclaimed),
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

/// `docker builder prune` with the same anchored id filter cachetop sends.
pub fn equivalent_command(entry: &Entry) -> String {
    let host = if entry.source.name == DEFAULT_HOST {
        String::new()
    } else {
        format!("-H {} ", shell_quote(&entry.source.name))
    };
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
    fn host_precedence_is_flag_then_env_then_socket() {
        assert_eq!(
            resolve_host(Some("tcp://a:1"), Some("unix:///b")),
            "tcp://a:1"
        );
        assert_eq!(resolve_host(None, Some("unix:///b")), "unix:///b");
        assert_eq!(resolve_host(None, Some("")), DEFAULT_HOST);
        assert_eq!(resolve_host(None, None), DEFAULT_HOST);
    }

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
}
