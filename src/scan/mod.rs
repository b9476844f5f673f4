//! Looking inside an entry's content: the true size on disk, the file count, the
//! largest subdirectories, and what the detectors find broken.
//!
//! Everything here blocks; callers run it on blocking threads. The walk itself runs on
//! rayon's pool, so scanning many entries at once shares the machine's cores. Which
//! entries are scanned, and when, is the inventory's business.

pub mod detectors;
pub mod walk;

use std::fmt::Write as _;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::model::{Content, DirUsage, Entry, Finding};
use crate::units::plural;
use detectors::{Candidate, Detector, PartSize};
use walk::Tree;

/// How many subdirectories `Content.largest` keeps, and how deep it looks.
const LARGEST: usize = 10;
const LARGEST_DEPTH: u32 = 2;

/// What scanning one entry's content found. `apply` puts it on the entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanOutcome {
    pub disk_bytes: Option<u64>,
    pub content: Content,
    pub findings: Vec<Finding>,
}

/// A finding with the exact on-disk path it names (names need not be UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub finding: Finding,
    /// Relative to the content root, as bytes on disk.
    pub rel: PathBuf,
}

/// A whole scan of one directory.
#[derive(Debug)]
pub struct Scan {
    pub disk_bytes: u64,
    pub files: u64,
    pub newest_mtime: Option<i64>,
    pub largest: Vec<DirUsage>,
    /// Sorted by path, then kind.
    pub parts: Vec<Part>,
    /// Directories and files that could not be read (not counting what vanished).
    pub unreadable: u64,
    /// Says what could not be read and what to do, when anything could not.
    pub partial_error: Option<String>,
}

/// Why a content root could not be scanned at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "{path} does not exist (any more): the record may have been removed since it was listed"
    )]
    Missing { path: String },
    #[error("permission denied reading {path}: run cachetop as root (sudo) to look inside")]
    Denied { path: String },
    #[error("{path} is not a directory")]
    NotADirectory { path: String },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl ScanError {
    fn of(path: &Path, e: io::Error) -> Self {
        let path = display_path(path);
        match e.kind() {
            io::ErrorKind::NotFound => ScanError::Missing { path },
            io::ErrorKind::PermissionDenied => ScanError::Denied { path },
            _ => ScanError::Io { path, source: e },
        }
    }
}

/// Scans the content an entry points at. `None` when the entry has no content path
/// (nothing to scan, or its source already said why it cannot be read). Blocking and
/// thread-safe.
pub fn scan_entry(entry: &Entry) -> Option<ScanOutcome> {
    let content = entry.content.as_ref()?;
    if content.path.is_empty() {
        return None;
    }
    let root = Path::new(&content.path);
    let scan = scan_dir(root, &logical_root(entry), detectors::all());
    Some(outcome(&content.path, &scan))
}

/// What a scan of the content at `path` means for its entry.
pub fn outcome(path: &str, scan: &Result<Scan, ScanError>) -> ScanOutcome {
    match scan {
        Ok(scan) => ScanOutcome {
            disk_bytes: Some(scan.disk_bytes),
            content: Content {
                path: path.to_string(),
                files: Some(scan.files),
                error: scan.partial_error.clone(),
                largest: scan.largest.clone(),
            },
            findings: scan.parts.iter().map(|p| p.finding.clone()).collect(),
        },
        Err(e) => ScanOutcome {
            disk_bytes: None,
            content: Content {
                path: path.to_string(),
                files: None,
                error: Some(e.to_string()),
                largest: Vec::new(),
            },
            findings: Vec::new(),
        },
    }
}

/// Whether an entry has content that no scan has looked at yet (a source that had to
/// walk its content anyway may have scanned it while listing).
pub fn needs_scan(entry: &Entry) -> bool {
    entry
        .content
        .as_ref()
        .is_some_and(|c| !c.path.is_empty() && c.files.is_none())
}

/// Puts a scan's results on the entry. Flags are the policy's job: classify after.
pub fn apply(entry: &mut Entry, outcome: ScanOutcome) {
    entry.disk_bytes = outcome.disk_bytes;
    entry.content = Some(outcome.content);
    entry.findings = outcome.findings;
}

/// The path the content has for the program that uses it: a cache mount's target,
/// else where it is on disk. Detectors recognise layouts by these names.
pub fn logical_root(entry: &Entry) -> PathBuf {
    match (&entry.mount, &entry.content) {
        (Some(m), _) if !m.target.is_empty() => PathBuf::from(&m.target),
        (_, Some(c)) => PathBuf::from(&c.path),
        _ => PathBuf::from("/"),
    }
}

/// Looks inside entries' content. The real one is [`OnDisk`]; tests inject their own,
/// as they inject sources (a closure that fills an entry in is one).
pub trait Scanner: Send + Sync {
    /// Whether there is anything to look at in this entry.
    fn wants(&self, _entry: &Entry) -> bool {
        true
    }

    /// The entry with its size on disk, content and findings filled in; `None` when
    /// there is nothing to add. Blocking: callers run it on blocking threads.
    fn scan(&self, entry: &Entry) -> Option<Entry>;
}

impl<F: Fn(&Entry) -> Option<Entry> + Send + Sync> Scanner for F {
    fn scan(&self, entry: &Entry) -> Option<Entry> {
        self(entry)
    }
}

/// The content on this machine's disk, walked with every detector.
pub struct OnDisk;

impl Scanner for OnDisk {
    /// Content that no scan has looked at yet.
    fn wants(&self, entry: &Entry) -> bool {
        needs_scan(entry)
    }

    fn scan(&self, entry: &Entry) -> Option<Entry> {
        let outcome = scan_entry(entry)?;
        let mut e = entry.clone();
        apply(&mut e, outcome);
        Some(e)
    }
}

/// Walks `root` with the given detectors. Fails only when the root itself cannot be
/// read; anything unreadable below it is counted in `unreadable` and `partial_error`.
pub fn scan_dir(
    root: &Path,
    logical_root: &Path,
    detectors: &[&dyn Detector],
) -> Result<Scan, ScanError> {
    let md = std::fs::metadata(root).map_err(|e| ScanError::of(root, e))?;
    if !md.is_dir() {
        return Err(ScanError::NotADirectory {
            path: display_path(root),
        });
    }
    // Reading the root's listing is the one failure that leaves nothing to report.
    if let Err(e) = std::fs::read_dir(root) {
        return Err(ScanError::of(root, e));
    }
    let tree = walk::walk(root, logical_root, detectors);
    Ok(summarise(root, tree))
}

fn summarise(root: &Path, tree: Tree) -> Scan {
    let mut parts: Vec<Part> = tree.candidates.iter().map(|c| part(c, &tree)).collect();
    parts.sort_by(|a, b| {
        a.rel
            .cmp(&b.rel)
            .then_with(|| a.finding.kind.as_str().cmp(b.finding.kind.as_str()))
    });
    parts.dedup_by(|a, b| a.rel == b.rel && a.finding.kind == b.finding.kind);

    let mut dirs: Vec<&walk::Node> = tree
        .nodes
        .iter()
        .filter(|n| (1..=LARGEST_DEPTH).contains(&n.depth) && n.subtree_bytes > 0)
        .collect();
    dirs.sort_by(|a, b| {
        b.subtree_bytes
            .cmp(&a.subtree_bytes)
            .then(a.rel.cmp(&b.rel))
    });
    let largest = dirs
        .into_iter()
        .take(LARGEST)
        .map(|n| DirUsage {
            path: display_path(&n.rel),
            bytes: n.subtree_bytes,
        })
        .collect();

    let partial_error = tree.unreadable.first.as_ref().map(|(rel, err)| {
        let what = if rel.as_os_str().is_empty() {
            display_path(root)
        } else {
            display_path(rel)
        };
        let fix = if err.kind() == io::ErrorKind::PermissionDenied {
            "; run cachetop as root (sudo) to see everything"
        } else {
            ""
        };
        format!(
            "{} could not be read (first: {what}: {}); sizes and findings cover the rest{fix}",
            plural(tree.unreadable.count as usize, "entry", "entries"),
            brief(err)
        )
    });

    Scan {
        disk_bytes: tree.bytes,
        files: tree.files,
        newest_mtime: tree.newest_mtime,
        largest,
        parts,
        unreadable: tree.unreadable.count,
        partial_error,
    }
}

/// An io error without the "(os error 13)" noise.
fn brief(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

fn part(c: &Candidate, tree: &Tree) -> Part {
    let bytes = match c.size {
        PartSize::Bytes(b) => b,
        PartSize::Dir(node) => tree.nodes.get(node as usize).map_or(0, |n| n.subtree_bytes),
    };
    Part {
        finding: Finding {
            kind: c.kind,
            path: display_path(&c.rel),
            detail: c.detail.clone(),
            bytes,
        },
        rel: c.rel.clone(),
    }
}

/// A path for people and JSON: UTF-8 as is, any other byte as `\xNN`.
pub fn display_path(p: &Path) -> String {
    let bytes = p.as_os_str().as_bytes();
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mount, SourceKind, SourceRef};
    use std::ffi::OsStr;
    use std::fs;

    fn entry_at(path: &Path, target: Option<&str>) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///x"),
            "abc",
            "exec.cachemount",
        );
        e.content = Some(Content {
            path: path.to_str().unwrap().to_string(),
            ..Default::default()
        });
        e.mount = target.map(|t| Mount {
            target: t.to_string(),
            cache_id: None,
            command: "cargo fetch".to_string(),
        });
        e
    }

    #[test]
    fn display_paths_escape_only_what_is_not_utf8() {
        assert_eq!(display_path(Path::new("a/b c/d")), "a/b c/d");
        assert_eq!(
            display_path(Path::new(OsStr::from_bytes(b"caf\xe9/\xff\xfeok"))),
            "caf\\xe9/\\xff\\xfeok"
        );
    }

    #[test]
    fn an_entry_without_content_is_not_scanned() {
        let mut e = entry_at(Path::new("/x"), None);
        e.content = None;
        assert!(scan_entry(&e).is_none());
        e.content = Some(Content {
            path: String::new(),
            error: Some("remote daemon".into()),
            ..Default::default()
        });
        assert!(scan_entry(&e).is_none());
    }

    #[test]
    fn a_scan_fills_in_size_files_largest_and_findings() {
        let d = tempfile::tempdir().unwrap();
        let reg = d.path().join("src/index.crates.io-1949cf8c6b5b557f");
        fs::create_dir_all(reg.join("ok-1.0.0")).unwrap();
        fs::write(reg.join("ok-1.0.0/.cargo-ok"), br#"{"v":1}"#).unwrap();
        fs::write(reg.join("ok-1.0.0/lib.rs"), vec![b'x'; 5000]).unwrap();
        fs::create_dir_all(reg.join("half-2.0.0")).unwrap();
        fs::write(reg.join("half-2.0.0/lib.rs"), vec![b'x'; 1200]).unwrap();
        let mut e = entry_at(d.path(), Some("/usr/local/cargo/registry"));
        e.size_bytes = 10;
        let outcome = scan_entry(&e).unwrap();
        assert_eq!(outcome.disk_bytes, Some(7 + 5000 + 1200));
        assert_eq!(outcome.content.files, Some(3));
        assert_eq!(outcome.content.error, None);
        assert_eq!(outcome.content.largest[0].path, "src");
        assert_eq!(outcome.content.largest[0].bytes, 6207);
        assert_eq!(outcome.findings.len(), 1);
        let f = &outcome.findings[0];
        assert_eq!(f.kind, "cargo.partial_extraction");
        assert_eq!(f.path, "src/index.crates.io-1949cf8c6b5b557f/half-2.0.0");
        assert_eq!(f.bytes, 1200);
        apply(&mut e, outcome);
        assert_eq!(e.disk_bytes, Some(6207));
        assert_eq!(e.findings.len(), 1);
    }

    #[test]
    fn a_missing_root_says_so() {
        let e = entry_at(Path::new("/nonexistent/cachetop/overlay2/x/diff"), None);
        let outcome = scan_entry(&e).unwrap();
        assert_eq!(outcome.disk_bytes, None);
        assert_eq!(outcome.content.files, None);
        let err = outcome.content.error.unwrap();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn on_disk_scans_what_has_content_not_scanned_yet() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("f"), b"12345").unwrap();
        let e = entry_at(d.path(), None);
        assert!(OnDisk.wants(&e));
        let scanned = OnDisk.scan(&e).unwrap();
        assert_eq!(scanned.disk_bytes, Some(5));
        assert!(
            !OnDisk.wants(&scanned),
            "scanned content is not scanned again"
        );
        let mut none = e;
        none.content = None;
        assert!(!OnDisk.wants(&none));
        assert!(OnDisk.scan(&none).is_none());
    }
}
