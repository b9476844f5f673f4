//! Which local filesystem holds each source's data, and how full it is: the disk
//! context of `report`, and what `prune --keep-free` judges each candidate against.
//!
//! The grouping is pure ([`group`]); reading a path's device, mount point and
//! `statvfs` figures ([`probe`]) is the only I/O. A source with no location on this
//! machine (GitHub, a registry, a daemon elsewhere) has no filesystem.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::inventory::SourceStatus;
use crate::model::{Entry, Origin, SourceRef};

/// How full one filesystem is, as `statvfs` says (`df` counts the same way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub size_bytes: u64,
    /// Blocks in use (size minus every free block, the root reserve included).
    pub used_bytes: u64,
    /// Free to unprivileged users (`f_bavail`): what a build can still write.
    pub free_bytes: u64,
}

/// Where a path lives: its device, the mount point above it, and the figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    pub device: u64,
    pub mount_point: PathBuf,
    pub usage: Usage,
}

/// One filesystem that holds cached data, and the sources whose data it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filesystem {
    pub device: u64,
    pub mount_point: PathBuf,
    pub usage: Usage,
    /// In the order the sources were configured, each once.
    pub sources: Vec<SourceRef>,
    /// What the stale eviction would free here now; filled in by
    /// `prune::fill_reclaimable` (0 until then).
    pub reclaimable_bytes: u64,
}

/// What a location is the location of.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Where a source keeps its data (Docker's root dir, a `--dir`).
    Source(SourceRef),
    /// Where one entry's data is, when not under its source's location (a builder
    /// state volume's mountpoint).
    Entry(SourceRef, String),
}

impl Owner {
    fn source(&self) -> &SourceRef {
        match self {
            Owner::Source(s) | Owner::Entry(s, _) => s,
        }
    }
}

/// Every filesystem found, and which one holds each source's and entry's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disks {
    pub filesystems: Vec<Filesystem>,
    by_owner: HashMap<Owner, usize>,
    /// Locations that could not be read, with why (shown, never fatal).
    pub errors: Vec<String>,
}

impl Disks {
    /// The filesystem that holds the entry's data: its own location when it has
    /// one, else its source's.
    pub fn of_entry(&self, e: &Entry) -> Option<usize> {
        let own = Owner::Entry(e.source.clone(), e.id.clone());
        self.by_owner
            .get(&own)
            .or_else(|| self.by_owner.get(&Owner::Source(e.source.clone())))
            .copied()
    }

    /// No filesystem read, and why.
    pub fn unread(why: String) -> Disks {
        Disks {
            errors: vec![why],
            ..Default::default()
        }
    }

    /// The filesystem that holds the source's data.
    pub fn of_source(&self, s: &SourceRef) -> Option<usize> {
        self.by_owner.get(&Owner::Source(s.clone())).copied()
    }

    /// Reads every location of the sources that answered and of their entries.
    /// Blocking: a few `stat` and `statvfs` calls per location.
    pub fn read(statuses: &[SourceStatus], entries: &[Entry]) -> Disks {
        Disks::read_at(locations(statuses, entries))
    }

    /// Reads the given locations (from [`locations`]). Blocking.
    pub fn read_at(locations: Vec<(Owner, PathBuf)>) -> Disks {
        let mut probes = Vec::new();
        let mut errors = Vec::new();
        // One read of the mount table for every location.
        let mountinfo = read_mountinfo();
        for (owner, path) in locations {
            match probe(&path, mountinfo.as_deref()) {
                Ok(p) => probes.push((owner, p)),
                Err(e) => errors.push(format!(
                    "{}: cannot read the filesystem of {}: {e}",
                    owner.source(),
                    path.display()
                )),
            }
        }
        let mut disks = group(probes);
        disks.errors = errors;
        disks
    }
}

/// Every location to look at: each source's, then each entry's own, in order.
pub fn locations(statuses: &[SourceStatus], entries: &[Entry]) -> Vec<(Owner, PathBuf)> {
    let mut out: Vec<(Owner, PathBuf)> = statuses
        .iter()
        .filter(|s| s.ok())
        .filter_map(|s| Some((Owner::Source(s.source.clone()), s.location.clone()?)))
        .collect();
    out.extend(entries.iter().filter_map(|e| {
        let path = own_location(e)?;
        Some((Owner::Entry(e.source.clone(), e.id.clone()), path))
    }));
    out
}

/// An entry whose data is somewhere of its own: a builder state volume read on this
/// machine (its content path is the volume's mountpoint; empty when elsewhere).
fn own_location(e: &Entry) -> Option<PathBuf> {
    match e.origin {
        Origin::StateVolume { .. } => e
            .content
            .as_ref()
            .map(|c| c.path.as_str())
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        _ => None,
    }
}

/// Groups probed locations by device, in the order first seen; each source is
/// named once per filesystem.
pub fn group(probes: Vec<(Owner, Probe)>) -> Disks {
    let mut disks = Disks::default();
    let mut by_device: HashMap<u64, usize> = HashMap::new();
    for (owner, p) in probes {
        let i = *by_device.entry(p.device).or_insert_with(|| {
            disks.filesystems.push(Filesystem {
                device: p.device,
                mount_point: p.mount_point.clone(),
                usage: p.usage,
                sources: Vec::new(),
                reclaimable_bytes: 0,
            });
            disks.filesystems.len() - 1
        });
        let fs = &mut disks.filesystems[i];
        if !fs.sources.contains(owner.source()) {
            fs.sources.push(owner.source().clone());
        }
        disks.by_owner.insert(owner, i);
    }
    disks
}

/// Turns `statvfs` block counts into bytes, as `df` does.
pub fn usage_of(frsize: u64, blocks: u64, bfree: u64, bavail: u64) -> Usage {
    Usage {
        size_bytes: blocks.saturating_mul(frsize),
        used_bytes: blocks.saturating_sub(bfree).saturating_mul(frsize),
        free_bytes: bavail.saturating_mul(frsize),
    }
}

/// The device, mount point and figures of the filesystem that holds `path`, with the
/// mount point found in `mountinfo` (this process's mount table) when given.
pub fn probe(path: &Path, mountinfo: Option<&str>) -> io::Result<Probe> {
    let path = std::fs::canonicalize(path)?;
    let device = std::fs::metadata(&path)?.dev();
    let v = rustix::fs::statvfs(&path)?;
    Ok(Probe {
        device,
        mount_point: mount_point(&path, device, mountinfo),
        usage: usage_of(v.f_frsize, v.f_blocks, v.f_bfree, v.f_bavail),
    })
}

/// Where `path` is mounted: the deepest mount point above it in this process's
/// mount table (a bind mount has the device of what it shows, so the device alone
/// cannot tell), else the highest directory above it on the same device.
fn mount_point(path: &Path, device: u64, mountinfo: Option<&str>) -> PathBuf {
    mountinfo
        .and_then(|table| mount_point_in(table, path))
        .unwrap_or_else(|| same_device_top(path, device))
}

/// The mount table is kernel-made, but still read with a bound.
const MOUNTINFO_MAX: u64 = 8 << 20;

fn read_mountinfo() -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open("/proc/self/mountinfo").ok()?;
    let mut text = String::new();
    f.take(MOUNTINFO_MAX).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The deepest mount point in a `/proc/self/mountinfo` table that holds `path`.
pub fn mount_point_in(mountinfo: &str, path: &Path) -> Option<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_octal(field)))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.components().count())
}

/// Mount tables write space, tab, newline and backslash as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The highest directory above `path` on the same device.
fn same_device_top(path: &Path, device: u64) -> PathBuf {
    let mut at = path;
    while let Some(parent) = at.parent() {
        match std::fs::metadata(parent) {
            Ok(m) if m.dev() == device => at = parent,
            _ => break,
        }
    }
    at.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Content, SourceKind};

    fn probe_of(device: u64, mp: &str, free: u64) -> Probe {
        Probe {
            device,
            mount_point: mp.into(),
            usage: Usage {
                size_bytes: 1000,
                used_bytes: 1000 - free,
                free_bytes: free,
            },
        }
    }

    fn src(kind: SourceKind, name: &str) -> SourceRef {
        SourceRef::new(kind, name)
    }

    #[test]
    fn sources_on_one_device_share_a_filesystem() {
        let docker = src(SourceKind::Docker, "unix:///d.sock");
        let cargo = src(SourceKind::Dir, "/home/ci/.cargo");
        let tmp = src(SourceKind::Dir, "/mnt/small");
        let disks = group(vec![
            (Owner::Source(docker.clone()), probe_of(1, "/", 100)),
            (Owner::Source(cargo.clone()), probe_of(1, "/", 100)),
            (Owner::Source(tmp.clone()), probe_of(7, "/mnt/small", 5)),
            (
                Owner::Entry(docker.clone(), "buildx_buildkit_b0_state".into()),
                probe_of(7, "/mnt/small", 5),
            ),
        ]);
        assert_eq!(disks.filesystems.len(), 2);
        assert_eq!(disks.filesystems[0].sources, vec![docker.clone(), cargo]);
        assert_eq!(disks.filesystems[1].sources, vec![tmp, docker.clone()]);
        assert_eq!(disks.of_source(&docker), Some(0));

        let mut record = Entry::new(docker.clone(), "rec", "regular");
        assert_eq!(disks.of_entry(&record), Some(0));
        record.id = "buildx_buildkit_b0_state".into();
        assert_eq!(disks.of_entry(&record), Some(1), "its own location wins");
        let gha = Entry::new(src(SourceKind::Gha, "o/r"), "1", "gha.other");
        assert_eq!(disks.of_entry(&gha), None);
    }

    #[test]
    fn statvfs_blocks_become_bytes_as_df_counts_them() {
        let u = usage_of(4096, 100, 30, 20);
        assert_eq!(u.size_bytes, 409_600);
        assert_eq!(u.used_bytes, 70 * 4096);
        assert_eq!(u.free_bytes, 20 * 4096, "what unprivileged users may write");
        assert_eq!(usage_of(4096, 1, 5, 5).used_bytes, 0, "never negative");
    }

    #[test]
    fn only_sources_that_answered_and_local_volumes_have_locations() {
        let ok = SourceStatus {
            source: src(SourceKind::Dir, "/c"),
            error: None,
            summary: String::new(),
            details: serde_json::Value::Null,
            location: Some("/c".into()),
            host: None,
        };
        let mut failed = ok.clone();
        failed.source = src(SourceKind::Dir, "/gone");
        failed.error = Some(crate::sources::SourceError::new(
            crate::sources::ErrorKind::NotFound,
            "no",
        ));
        let mut remote = ok.clone();
        remote.source = src(SourceKind::Docker, "tcp://far:2375");
        remote.location = None;
        let volume = |path: &str| {
            let mut e = Entry::new(remote.source.clone(), "v", "buildx.state-volume");
            e.origin = Origin::StateVolume { containers: vec![] };
            e.content = Some(Content {
                path: path.into(),
                ..Default::default()
            });
            e
        };
        let volumes = [volume(""), volume("/var/v")];
        let got = locations(&[ok, failed, remote], &volumes);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, PathBuf::from("/c"));
        assert_eq!(got[1].1, PathBuf::from("/var/v"));
    }

    #[test]
    fn the_deepest_mount_above_a_path_is_its_mount_point() {
        let table = "\
22 1 0:21 / / rw,relatime shared:1 - overlay overlay rw
30 22 0:30 / /tmp rw shared:2 - tmpfs tmpfs rw
31 30 8:1 /srv/d /tmp/d rw shared:3 - ext4 /dev/sda1 rw
32 22 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
";
        let at = |p: &str| mount_point_in(table, Path::new(p)).unwrap();
        assert_eq!(at("/tmp/d/data/x"), Path::new("/tmp/d"));
        assert_eq!(at("/tmp/dd"), Path::new("/tmp"), "whole components only");
        assert_eq!(at("/var/lib"), Path::new("/"));
        assert_eq!(at("/mnt/with space/c"), Path::new("/mnt/with space"));
        assert_eq!(mount_point_in("garbage\n", Path::new("/x")), None);
    }

    #[test]
    fn a_real_path_is_on_a_filesystem_with_figures() {
        let d = tempfile::tempdir().unwrap();
        let p = probe(d.path(), read_mountinfo().as_deref()).unwrap();
        assert!(p.usage.size_bytes > 0);
        assert!(p.usage.free_bytes <= p.usage.size_bytes);
        assert!(d.path().canonicalize().unwrap().starts_with(&p.mount_point));
        assert_eq!(
            probe(Path::new("/"), read_mountinfo().as_deref())
                .unwrap()
                .mount_point,
            Path::new("/")
        );
    }
}
