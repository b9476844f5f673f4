//! cachetop's own plain types for what BuildKit's Control API answers, converted from
//! the protobuf messages so nothing outside this folder sees them.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard_buildkit_proto::google::protobuf::Timestamp;
use bollard_buildkit_proto::moby::buildkit::v1 as pb;
use bollard_buildkit_proto::pb::Platform;
use chrono::{DateTime, Utc};

/// The label that names a worker's snapshotter (`overlayfs`, `native`, ...).
pub const SNAPSHOTTER_LABEL: &str = "org.mobyproject.buildkit.worker.snapshotter";

/// One cache record, as `DiskUsage` (or a `Prune` stream) reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    /// `regular`, `exec.cachemount`, `source.local`, `source.git.checkout`, ...
    pub record_type: String,
    pub description: String,
    pub size: u64,
    pub mutable: bool,
    pub in_use: bool,
    pub shared: bool,
    /// `Parents`, or the single deprecated `Parent` older BuildKits send instead.
    pub parents: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub usage_count: u64,
}

/// One worker of a BuildKit (`ListWorkers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub id: String,
    /// `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm/v7`.
    pub platforms: Vec<String>,
    /// From the worker's [`SNAPSHOTTER_LABEL`].
    pub snapshotter: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Empty when the BuildKit does not report them (dockerd 20.10's).
    pub gc_policies: Vec<GcPolicy>,
}

/// One rule of a worker's garbage collection, as BuildKit reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcPolicy {
    /// The rule applies to every record, shared and internal ones too.
    pub all: bool,
    /// Records unused for longer than this are collected.
    pub keep_duration: Option<Duration>,
    pub filters: Vec<String>,
    /// Bytes kept whatever else the rule says (`keepBytes` before BuildKit 0.17).
    pub reserved_space: u64,
    pub max_used_space: u64,
    pub min_free_space: u64,
}

/// What `Info` says about the BuildKit itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// e.g. `github.com/moby/buildkit`
    pub package: String,
    /// e.g. `v0.29.0`
    pub version: String,
    pub revision: String,
}

impl From<pb::UsageRecord> for Record {
    fn from(r: pb::UsageRecord) -> Self {
        #[allow(deprecated)]
        let parents = if r.parents.is_empty() && !r.parent.is_empty() {
            vec![r.parent]
        } else {
            r.parents
        };
        Record {
            id: r.id,
            record_type: r.record_type,
            description: r.description,
            size: u64::try_from(r.size).unwrap_or(0),
            mutable: r.mutable,
            in_use: r.in_use,
            shared: r.shared,
            parents,
            created_at: time(r.created_at),
            last_used_at: time(r.last_used_at),
            usage_count: u64::try_from(r.usage_count).unwrap_or(0),
        }
    }
}

impl From<pb::types::WorkerRecord> for Worker {
    fn from(w: pb::types::WorkerRecord) -> Self {
        let labels: BTreeMap<String, String> = w.labels.into_iter().collect();
        Worker {
            id: w.id,
            platforms: w.platforms.iter().map(platform).collect(),
            snapshotter: labels.get(SNAPSHOTTER_LABEL).cloned(),
            labels,
            gc_policies: w.gc_policy.into_iter().map(GcPolicy::from).collect(),
        }
    }
}

impl From<pb::types::GcPolicy> for GcPolicy {
    fn from(p: pb::types::GcPolicy) -> Self {
        let bytes = |n: i64| u64::try_from(n).unwrap_or(0);
        GcPolicy {
            all: p.all,
            // Go's time.Duration: nanoseconds.
            keep_duration: u64::try_from(p.keep_duration)
                .ok()
                .filter(|&n| n > 0)
                .map(Duration::from_nanos),
            filters: p.filters,
            reserved_space: bytes(p.reserved_space),
            max_used_space: bytes(p.max_used_space),
            min_free_space: bytes(p.min_free_space),
        }
    }
}

impl From<pb::types::BuildkitVersion> for Version {
    fn from(v: pb::types::BuildkitVersion) -> Self {
        Version {
            package: v.package,
            version: v.version,
            revision: v.revision,
        }
    }
}

/// Go's zero time (and an absent timestamp) is no time.
fn time(t: Option<Timestamp>) -> Option<DateTime<Utc>> {
    const GO_ZERO_TIME: i64 = -62_135_596_800;
    let t = t?;
    if (t.seconds == 0 && t.nanos == 0) || t.seconds <= GO_ZERO_TIME {
        return None;
    }
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

fn platform(p: &Platform) -> String {
    let mut s = format!("{}/{}", p.os, p.architecture);
    if !p.variant.is_empty() {
        s.push('/');
        s.push_str(&p.variant);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(deprecated)]
    fn usage(parent: &str, parents: &[&str]) -> pb::UsageRecord {
        pb::UsageRecord {
            id: "abc".into(),
            mutable: true,
            in_use: false,
            size: 4096,
            parent: parent.into(),
            created_at: Some(Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            last_used_at: None,
            usage_count: 3,
            description: "cached mount /x from exec sh".into(),
            record_type: "exec.cachemount".into(),
            shared: true,
            parents: parents.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn records_keep_every_fact() {
        let r = Record::from(usage("", &["p1", "p2"]));
        assert_eq!(r.id, "abc");
        assert_eq!(r.record_type, "exec.cachemount");
        assert_eq!(r.size, 4096);
        assert!(r.mutable && r.shared && !r.in_use);
        assert_eq!(r.parents, ["p1", "p2"]);
        assert_eq!(
            r.created_at.unwrap().to_rfc3339(),
            "2023-11-14T22:13:20.000000005+00:00"
        );
        assert_eq!(r.last_used_at, None);
        assert_eq!(r.usage_count, 3);
    }

    #[test]
    fn the_deprecated_parent_stands_in_for_parents() {
        assert_eq!(Record::from(usage("old", &[])).parents, ["old"]);
        assert_eq!(Record::from(usage("old", &["new"])).parents, ["new"]);
        assert!(Record::from(usage("", &[])).parents.is_empty());
    }

    #[test]
    fn zero_and_negative_values_are_absent_not_huge() {
        let mut u = usage("", &[]);
        u.size = -1;
        u.usage_count = -5;
        u.created_at = Some(Timestamp {
            seconds: -62_135_596_800,
            nanos: 0,
        });
        u.last_used_at = Some(Timestamp {
            seconds: 0,
            nanos: 0,
        });
        let r = Record::from(u);
        assert_eq!((r.size, r.usage_count), (0, 0));
        assert_eq!((r.created_at, r.last_used_at), (None, None));
    }

    #[test]
    fn workers_name_their_platforms_snapshotter_and_policy() {
        let w = Worker::from(pb::types::WorkerRecord {
            id: "w0".into(),
            labels: [(SNAPSHOTTER_LABEL.to_string(), "overlayfs".to_string())].into(),
            platforms: vec![
                Platform {
                    architecture: "amd64".into(),
                    os: "linux".into(),
                    ..Default::default()
                },
                Platform {
                    architecture: "arm".into(),
                    os: "linux".into(),
                    variant: "v7".into(),
                    ..Default::default()
                },
            ],
            gc_policy: vec![pb::types::GcPolicy {
                all: false,
                keep_duration: 48 * 3600 * 1_000_000_000,
                filters: vec!["type==source.local".into()],
                reserved_space: 512 << 20,
                max_used_space: 0,
                min_free_space: -1,
            }],
            buildkit_version: None,
            cdi_devices: vec![],
        });
        assert_eq!(w.platforms, ["linux/amd64", "linux/arm/v7"]);
        assert_eq!(w.snapshotter.as_deref(), Some("overlayfs"));
        let p = &w.gc_policies[0];
        assert_eq!(p.keep_duration, Some(Duration::from_secs(48 * 3600)));
        assert_eq!(p.filters, ["type==source.local"]);
        assert_eq!(
            (p.reserved_space, p.max_used_space, p.min_free_space),
            (512 << 20, 0, 0)
        );
    }
}
