//! The rules: stable ids, default severities, and the checks. Every check is a pure
//! function of parsed files; none reads the disk.
//!
//! BuildKit facts the Dockerfile rules rely on (moby/buildkit@73ed682):
//! - `sharing` defaults to `shared` (frontend/dockerfile/dockerfile2llb/
//!   convert_runmount.go, `dispatchRunMounts`), so concurrent builds write one
//!   directory at the same time unless a mount says `locked` (or `private`).
//! - A cache mount without `id` gets `path.Clean(target)` as its id (same function).
//! - The cache is looked up by `id` plus the ref it is based on
//!   (solver/llbsolver/mounts/mount.go, `getRefCacheDir`: `key := id + ":" + ref.ID()`),
//!   and `uid`, `gid` and `mode` give the mount a different base ref (a `mkdir /cache`
//!   with them), so the same id with other ownership is another cache.

mod apt;
mod cache_key;
mod cargo_registry;
mod gha_cache;
mod paths;
mod prune;
mod shell;
mod target_dir;

use super::finding::{Finding, Severity};
use super::{Parsed, SourceFile};

/// Every rule cachetop lint knows. Ids are stable: scripts and SARIF consumers key on
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Rule {
    ParseError,
    CargoRegistryUnlocked,
    TargetDirSharedId,
    AptCacheUnlocked,
    AptCacheDockerClean,
    CacheIdKeySplit,
    GhaCacheCompetition,
    GhaCacheSavedFromPrs,
    GhaBuildkitScope,
    DaemonWidePrune,
}

impl Rule {
    pub(crate) const ALL: [Rule; 10] = [
        Rule::ParseError,
        Rule::CargoRegistryUnlocked,
        Rule::TargetDirSharedId,
        Rule::AptCacheUnlocked,
        Rule::AptCacheDockerClean,
        Rule::CacheIdKeySplit,
        Rule::GhaCacheCompetition,
        Rule::GhaCacheSavedFromPrs,
        Rule::GhaBuildkitScope,
        Rule::DaemonWidePrune,
    ];

    pub(crate) fn id(self) -> &'static str {
        match self {
            Rule::ParseError => "parse-error",
            Rule::CargoRegistryUnlocked => "cargo-registry-unlocked",
            Rule::TargetDirSharedId => "target-dir-shared-id",
            Rule::AptCacheUnlocked => "apt-cache-unlocked",
            Rule::AptCacheDockerClean => "apt-cache-docker-clean",
            Rule::CacheIdKeySplit => "cache-id-key-split",
            Rule::GhaCacheCompetition => "gha-cache-competition",
            Rule::GhaCacheSavedFromPrs => "gha-cache-saved-from-prs",
            Rule::GhaBuildkitScope => "gha-buildkit-scope",
            Rule::DaemonWidePrune => "daemon-wide-prune",
        }
    }

    /// The severity the rule reports at most of the time (SARIF's default level).
    pub(crate) fn default_severity(self) -> Severity {
        match self {
            Rule::ParseError | Rule::DaemonWidePrune => Severity::Error,
            _ => Severity::Warning,
        }
    }

    /// One line: what is wrong.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Rule::ParseError => "The file could not be read as a Dockerfile or a workflow",
            Rule::CargoRegistryUnlocked => {
                "Cargo registry or git cache mount shared without a lock"
            }
            Rule::TargetDirSharedId => "One cache id for the build output of several services",
            Rule::AptCacheUnlocked => "apt cache mount shared without a lock",
            Rule::AptCacheDockerClean => "apt cache mount emptied by docker-clean",
            Rule::CacheIdKeySplit => "One cache id mounted with different uid, gid or mode",
            Rule::GhaCacheCompetition => "sccache's GHA backend and another cache of build output",
            Rule::GhaCacheSavedFromPrs => "Cache saved from pull_request runs",
            Rule::GhaBuildkitScope => "BuildKit GHA cache without its own scope",
            Rule::DaemonWidePrune => "Daemon-wide prune on a self-hosted runner",
        }
    }

    /// The mechanism, for help texts and SARIF's full description.
    pub(crate) fn mechanism(self) -> &'static str {
        match self {
            Rule::ParseError => {
                "BuildKit or the Actions runner would refuse this file, so no other rule \
                 could check it."
            }
            Rule::CargoRegistryUnlocked => {
                "BuildKit's default sharing=shared lets concurrent builds write one cache \
                 directory at once. Cargo's lock ($CARGO_HOME/.package-cache) lives outside \
                 a registry-only mount, in each container's own cargo home, so two builds \
                 cannot see each other's lock and unpack the same crate together: \
                 \"failed to unpack package ... File exists (os error 17)\", and a crate \
                 left half-extracted for every later build."
            }
            Rule::TargetDirSharedId => {
                "A cache mount's id defaults to its target, so every service built from \
                 this file shares one target directory. Builds of different services \
                 overwrite each other's artifacts, fingerprints invalidate, and each build \
                 recompiles what the previous one threw away."
            }
            Rule::AptCacheUnlocked => {
                "apt takes an exclusive lock in /var/cache/apt and /var/lib/apt and fails \
                 at once (\"Could not get lock\") when another build sharing the mount \
                 holds it; it does not wait."
            }
            Rule::AptCacheDockerClean => {
                "Debian and Ubuntu images ship /etc/apt/apt.conf.d/docker-clean, which \
                 deletes downloaded packages after every install, so a cache mount of \
                 /var/cache/apt stays empty and every build downloads again."
            }
            Rule::CacheIdKeySplit => {
                "BuildKit keys a cache mount on its id and on its uid, gid and mode, so the \
                 same id mounted with different ownership is two caches: each starts \
                 empty and they are filled and evicted separately."
            }
            Rule::GhaCacheCompetition => {
                "sccache's GHA backend stores every compiled object as its own cache \
                 entry, and rust-cache (or actions/cache of target/) saves compiled output \
                 again. Both count against the repository's cache limit, and GitHub \
                 evicts the least recently used entries first, so each evicts the other's \
                 entries and both miss."
            }
            Rule::GhaCacheSavedFromPrs => {
                "A cache saved on a pull_request run belongs to refs/pull/N/merge: the \
                 default branch never restores it, but it counts against the repository's \
                 cache limit and evicts the default branch's entries."
            }
            Rule::GhaBuildkitScope => {
                "BuildKit's gha cache keeps one index per scope, and the scope defaults to \
                 \"buildkit\". Builds of different images with the same scope overwrite \
                 each other's index, so each build finds the other image's cache and \
                 misses its own."
            }
            Rule::DaemonWidePrune => {
                "A self-hosted runner's Docker daemon is shared by every job on the \
                 machine. A daemon-wide prune deletes build cache (and, for system prune, \
                 containers and images) that concurrent jobs are using or about to use, \
                 and can stop their builds."
            }
        }
    }

    /// The general fix, for help texts.
    pub(crate) fn fix(self) -> &'static str {
        match self {
            Rule::ParseError => "Fix the syntax at the reported place.",
            Rule::CargoRegistryUnlocked => {
                "Add sharing=locked to the cargo registry and git cache mounts."
            }
            Rule::TargetDirSharedId => {
                "Give the target cache mount a per-service id, e.g. id=target-${SERVICE}."
            }
            Rule::AptCacheUnlocked => {
                "Add sharing=locked to the /var/cache/apt and /var/lib/apt cache mounts."
            }
            Rule::AptCacheDockerClean => {
                "Before the apt RUN: RUN rm -f /etc/apt/apt.conf.d/docker-clean; echo \
                 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > \
                 /etc/apt/apt.conf.d/keep-cache"
            }
            Rule::CacheIdKeySplit => {
                "Mount the id with the same uid, gid and mode everywhere, or give the \
                 variants different ids on purpose."
            }
            Rule::GhaCacheCompetition => {
                "Cache compiled output once: keep sccache and set rust-cache's \
                 cache-targets: false, or drop SCCACHE_GHA_ENABLED and let rust-cache \
                 keep target/."
            }
            Rule::GhaCacheSavedFromPrs => {
                "Save caches only from the default branch: rust-cache's save-if: ${{ \
                 github.ref == 'refs/heads/main' }}, actions/cache/restore on pull \
                 requests, or no cache-to on pull_request."
            }
            Rule::GhaBuildkitScope => {
                "Give each image its own scope: cache-to: type=gha,scope=IMAGE,mode=max \
                 and cache-from: type=gha,scope=IMAGE."
            }
            Rule::DaemonWidePrune => {
                "Prune exactly and within a budget: docker buildx prune --max-used-space \
                 SIZE (keeps the most recently used), or cachetop prune --stale --yes."
            }
        }
    }
}

/// Runs every rule over the parsed files.
pub(crate) fn check(files: &[SourceFile]) -> Vec<Finding> {
    let mut out = Vec::new();
    let dockerfiles: Vec<_> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match &f.parsed {
            Parsed::Dockerfile(d) => Some((i, d)),
            _ => None,
        })
        .collect();
    for (i, d) in &dockerfiles {
        out.extend(cargo_registry::check(*i, d));
        out.extend(target_dir::check(*i, d));
        out.extend(apt::check_unlocked(*i, d));
        out.extend(apt::check_docker_clean(*i, d));
    }
    let names: Vec<&str> = files.iter().map(|f| f.display.as_str()).collect();
    out.extend(cache_key::check(&dockerfiles, &names));

    let workflows: Vec<_> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match &f.parsed {
            Parsed::Workflow(w) => Some(gha_cache::WorkflowRef {
                file: i,
                workflow: w,
                repo: f.repo.as_path(),
                name: f.display.as_str(),
            }),
            _ => None,
        })
        .collect();
    out.extend(gha_cache::check_competition(&workflows));
    out.extend(gha_cache::check_saved_from_prs(&workflows));
    out.extend(gha_cache::check_buildkit_scope(&workflows));
    for w in &workflows {
        out.extend(prune::check(w.file, w.workflow));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        assert!(
            ids.iter()
                .all(|id| id.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
    }
}
