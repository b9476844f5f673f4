//! The one data model every source produces (design.md §3).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where an entry comes from.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Docker,
    Dir,
    Gha,
    Registry,
    /// A BuildKit reached through its own gRPC API: a buildx builder or a buildkitd.
    Buildkit,
}

impl SourceKind {
    pub const ALL: [SourceKind; 5] = [
        SourceKind::Docker,
        SourceKind::Dir,
        SourceKind::Gha,
        SourceKind::Registry,
        SourceKind::Buildkit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Docker => "docker",
            SourceKind::Dir => "dir",
            SourceKind::Gha => "gha",
            SourceKind::Registry => "registry",
            SourceKind::Buildkit => "buildkit",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configured source: its kind and the address or path that names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceRef {
    pub kind: SourceKind,
    pub name: String,
}

impl SourceRef {
    pub fn new(kind: SourceKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.name)
    }
}

/// What a BuildKit cache mount was made by, parsed from its description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub target: String,
    pub cache_id: Option<String>,
    /// The argv of the RUN step, as BuildKit recorded it.
    pub command: String,
}

/// Derived state of an entry. The order here is the order of badges and JSON arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Stale,
    Partial,
    InUse,
    SizeMismatch,
    Orphaned,
}

impl Flag {
    pub const ALL: [Flag; 5] = [
        Flag::Stale,
        Flag::Partial,
        Flag::InUse,
        Flag::SizeMismatch,
        Flag::Orphaned,
    ];

    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Stale => "stale",
            Flag::Partial => "partial",
            Flag::InUse => "in_use",
            Flag::SizeMismatch => "size_mismatch",
            Flag::Orphaned => "orphaned",
        }
    }

    /// The badge shown in tables: readable without colour.
    pub fn badge(self) -> &'static str {
        match self {
            Flag::Stale => "STALE",
            Flag::Partial => "PARTIAL",
            Flag::InUse => "IN USE",
            Flag::SizeMismatch => "SIZE?",
            Flag::Orphaned => "ORPHAN",
        }
    }

    pub fn parse(s: &str) -> Option<Flag> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Flag::ALL.into_iter().find(|f| f.as_str() == norm)
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is broken: the finding kinds of schema v1 (design.md §4), serialized as
/// their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FindingKind {
    /// A crate directory in `registry/src` without `.cargo-ok`.
    #[serde(rename = "cargo.partial_extraction")]
    CargoPartialExtraction,
    /// `.cargo-ok` present but not `{"v":1}`.
    #[serde(rename = "cargo.torn_marker")]
    CargoTornMarker,
    /// A `.crate` that is not a whole gzip+tar.
    #[serde(rename = "cargo.corrupt_crate")]
    CargoCorruptCrate,
    #[serde(rename = "cargo.git_checkout_incomplete")]
    CargoGitCheckoutIncomplete,
    /// `archives/partial/*`.
    #[serde(rename = "apt.partial_download")]
    AptPartialDownload,
    /// `*.partial` in the module download cache.
    #[serde(rename = "go.partial_download")]
    GoPartialDownload,
    /// `_cacache/tmp/*`.
    #[serde(rename = "npm.interrupted_write")]
    NpmInterruptedWrite,
    /// `.sccachetmp*`.
    #[serde(rename = "sccache.interrupted_write")]
    SccacheInterruptedWrite,
}

impl FindingKind {
    pub const ALL: [FindingKind; 8] = [
        FindingKind::CargoPartialExtraction,
        FindingKind::CargoTornMarker,
        FindingKind::CargoCorruptCrate,
        FindingKind::CargoGitCheckoutIncomplete,
        FindingKind::AptPartialDownload,
        FindingKind::GoPartialDownload,
        FindingKind::NpmInterruptedWrite,
        FindingKind::SccacheInterruptedWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::CargoPartialExtraction => "cargo.partial_extraction",
            FindingKind::CargoTornMarker => "cargo.torn_marker",
            FindingKind::CargoCorruptCrate => "cargo.corrupt_crate",
            FindingKind::CargoGitCheckoutIncomplete => "cargo.git_checkout_incomplete",
            FindingKind::AptPartialDownload => "apt.partial_download",
            FindingKind::GoPartialDownload => "go.partial_download",
            FindingKind::NpmInterruptedWrite => "npm.interrupted_write",
            FindingKind::SccacheInterruptedWrite => "sccache.interrupted_write",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for FindingKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FindingKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Something broken inside an entry's content, e.g. a half-extracted crate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// Relative to the content root.
    pub path: String,
    pub detail: String,
    /// What removing the broken part frees.
    pub bytes: u64,
}

/// Where an entry's files are, and what a scan of them found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    pub path: String,
    pub files: Option<u64>,
    /// Why the content could not be read, and what to do about it.
    pub error: Option<String>,
    /// The largest subdirectories, largest first (for the details view).
    pub largest: Vec<DirUsage>,
}

/// Bytes under one subdirectory of a content root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirUsage {
    /// Relative to the content root.
    pub path: String,
    pub bytes: u64,
}

/// Why a source will never delete an entry, whatever a plan selects. Decided when
/// the entry is listed, from what its path is; the source checks again before
/// deleting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteRefusal {
    pub kind: RefusalKind,
    /// What is refused and why, and the path to pass instead when there is one.
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Deleting would go through a symlink or `..` out of the path given.
    Indirect,
    /// What no cache is: `/`, a system directory, `$HOME`, or a directory holding the
    /// Docker root or the cargo home.
    NotACache,
}

/// The files of buildctl's (and the docker CLI's) `--tlscacert`, `--tlscert`, `--tlskey` (and
/// `--tlsservername`). Without `cert` and `key` no client certificate is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The name the server's certificate must carry; default: the address's host.
    pub server_name: Option<String>,
}

/// What an entry is at its source, and how the source deletes it: the typed facts
/// the sources and the planner act on (`Entry::details` only shows facts to people).
/// Each variant is one kind of source inside cachetop: a local cache export is its
/// own, though it is a `dir` source (`SourceKind::Dir`) in every output. Where the
/// source is (the daemon, repository, reference or directory) is `Entry::source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A BuildKit cache record of a Docker daemon.
    Docker {
        /// The records it was built on: BuildKit deletes a record only with its children.
        parents: Vec<String>,
    },
    /// A cache record of a BuildKit reached through its gRPC API.
    Buildkit {
        /// The records it was built on: BuildKit deletes a record only with its children.
        parents: Vec<String>,
        /// The buildx builder's name, when known: the equivalent command names it.
        builder: Option<String>,
        /// The daemon a `docker-container://` builder is reached through, when it is
        /// not Docker's default: the equivalent command must reach the same one.
        docker_host: Option<String>,
        /// The files a `tcp://` BuildKit is reached in TLS with: the equivalent
        /// command passes the same ones.
        tls: Option<TlsFiles>,
    },
    /// A GitHub Actions cache of a repository.
    Gha {
        /// The GitHub Enterprise Server host, for hosts other than github.com.
        host: Option<String>,
        /// The ref the cache was saved on, as GitHub reports it.
        git_ref: Option<String>,
    },
    /// A manifest or a layer of a registry cache.
    Registry {
        object: RegistryObject,
        /// The registry is spoken to over plain HTTP.
        plain_http: bool,
    },
    /// A directory (or an area of a cargo home) emptied in place.
    Dir { refusal: Option<DeleteRefusal> },
    /// A blob of a `type=local` cache export (an OCI layout).
    LocalExport { refusal: Option<DeleteRefusal> },
    /// A buildx builder's state volume (`buildx_buildkit_<node>_state`) of a Docker
    /// daemon.
    StateVolume {
        /// Every container that mounts it, and the builder's own container (named as
        /// the volume without `_state`) whether it mounts it or not.
        containers: Vec<VolumeHolder>,
    },
}

/// A container that a state volume's deletion must reckon with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeHolder {
    /// The full container id, which the removal names.
    pub id: String,
    /// Without docker's leading `/`.
    pub name: String,
    /// Running, paused, restarting or being removed: anything but stopped.
    pub running: bool,
    /// It mounts the volume.
    pub mounts: bool,
}

/// What a registry cache entry is: only manifests are deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistryObject {
    Manifest {
        /// The multi-platform index that references it, if any.
        index: Option<String>,
    },
    Layer,
}

impl Origin {
    /// The plainest origin of a source kind, until the source says more (a registry
    /// entry starts as a layer, which is never deleted).
    pub fn of(kind: SourceKind) -> Self {
        match kind {
            SourceKind::Docker => Origin::Docker {
                parents: Vec::new(),
            },
            SourceKind::Gha => Origin::Gha {
                host: None,
                git_ref: None,
            },
            SourceKind::Registry => Origin::Registry {
                object: RegistryObject::Layer,
                plain_http: false,
            },
            SourceKind::Dir => Origin::Dir { refusal: None },
            SourceKind::Buildkit => Origin::Buildkit {
                parents: Vec::new(),
                builder: None,
                docker_host: None,
                tls: None,
            },
        }
    }

    /// The kind of source every output names (a local export is a `dir`).
    pub fn source_kind(&self) -> SourceKind {
        match self {
            Origin::Docker { .. } | Origin::StateVolume { .. } => SourceKind::Docker,
            Origin::Buildkit { .. } => SourceKind::Buildkit,
            Origin::Gha { .. } => SourceKind::Gha,
            Origin::Registry { .. } => SourceKind::Registry,
            Origin::Dir { .. } | Origin::LocalExport { .. } => SourceKind::Dir,
        }
    }

    /// The records this one was built on (only BuildKit records have any).
    pub fn parents(&self) -> &[String] {
        match self {
            Origin::Docker { parents } | Origin::Buildkit { parents, .. } => parents,
            _ => &[],
        }
    }

    /// Why the source refuses to delete anything at this entry's path, if it does.
    pub fn delete_refusal(&self) -> Option<&DeleteRefusal> {
        match self {
            Origin::Dir { refusal } | Origin::LocalExport { refusal } => refusal.as_ref(),
            _ => None,
        }
    }

    /// The ref a GitHub Actions cache was saved on.
    pub fn git_ref(&self) -> Option<&str> {
        match self {
            Origin::Gha { git_ref, .. } => git_ref.as_deref(),
            _ => None,
        }
    }
}

/// One cache record of any source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub source: SourceRef,
    pub id: String,
    /// BuildKit record type, or e.g. `gha.buildkit-blob`, `local.blob`, `cargo.registry-src`.
    pub kind: String,
    pub description: String,
    pub mount: Option<Mount>,
    /// The size the source reports.
    pub size_bytes: u64,
    /// The size measured on disk, when the content was scanned.
    pub disk_bytes: Option<u64>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub usage_count: Option<u64>,
    pub in_use: bool,
    pub shared: bool,
    pub flags: BTreeSet<Flag>,
    pub findings: Vec<Finding>,
    pub content: Option<Content>,
    /// Source-specific facts for people (details views, `entries[].details` in JSON),
    /// e.g. `parents` or a GHA `ref`. Nothing reads them to decide anything: that is
    /// what `origin` is for.
    pub details: BTreeMap<String, String>,
    /// What it is at its source and how it is deleted (not part of the JSON contract).
    pub origin: Origin,
    /// The Docker host whose daemon or builder listed it (`--host`); `None` for what
    /// belongs to no host (directories, GitHub, registries). Shared, so setting it on
    /// every entry of a listing costs no copy of the name.
    pub host: Option<std::sync::Arc<str>>,
}

impl Entry {
    /// A bare entry with the plainest origin of its source's kind; sources fill in
    /// what they know.
    pub fn new(source: SourceRef, id: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            origin: Origin::of(source.kind),
            source,
            id: id.into(),
            kind: kind.into(),
            description: String::new(),
            mount: None,
            size_bytes: 0,
            disk_bytes: None,
            created_at: None,
            last_used_at: None,
            usage_count: None,
            in_use: false,
            shared: false,
            flags: BTreeSet::new(),
            findings: Vec::new(),
            content: None,
            details: BTreeMap::new(),
            host: None,
        }
    }

    pub fn has(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }

    /// The best size we know: measured on disk when scanned, else as reported.
    pub fn effective_bytes(&self) -> u64 {
        self.disk_bytes.unwrap_or(self.size_bytes)
    }

    /// The last time anything touched the entry: last use, else creation.
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        self.last_used_at.or(self.created_at)
    }

    /// What a person recognises the entry by: the mount target, else the description.
    pub fn label(&self) -> &str {
        match &self.mount {
            Some(m) => &m.target,
            None if self.description.is_empty() => &self.id,
            None => &self.description,
        }
    }

    /// True when `other` is the same record (same source and id).
    pub fn same_record(&self, other: &Entry) -> bool {
        self.id == other.id && self.source == other.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_kinds_serialize_as_their_v1_names() {
        for k in FindingKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(
                serde_json::from_value::<FindingKind>(k.as_str().into()).unwrap(),
                k
            );
        }
        let names: Vec<&str> = FindingKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "cargo.partial_extraction",
                "cargo.torn_marker",
                "cargo.corrupt_crate",
                "cargo.git_checkout_incomplete",
                "apt.partial_download",
                "go.partial_download",
                "npm.interrupted_write",
                "sccache.interrupted_write",
            ]
        );
    }
}
