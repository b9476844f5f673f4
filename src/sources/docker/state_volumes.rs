//! buildx builders' state volumes: a `docker-container` builder keeps its BuildKit
//! state, cache mounts included, in a volume `buildx_buildkit_<node>_state` mounted
//! at `/var/lib/buildkit` of the container `buildx_buildkit_<node>`. `docker system
//! df` counts it as just a volume, and no prune command removes it while its stopped
//! builder holds it, so forgotten builders fill runners' disks.
//!
//! Each state volume is an entry of the daemon's source. Deleting one removes its
//! stopped builder container first (when there is one), then the volume, each by
//! exact id or name, and never anything running.

use std::path::Path;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::content::{is_local, unreadable};
use crate::model::{Content, Entry, Flag, Origin, SourceRef, VolumeHolder};
use crate::sources::shell_quote;

pub const KIND: &str = "buildx.state-volume";
/// What buildx names a `docker-container` node's container: this, then the builder's
/// name and the node's index.
const PREFIX: &str = "buildx_buildkit_";
const SUFFIX: &str = "_state";
/// BuildKit writes its metadata database at every build: its modification time is
/// when the builder last worked. It is at the state's root, or in the worker's
/// directory (`runc-overlayfs/`, `containerd-.../`) one level down.
const METADATA_DB: &str = "metadata_v2.db";
/// How many top-level names of a state volume are looked at for worker directories.
const MAX_TOP_LEVEL: usize = 256;

/// The builder container's name of a state volume (`buildx_buildkit_ci0` for
/// `buildx_buildkit_ci0_state`), or `None` when the name is not a state volume's.
pub fn builder_name(volume: &str) -> Option<&str> {
    let container = volume.strip_suffix(SUFFIX)?;
    let node = container.strip_prefix(PREFIX)?;
    (!node.is_empty()).then_some(container)
}

pub fn is_state_volume(name: &str) -> bool {
    builder_name(name).is_some()
}

/// One volume of `/system/df` (`Volumes[]` or `VolumeUsage.Items[]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct DfVolume {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Mountpoint", default)]
    pub mountpoint: Option<String>,
    /// Docker's RFC 3339 text; read leniently, since nothing depends on it being one.
    #[serde(rename = "CreatedAt", default)]
    created_at: Option<String>,
    #[serde(rename = "UsageData", default)]
    usage: Option<VolumeUsage>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
struct VolumeUsage {
    /// -1 when the daemon did not measure it.
    #[serde(rename = "Size", default)]
    size: Option<i64>,
}

impl DfVolume {
    /// The size the daemon measured, when it did.
    pub fn size(&self) -> Option<u64> {
        self.usage
            .as_ref()
            .and_then(|u| u.size)
            .and_then(|s| u64::try_from(s).ok())
    }

    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        let text = self.created_at.as_deref()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

/// One container of `GET /containers/json?all=1`, the parts that matter here.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ContainerSummary {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Names", default)]
    pub names: Option<Vec<String>>,
    #[serde(rename = "State", default)]
    pub state: Option<String>,
    #[serde(rename = "Mounts", default)]
    pub mounts: Option<Vec<ContainerMount>>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ContainerMount {
    #[serde(rename = "Type", default)]
    pub kind: Option<String>,
    #[serde(rename = "Name", default)]
    pub name: Option<String>,
}

impl ContainerSummary {
    /// Its own name: the first without a `/` inside (the others are legacy links).
    pub fn name(&self) -> Option<&str> {
        self.names
            .iter()
            .flatten()
            .map(|n| n.strip_prefix('/').unwrap_or(n))
            .find(|n| !n.is_empty() && !n.contains('/'))
    }

    /// Only a container that has stopped (or never started, or died) lets go of its
    /// volumes; an unknown state counts as running.
    pub fn running(&self) -> bool {
        !matches!(self.state.as_deref(), Some("exited" | "created" | "dead"))
    }

    pub fn mounts_volume(&self, volume: &str) -> bool {
        self.mounts
            .iter()
            .flatten()
            .any(|m| m.kind.as_deref() == Some("volume") && m.name.as_deref() == Some(volume))
    }
}

/// Where a state volume's files can be read, decided per listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The daemon runs here: a mountpoint that can be read is measured.
    Local,
    /// The daemon runs on another machine.
    Remote,
}

impl Reach {
    pub fn of(host: &str) -> Reach {
        if is_local(host) {
            Reach::Local
        } else {
            Reach::Remote
        }
    }
}

/// The state volumes as entries: sizes as the daemon measured them, who holds each,
/// and where its files are when they can be read from here.
pub fn entries(
    source: &SourceRef,
    volumes: Vec<DfVolume>,
    containers: &[ContainerSummary],
    reach: Reach,
) -> Vec<Entry> {
    volumes
        .into_iter()
        .filter_map(|v| {
            let builder = builder_name(&v.name)?.to_string();
            Some(entry(source, v, &builder, containers, reach))
        })
        .collect()
}

fn entry(
    source: &SourceRef,
    v: DfVolume,
    builder: &str,
    containers: &[ContainerSummary],
    reach: Reach,
) -> Entry {
    let holders: Vec<VolumeHolder> = containers
        .iter()
        .filter_map(|c| {
            let name = c.name()?;
            let mounts = c.mounts_volume(&v.name);
            (mounts || name == builder).then(|| VolumeHolder {
                id: c.id.clone(),
                name: name.to_string(),
                running: c.running(),
                mounts,
            })
        })
        .collect();
    let mut e = Entry::new(source.clone(), v.name.clone(), KIND);
    e.size_bytes = v.size().unwrap_or(0);
    e.created_at = v.created_at();
    e.in_use = holders.iter().any(|h| h.running);
    if !e.in_use {
        // Nothing running holds it: its builder is stopped or gone.
        e.flags.insert(Flag::Orphaned);
    }
    e.description = describe(builder, &holders);
    e.details.insert("builder".to_string(), builder.to_string());
    if !holders.is_empty() {
        e.details
            .insert("containers".to_string(), holders_text(&holders));
    }
    if let Some(mp) = v.mountpoint.as_deref().filter(|m| !m.is_empty()) {
        e.details.insert("mountpoint".to_string(), mp.to_string());
        e.content = Some(content(mp, reach));
        if let Some(t) = last_write(Path::new(mp)) {
            e.last_used_at = Some(t);
            e.details.insert(
                "last_used_from".to_string(),
                format!("modification time of {METADATA_DB}"),
            );
        }
    }
    e.origin = Origin::StateVolume {
        containers: holders,
    };
    e
}

/// One line for people: what holds it, first (plans cut long lines short).
fn describe(builder: &str, holders: &[VolumeHolder]) -> String {
    match holders.iter().find(|h| h.name == builder) {
        Some(h) if h.running => format!("its builder container {builder} is running"),
        Some(h) if h.mounts => format!("held by its stopped builder container {builder}"),
        Some(_) => format!("its stopped builder container {builder} does not mount it"),
        None => format!("no builder container left ({builder} is gone)"),
    }
}

fn holders_text(holders: &[VolumeHolder]) -> String {
    holders
        .iter()
        .map(|h| {
            let state = if h.running { "running" } else { "stopped" };
            let how = if h.mounts { "" } else { ", does not mount it" };
            format!("{} ({state}{how})", h.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The mountpoint to measure, or why it cannot be.
fn content(mountpoint: &str, reach: Reach) -> Content {
    let why = match reach {
        Reach::Remote => Some(
            "the daemon runs on another machine, so this volume's files are there: run \
             cachetop on that machine to measure them"
                .to_string(),
        ),
        Reach::Local => std::fs::read_dir(mountpoint)
            .err()
            .map(|e| unreadable(Path::new(mountpoint), &e)),
    };
    match why {
        None => Content {
            path: mountpoint.to_string(),
            ..Default::default()
        },
        Some(why) => Content {
            path: String::new(),
            files: None,
            error: Some(why),
            largest: Vec::new(),
        },
    }
}

/// When BuildKit last wrote its metadata, read without following a link.
fn last_write(mountpoint: &Path) -> Option<DateTime<Utc>> {
    let mut candidates = vec![mountpoint.join(METADATA_DB)];
    if let Ok(dir) = std::fs::read_dir(mountpoint) {
        for e in dir.take(MAX_TOP_LEVEL).flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if (name.starts_with("runc-") || name.starts_with("containerd-"))
                && e.file_type().is_ok_and(|t| t.is_dir())
            {
                candidates.push(e.path().join(METADATA_DB));
            }
        }
    }
    candidates
        .iter()
        .filter_map(|p| {
            let md = std::fs::symlink_metadata(p).ok()?;
            let t: SystemTime = md.is_file().then(|| md.modified().ok())??;
            Some(DateTime::<Utc>::from(t))
        })
        .max()
}

/// The stopped builder container that goes first when this volume is deleted.
pub fn builder_to_remove(entry: &Entry) -> Option<&VolumeHolder> {
    let Origin::StateVolume { containers } = &entry.origin else {
        return None;
    };
    let builder = builder_name(&entry.id)?;
    containers
        .iter()
        .find(|h| h.name == builder && h.mounts && !h.running)
}

/// Why this state volume is never deleted: something runs that holds it, or a
/// container other than its builder mounts it (cachetop removes only the builder).
pub fn never_delete(entry: &Entry) -> Option<String> {
    let Origin::StateVolume { containers } = &entry.origin else {
        return None;
    };
    let Some(builder) = builder_name(&entry.id) else {
        return Some("not a buildx state volume".to_string());
    };
    if let Some(h) = containers.iter().find(|h| h.running) {
        return Some(if h.name == builder {
            format!("its builder {builder} is running")
        } else {
            format!("mounted by the running container {}", h.name)
        });
    }
    let others: Vec<&str> = containers
        .iter()
        .filter(|h| h.mounts && h.name != builder)
        .map(|h| h.name.as_str())
        .collect();
    if !others.is_empty() {
        return Some(format!(
            "also mounted by {} {}, which is not its builder: cachetop removes only the \
             builder's own container",
            if others.len() == 1 {
                "the container"
            } else {
                "the containers"
            },
            others.join(", ")
        ));
    }
    None
}

/// `docker rm BUILDER` (when a stopped builder holds it), then `docker volume rm NAME`:
/// what cachetop does, in the same order, by the same names.
pub fn commands(entry: &Entry) -> Vec<String> {
    let host = super::docker_flags(&entry.source.name);
    let mut out = Vec::new();
    if let Some(b) = builder_to_remove(entry) {
        out.push(format!("docker {host}rm {}", shell_quote(&b.name)));
    }
    out.push(format!("docker {host}volume rm {}", shell_quote(&entry.id)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;
    use crate::sources::docker::DEFAULT_HOST;

    fn src() -> SourceRef {
        SourceRef::new(SourceKind::Docker, DEFAULT_HOST)
    }

    fn volume(name: &str) -> DfVolume {
        DfVolume {
            name: name.to_string(),
            mountpoint: Some(format!("/var/lib/docker/volumes/{name}/_data")),
            created_at: None,
            usage: Some(VolumeUsage { size: Some(1234) }),
        }
    }

    fn container(id: &str, name: &str, state: &str, mounts: &[&str]) -> ContainerSummary {
        ContainerSummary {
            id: id.to_string(),
            names: Some(vec![format!("/{name}")]),
            state: Some(state.to_string()),
            mounts: Some(
                mounts
                    .iter()
                    .map(|m| ContainerMount {
                        kind: Some("volume".to_string()),
                        name: Some(m.to_string()),
                    })
                    .collect(),
            ),
        }
    }

    fn one(name: &str, containers: &[ContainerSummary]) -> Entry {
        let mut all = entries(&src(), vec![volume(name)], containers, Reach::Remote);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    #[test]
    fn only_buildx_state_volume_names_match() {
        assert_eq!(
            builder_name("buildx_buildkit_ci0_state"),
            Some("buildx_buildkit_ci0")
        );
        assert_eq!(
            builder_name("buildx_buildkit_my_builder_state"),
            Some("buildx_buildkit_my_builder")
        );
        for other in [
            "buildx_buildkit__state",
            "buildx_buildkit_state",
            "buildx_buildkit_ci0",
            "buildx_buildkit_ci0_state_old",
            "my_buildx_buildkit_ci0_state",
            "BUILDX_BUILDKIT_CI0_STATE",
            "pgdata",
            "",
        ] {
            assert_eq!(builder_name(other), None, "{other}");
        }
    }

    #[test]
    fn a_volume_no_container_holds_is_orphaned_and_goes_alone() {
        let e = one("buildx_buildkit_ci0_state", &[]);
        assert_eq!(e.kind, KIND);
        assert_eq!(e.size_bytes, 1234);
        assert!(!e.in_use);
        assert!(e.has(Flag::Orphaned));
        assert_eq!(never_delete(&e), None);
        assert_eq!(commands(&e), ["docker volume rm buildx_buildkit_ci0_state"]);
        assert!(e.description.contains("no builder container left"));
        assert!(
            e.content
                .unwrap()
                .error
                .unwrap()
                .contains("another machine")
        );
    }

    #[test]
    fn a_stopped_builder_goes_first_then_its_volume() {
        let v = "buildx_buildkit_ci1_state";
        let e = one(v, &[container("c1", "buildx_buildkit_ci1", "exited", &[v])]);
        assert!(!e.in_use);
        assert!(e.has(Flag::Orphaned));
        assert_eq!(never_delete(&e), None);
        assert_eq!(builder_to_remove(&e).map(|h| h.id.as_str()), Some("c1"));
        assert_eq!(
            commands(&e),
            [
                "docker rm buildx_buildkit_ci1",
                "docker volume rm buildx_buildkit_ci1_state"
            ]
        );
        assert_eq!(
            e.description,
            "held by its stopped builder container buildx_buildkit_ci1"
        );
        assert_eq!(e.details["containers"], "buildx_buildkit_ci1 (stopped)");
    }

    #[test]
    fn a_running_builder_holds_its_volume_in_use() {
        let v = "buildx_buildkit_ci2_state";
        for state in ["running", "paused", "restarting", "removing", "unknown"] {
            let e = one(v, &[container("c2", "buildx_buildkit_ci2", state, &[v])]);
            assert!(e.in_use, "{state}");
            assert!(!e.has(Flag::Orphaned), "{state}");
            assert_eq!(
                never_delete(&e).as_deref(),
                Some("its builder buildx_buildkit_ci2 is running")
            );
            assert_eq!(builder_to_remove(&e), None);
        }
        // Running without mounting it still means the builder is at work.
        let e = one(v, &[container("c2", "buildx_buildkit_ci2", "running", &[])]);
        assert!(e.in_use);
    }

    #[test]
    fn another_container_mounting_it_keeps_it() {
        let v = "buildx_buildkit_ci3_state";
        let e = one(
            v,
            &[
                container("c3", "buildx_buildkit_ci3", "exited", &[v]),
                container("dbg", "debug", "exited", &[v]),
            ],
        );
        assert!(!e.in_use);
        let why = never_delete(&e).unwrap();
        assert!(why.contains("the container debug"), "{why}");
        let e = one(v, &[container("dbg", "debug", "running", &[v])]);
        assert!(e.in_use);
        assert_eq!(
            never_delete(&e).as_deref(),
            Some("mounted by the running container debug")
        );
    }

    #[test]
    fn a_stopped_builder_that_does_not_mount_it_is_not_removed() {
        let v = "buildx_buildkit_ci4_state";
        let e = one(v, &[container("c4", "buildx_buildkit_ci4", "exited", &[])]);
        assert_eq!(never_delete(&e), None);
        assert_eq!(builder_to_remove(&e), None);
        assert_eq!(commands(&e), ["docker volume rm buildx_buildkit_ci4_state"]);
    }

    #[test]
    fn commands_name_a_host_that_is_not_the_default() {
        let v = "buildx_buildkit_ci1_state";
        let s = SourceRef::new(SourceKind::Docker, "unix:///tmp/d.sock");
        let e = entries(
            &s,
            vec![volume(v)],
            &[container("c1", "buildx_buildkit_ci1", "created", &[v])],
            Reach::Remote,
        )
        .remove(0);
        assert_eq!(
            commands(&e),
            [
                "docker -H unix:///tmp/d.sock rm buildx_buildkit_ci1",
                "docker -H unix:///tmp/d.sock volume rm buildx_buildkit_ci1_state"
            ]
        );
    }

    #[test]
    fn a_readable_mountpoint_is_measured_and_its_metadata_dates_the_last_use() {
        let d = tempfile::tempdir().unwrap();
        let mp = d.path().to_str().unwrap();
        let mut v = volume("buildx_buildkit_ci5_state");
        v.mountpoint = Some(mp.to_string());
        let e = entries(&src(), vec![v.clone()], &[], Reach::Local).remove(0);
        assert_eq!(e.content.as_ref().unwrap().path, mp);
        assert_eq!(e.last_used_at, None, "no metadata database, no last use");
        std::fs::create_dir(d.path().join("runc-overlayfs")).unwrap();
        std::fs::write(d.path().join("runc-overlayfs").join(METADATA_DB), b"x").unwrap();
        let e = entries(&src(), vec![v.clone()], &[], Reach::Local).remove(0);
        assert!(e.last_used_at.is_some());
        // A link is never followed to date it.
        std::fs::remove_file(d.path().join("runc-overlayfs").join(METADATA_DB)).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", d.path().join(METADATA_DB)).unwrap();
        let e = entries(&src(), vec![v.clone()], &[], Reach::Local).remove(0);
        assert_eq!(e.last_used_at, None);
        v.mountpoint = Some("/nonexistent/buildx/_data".to_string());
        let e = entries(&src(), vec![v], &[], Reach::Local).remove(0);
        let c = e.content.unwrap();
        assert_eq!(c.path, "");
        assert!(c.error.unwrap().contains("not on this machine"));
    }

    #[test]
    fn container_names_and_states_as_docker_reports_them() {
        let mut c = container("x", "buildx_buildkit_a0", "exited", &[]);
        c.names = Some(vec!["/web/db".into(), "/db".into()]);
        assert_eq!(c.name(), Some("db"));
        c.names = None;
        assert_eq!(c.name(), None);
        for (state, running) in [
            ("exited", false),
            ("created", false),
            ("dead", false),
            ("running", true),
            ("paused", true),
        ] {
            c.state = Some(state.into());
            assert_eq!(c.running(), running, "{state}");
        }
        c.state = None;
        assert!(c.running());
    }
}
