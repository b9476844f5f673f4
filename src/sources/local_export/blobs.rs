//! The files under `blobs/<algorithm>/`, and what is being written into the export
//! right now. Only committed blobs (a file named by its full digest) are listed;
//! anything else there (a temp file, a partial copy) is counted, never listed.

use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use crate::sources::oci::Digest;

/// An ingest touched this recently is an export still writing.
pub const ACTIVE_INGEST: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobFile {
    pub digest: Digest,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

#[cfg(test)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlobListing {
    pub blobs: Vec<BlobFile>,
    /// Names under `blobs/` that are not committed blobs (temp files, links, dirs).
    pub skipped: Vec<String>,
}

/// Lists `blobs/sha256/` (and `blobs/sha512/`). A blob file that is a symbolic link is
/// never listed; a `blobs/<alg>` that is one is listed through (the source never
/// looks for orphans, nor deletes, in a linked store).
#[cfg(test)]
pub fn list_blobs(root: &Path) -> std::io::Result<BlobListing> {
    let (blobs, skipped) = map_blobs(root, |b| b)?;
    Ok(BlobListing { blobs, skipped })
}

/// Lists the blobs and turns each into an `R` on the thread that stat'ed it: one
/// pass, one stat per blob, which is most of the work of listing a large export.
pub fn map_blobs<R: Send>(
    root: &Path,
    make: impl Fn(BlobFile) -> R + Sync,
) -> std::io::Result<(Vec<R>, Vec<String>)> {
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    let blobs = root.join("blobs");
    for dir in std::fs::read_dir(&blobs)? {
        let dir = dir?;
        let alg = dir.file_name();
        let Some(alg) = alg.to_str().filter(|a| matches!(*a, "sha256" | "sha512")) else {
            skipped.push(format!("blobs/{}", dir.file_name().to_string_lossy()));
            continue;
        };
        let ft = dir.file_type()?;
        let is_dir = ft.is_dir()
            || (ft.is_symlink() && std::fs::metadata(dir.path()).is_ok_and(|m| m.is_dir()));
        if !is_dir {
            skipped.push(format!("blobs/{alg}"));
            continue;
        }
        let names = std::fs::read_dir(dir.path())?.collect::<Result<Vec<_>, _>>()?;
        out.reserve(names.len());
        for part in in_parallel(&names, |chunk| stat_blobs(alg, chunk, &make)) {
            let (found, odd) = part?;
            out.extend(found);
            skipped.extend(odd);
        }
    }
    Ok((out, skipped))
}

fn stat_blobs<R>(
    alg: &str,
    names: &[std::fs::DirEntry],
    make: &impl Fn(BlobFile) -> R,
) -> std::io::Result<(Vec<R>, Vec<String>)> {
    use std::os::unix::ffi::OsStrExt;
    let mut found = Vec::with_capacity(names.len());
    let mut skipped = Vec::new();
    for f in names {
        let name = f.file_name();
        let digest = Digest::from_file_name(alg, name.as_bytes());
        // DirEntry::metadata does not follow symbolic links.
        let meta = match f.metadata() {
            Ok(m) => m,
            // Gone between readdir and stat: an export or a prune moved it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match digest {
            Some(digest) if meta.file_type().is_file() => found.push(make(BlobFile {
                digest,
                size: meta.len(),
                modified: meta.modified().ok().map(DateTime::<Utc>::from),
            })),
            _ => skipped.push(format!("blobs/{alg}/{}", name.to_string_lossy())),
        }
    }
    Ok((found, skipped))
}

/// Runs `f` over chunks of `items` on a few threads (one for small inputs), keeping
/// the chunks' order. Two threads a core: a stat of a cold directory waits on the disk,
/// and the other thread keeps the core busy meanwhile.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    const MIN_CHUNK: usize = 2048;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get() * 2)
        .clamp(1, 8)
        .min(items.len().div_ceil(MIN_CHUNK))
        .max(1);
    if threads == 1 {
        return vec![f(items)];
    }
    let size = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(size)
            .map(|chunk| s.spawn(move || f(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Writes in progress under `ingest/` (containerd's local content store, which
/// BuildKit exports through): how many, and how many were touched recently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ingests {
    pub total: usize,
    pub active: usize,
    pub bytes: u64,
}

pub fn ingests(root: &Path, now: SystemTime) -> std::io::Result<Ingests> {
    let mut out = Ingests::default();
    let dir = match std::fs::read_dir(root.join("ingest")) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for ing in dir {
        let ing = ing?;
        out.total += 1;
        let data = ing.path().join("data");
        let meta = std::fs::symlink_metadata(&data).or_else(|_| ing.metadata());
        if let Ok(m) = meta {
            if m.file_type().is_file() {
                out.bytes += m.len();
            }
            let recent = m
                .modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_none_or(|age| age < ACTIVE_INGEST);
            if recent {
                out.active += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_committed_blobs_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let sha = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&sha).unwrap();
        let d = Digest::sha256_of(b"x");
        std::fs::write(sha.join(d.hex()), b"x").unwrap();
        std::fs::write(sha.join(format!("{}.tmp", d.hex())), b"partial").unwrap();
        std::fs::write(sha.join(".tmp-upload-123"), b"partial").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", sha.join("b".repeat(64))).unwrap();
        std::fs::create_dir(sha.join("c".repeat(64))).unwrap();
        std::fs::create_dir_all(dir.path().join("blobs/md5")).unwrap();
        let l = list_blobs(dir.path()).unwrap();
        assert_eq!(l.blobs.len(), 1);
        assert_eq!(l.blobs[0].digest, d);
        assert_eq!(l.blobs[0].size, 1);
        assert_eq!(l.skipped.len(), 5, "{:?}", l.skipped);
    }

    #[test]
    fn recent_ingests_are_active() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ingests(dir.path(), SystemTime::now()).unwrap(),
            Ingests::default()
        );
        let ing = dir.path().join("ingest/abc");
        std::fs::create_dir_all(&ing).unwrap();
        std::fs::write(ing.join("data"), b"12345").unwrap();
        let now = SystemTime::now();
        let i = ingests(dir.path(), now).unwrap();
        assert_eq!((i.total, i.active, i.bytes), (1, 1, 5));
        let later = now + ACTIVE_INGEST + Duration::from_secs(60);
        assert_eq!(ingests(dir.path(), later).unwrap().active, 0);
    }
}
