//! A BuildKit's records as entries, exactly as the daemon's `/system/df` records are
//! made (kind = record type; mount, cache id and command from the description), and
//! what the BuildKit says about itself (version, workers, GC policy) for people.

use serde_json::{Value, json};

use super::address::{Address, TlsFiles};
use super::types::{GcPolicy, Record, Version, Worker};
use crate::model::{Content, Entry, Origin, SourceRef};
use crate::sources::docker::description::parse_cache_mount;
use crate::sources::{docker, shell_quote};
use crate::units::{format_duration, format_size};

/// One record as an entry of the source `source`.
pub(crate) fn entry_of(record: Record, source: &SourceRef, builder: Option<&str>) -> Entry {
    let kind = if record.record_type.is_empty() {
        "unknown".to_string()
    } else {
        record.record_type
    };
    let mut e = Entry::new(source.clone(), record.id, kind);
    e.description = record.description;
    e.mount = parse_cache_mount(&e.description);
    e.size_bytes = record.size;
    e.created_at = record.created_at;
    e.last_used_at = record.last_used_at;
    e.usage_count = Some(record.usage_count);
    e.in_use = record.in_use;
    e.shared = record.shared;
    if !record.parents.is_empty() {
        e.details
            .insert("parents".to_string(), record.parents.join(", "));
    }
    if let Some(name) = builder {
        e.details.insert("builder".to_string(), name.to_string());
    }
    if e.kind == "exec.cachemount" {
        e.content = Some(Content {
            error: Some(UNREAD_FILES.to_string()),
            ..Default::default()
        });
    }
    e.origin = Origin::Buildkit {
        parents: record.parents,
        builder: builder.map(str::to_string),
        docker_host: None,
        tls: None,
    };
    e
}

/// Why a builder's cache-mount files are not looked into.
pub(crate) const UNREAD_FILES: &str = "cachetop does not read the files of a builder's cache \
     mounts yet (mapping a record to its directory needs the builder's snapshotter \
     metadata); sizes are as BuildKit reports them";

/// The one-line summary: version, builder, workers and their GC policy.
pub(crate) fn summary(
    builder: Option<&str>,
    version: Option<&Version>,
    workers: &[Worker],
) -> String {
    let mut s = match version {
        Some(v) if !v.version.is_empty() => format!("BuildKit {}", v.version),
        _ => "BuildKit (version not reported)".to_string(),
    };
    if let Some(name) = builder {
        s.push_str(&format!(", builder {name}"));
    }
    for w in workers {
        let mut facts = w.platforms.join(",");
        if let Some(snap) = &w.snapshotter {
            facts.push(' ');
            facts.push_str(snap);
        }
        s.push_str(&format!(
            "; worker {facts}, GC: {}",
            policy_text(&w.gc_policies)
        ));
    }
    s
}

/// A worker's GC rules in one line, e.g.
/// `[type==source.local] keep 2d, max 536.87 MB | keep 60d, reserved 2.15 GB`.
pub(crate) fn policy_text(policies: &[GcPolicy]) -> String {
    if policies.is_empty() {
        return "not reported".to_string();
    }
    policies
        .iter()
        .map(rule_text)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn rule_text(p: &GcPolicy) -> String {
    let mut parts = Vec::new();
    if p.all {
        parts.push("all".to_string());
    }
    if !p.filters.is_empty() {
        parts.push(format!("[{}]", p.filters.join(",")));
    }
    let mut limits = Vec::new();
    if let Some(d) = p.keep_duration {
        limits.push(format!("keep {}", format_duration(d)));
    }
    for (name, bytes) in [
        ("reserved", p.reserved_space),
        ("max", p.max_used_space),
        ("min free", p.min_free_space),
    ] {
        if bytes > 0 {
            limits.push(format!("{name} {}", format_size(bytes)));
        }
    }
    if limits.is_empty() {
        limits.push("no limit".to_string());
    }
    parts.push(limits.join(", "));
    parts.join(" ")
}

/// `sources[].details` of a builder.
pub(crate) fn details(
    address: &Address,
    builder: Option<&str>,
    version: Option<&Version>,
    workers: &[Worker],
    records: usize,
) -> Value {
    json!({
        "address": address.uri(),
        "transport": transport_name(address),
        "builder": builder,
        "buildkit_version": version.map(|v| v.version.clone()),
        "buildkit_revision": version.map(|v| v.revision.clone()),
        "workers": workers.iter().map(worker_json).collect::<Vec<_>>(),
        "records": records,
    })
}

fn transport_name(address: &Address) -> &'static str {
    match address {
        Address::DockerEmbedded { .. } => "docker",
        Address::DockerContainer { .. } => "docker-container",
        Address::Unix(_) => "unix",
        Address::Tcp { tls: None, .. } => "tcp",
        Address::Tcp { tls: Some(_), .. } => "tcp+tls",
    }
}

fn worker_json(w: &Worker) -> Value {
    json!({
        "id": w.id,
        "platforms": w.platforms,
        "snapshotter": w.snapshotter,
        "gc_policy": w.gc_policies.iter().map(|p| json!({
            "all": p.all,
            "keep_duration_secs": p.keep_duration.map(|d| d.as_secs()),
            "filters": p.filters,
            "reserved_space_bytes": p.reserved_space,
            "max_used_space_bytes": p.max_used_space,
            "min_free_space_bytes": p.min_free_space,
        })).collect::<Vec<_>>(),
    })
}

/// The command that prunes the same one record: buildx by builder name when the
/// builder is known, else buildctl at the address, with the TLS files cachetop uses.
/// Both match the id exactly (buildx reads `id=` as a regular expression, so it is
/// anchored).
pub(crate) fn equivalent_command(
    entry: &Entry,
    builder: Option<&str>,
    docker_host: Option<&str>,
    tls: Option<&TlsFiles>,
) -> String {
    let filter = shell_quote(&format!("id=={}", entry.id));
    let address = crate::sources::hosts::unqualified(&entry.source.name);
    if let Some(name) = builder {
        return format!(
            "docker buildx prune --builder {} --force --filter {}",
            shell_quote(name),
            shell_quote(&format!("id=^{}$", entry.id))
        );
    }
    let container = address.strip_prefix("docker-container://");
    match (docker_host, container) {
        // A daemon reached by a context or in TLS: buildctl's docker CLI would need
        // the same, which no single variable says; buildctl inside the container
        // (what `docker-container://` runs anyway) prunes the same record.
        (Some(host), Some(container)) if docker::needs_flags(host) => format!(
            "docker {}exec {} buildctl prune --filter {filter}",
            docker::docker_flags(host),
            shell_quote(container)
        ),
        // buildctl reaches a docker-container:// builder through the docker CLI, which
        // takes the daemon from DOCKER_HOST.
        _ => format!(
            "{}buildctl --addr {}{} prune --filter {filter}",
            docker_host
                .map(|h| format!("DOCKER_HOST={} ", shell_quote(h)))
                .unwrap_or_default(),
            shell_quote(address),
            tls.map(tls_flags).unwrap_or_default(),
        ),
    }
}

/// buildctl's TLS flags for these files, each after a space.
fn tls_flags(tls: &TlsFiles) -> String {
    let mut out = format!(" --tlscacert {}", shell_quote(&tls.ca.to_string_lossy()));
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        out.push_str(&format!(
            " --tlscert {} --tlskey {}",
            shell_quote(&cert.to_string_lossy()),
            shell_quote(&key.to_string_lossy())
        ));
    }
    if let Some(name) = &tls.server_name {
        out.push_str(&format!(" --tlsservername {}", shell_quote(name)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::model::SourceKind;

    fn src() -> SourceRef {
        SourceRef::new(
            SourceKind::Buildkit,
            "docker-container://buildx_buildkit_ci0",
        )
    }

    fn record() -> Record {
        Record {
            id: "ufkdtw3x1lkysw5eit7oc8i9m".into(),
            record_type: "exec.cachemount".into(),
            description: "cached mount /build/target from exec /bin/sh -c cargo build with id \"/target-api\"".into(),
            size: 4096,
            mutable: true,
            in_use: false,
            shared: false,
            parents: vec!["p1".into()],
            created_at: None,
            last_used_at: None,
            usage_count: 3,
        }
    }

    #[test]
    fn records_become_entries_like_the_daemons() {
        let e = entry_of(record(), &src(), Some("ci"));
        assert_eq!(e.kind, "exec.cachemount");
        let m = e.mount.as_ref().unwrap();
        assert_eq!(m.target, "/build/target");
        assert_eq!(m.cache_id.as_deref(), Some("/target-api"));
        assert_eq!(m.command, "/bin/sh -c cargo build");
        assert_eq!((e.size_bytes, e.usage_count), (4096, Some(3)));
        assert_eq!(e.details["parents"], "p1");
        assert_eq!(e.details["builder"], "ci");
        assert_eq!(e.origin.parents(), ["p1"]);
        assert_eq!(e.origin.source_kind(), SourceKind::Buildkit);
        let content = e.content.unwrap();
        assert!(content.path.is_empty());
        assert!(content.error.unwrap().contains("not read"));
        let mut bare = record();
        bare.record_type.clear();
        bare.description = "local source for context".into();
        let e = entry_of(bare, &src(), None);
        assert_eq!(e.kind, "unknown");
        assert!(e.mount.is_none() && e.content.is_none());
    }

    #[test]
    fn equivalent_commands_prune_one_exact_id() {
        let e = entry_of(record(), &src(), Some("ci"));
        assert_eq!(
            equivalent_command(&e, Some("ci"), None, None),
            "docker buildx prune --builder ci --force --filter 'id=^ufkdtw3x1lkysw5eit7oc8i9m$'"
        );
        assert_eq!(
            equivalent_command(&e, None, None, None),
            "buildctl --addr docker-container://buildx_buildkit_ci0 prune --filter \
             id==ufkdtw3x1lkysw5eit7oc8i9m"
        );
        // Through a daemon other than Docker's default, buildctl must reach that one.
        assert_eq!(
            equivalent_command(&e, None, Some("unix:///run/ci docker.sock"), None),
            "DOCKER_HOST='unix:///run/ci docker.sock' buildctl --addr \
             docker-container://buildx_buildkit_ci0 prune --filter id==ufkdtw3x1lkysw5eit7oc8i9m"
        );
    }

    #[test]
    fn equivalent_commands_reach_a_tls_buildkit_and_a_builder_behind_tls_or_a_context() {
        let tls = TlsFiles {
            ca: "/etc/bk/ca.pem".into(),
            cert: Some("/etc/bk/client cert.pem".into()),
            key: Some("/etc/bk/client.key".into()),
            server_name: Some("buildkitd".into()),
        };
        let mut e = entry_of(record(), &src(), None);
        e.source = SourceRef::new(SourceKind::Buildkit, "tcp://10.0.0.5:1234");
        assert_eq!(
            equivalent_command(&e, None, None, Some(&tls)),
            "buildctl --addr tcp://10.0.0.5:1234 --tlscacert /etc/bk/ca.pem --tlscert \
             '/etc/bk/client cert.pem' --tlskey /etc/bk/client.key --tlsservername buildkitd \
             prune --filter id==ufkdtw3x1lkysw5eit7oc8i9m"
        );
        let server_only = TlsFiles {
            cert: None,
            key: None,
            server_name: None,
            ..tls.clone()
        };
        assert_eq!(
            equivalent_command(&e, None, None, Some(&server_only)),
            "buildctl --addr tcp://10.0.0.5:1234 --tlscacert /etc/bk/ca.pem prune --filter \
             id==ufkdtw3x1lkysw5eit7oc8i9m"
        );

        // A builder on a daemon in TLS or named by a context: buildctl inside the
        // container, through a docker CLI given the same daemon.
        let e = entry_of(record(), &src(), None);
        crate::sources::docker::dial::register(&crate::sources::docker::dial::DockerHost {
            url: "tcp://bk-equivalent-tls:2376".into(),
            tls: Some(tls.clone()),
            context: None,
        });
        assert_eq!(
            equivalent_command(&e, None, Some("tcp://bk-equivalent-tls:2376"), None),
            "docker -H tcp://bk-equivalent-tls:2376 --tlsverify --tlscacert /etc/bk/ca.pem \
             --tlscert '/etc/bk/client cert.pem' --tlskey /etc/bk/client.key exec \
             buildx_buildkit_ci0 buildctl prune --filter id==ufkdtw3x1lkysw5eit7oc8i9m"
        );
        crate::sources::docker::dial::register(&crate::sources::docker::dial::DockerHost {
            url: "ssh://ci@bk-equivalent-context".into(),
            tls: None,
            context: Some("east 2".into()),
        });
        assert_eq!(
            equivalent_command(&e, None, Some("ssh://ci@bk-equivalent-context"), None),
            "docker --context 'east 2' exec buildx_buildkit_ci0 buildctl prune --filter \
             id==ufkdtw3x1lkysw5eit7oc8i9m"
        );
    }

    #[test]
    fn the_gc_policy_reads_in_one_line() {
        let rules = vec![
            GcPolicy {
                filters: vec!["type==source.local".into(), "type==exec.cachemount".into()],
                keep_duration: Some(Duration::from_secs(48 * 3600)),
                max_used_space: 512 << 20,
                ..Default::default()
            },
            GcPolicy {
                all: true,
                reserved_space: 2 << 30,
                min_free_space: 10 << 30,
                ..Default::default()
            },
            GcPolicy::default(),
        ];
        assert_eq!(
            policy_text(&rules),
            "[type==source.local,type==exec.cachemount] keep 2d, max 536.87 MB | all reserved \
             2.15 GB, min free 10.74 GB | no limit"
        );
        assert_eq!(policy_text(&[]), "not reported");
    }

    #[test]
    fn the_summary_names_version_builder_workers_and_policy() {
        let v = Version {
            version: "v0.29.0".into(),
            ..Default::default()
        };
        let w = Worker {
            id: "w0".into(),
            platforms: vec!["linux/amd64".into()],
            snapshotter: Some("overlayfs".into()),
            labels: Default::default(),
            gc_policies: vec![],
        };
        assert_eq!(
            summary(Some("ci"), Some(&v), &[w]),
            "BuildKit v0.29.0, builder ci; worker linux/amd64 overlayfs, GC: not reported"
        );
        assert_eq!(summary(None, None, &[]), "BuildKit (version not reported)");
    }
}
