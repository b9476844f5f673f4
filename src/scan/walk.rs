//! The parallel walk under a content root: sizes, file counts, per-directory totals,
//! and the detectors' look at every directory.
//!
//! Symlinks are never followed (a loop is just a small file), hard links are counted
//! once, names are bytes (never assumed UTF-8), a directory that vanishes mid-walk is
//! simply gone, and one unreadable file or directory is counted, not fatal.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rayon::prelude::*;
use rustix::fs::{AtFlags, CWD, Dir, FileType, Mode, OFlags, openat, statat};
use rustix::io::Errno;

use super::detectors::{AfterCheck, Candidate, Detector, Facts, Found, Verdict};

/// What kind of thing a directory entry is, without following symlinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// One entry of a directory, as the detectors see it.
#[derive(Clone, Debug)]
pub struct Child<'a> {
    pub name: &'a OsStr,
    pub kind: Kind,
    /// Apparent size counted for this entry: 0 for directories and for a hard link
    /// already counted elsewhere.
    pub size: u64,
    /// Apparent size of the file itself (0 for directories).
    pub len: u64,
    /// Modification time; `None` for directories.
    pub modified: Option<SystemTime>,
    /// The walk's node id of a child directory.
    pub node: Option<u32>,
}

/// One directory during the walk, handed to every detector.
pub struct DirView<'a> {
    /// Where it is on disk.
    pub abs: &'a Path,
    /// Relative to the content root ("" for the root itself).
    pub rel: &'a Path,
    /// The path the content root has for the program that uses it (a mount target,
    /// or the directory itself): detectors match layouts on these names.
    pub logical_root: &'a Path,
    pub children: &'a [Child<'a>],
    pub node: u32,
    /// This directory's name and its two parents' (computed once: every detector
    /// asks).
    pub tail: [Option<&'a OsStr>; 3],
    /// The open directory, to open its entries by name (one lookup, not a path).
    pub fd: BorrowedFd<'a>,
}

impl<'a> DirView<'a> {
    /// The name `n` levels up: 0 is this directory, 1 its parent, and so on through
    /// the logical root's own names.
    pub fn name(&self, n: usize) -> Option<&'a OsStr> {
        match self.tail.get(n) {
            Some(name) => *name,
            None => self.names().nth(n),
        }
    }

    /// Names from this directory upwards.
    pub fn names(&self) -> impl Iterator<Item = &'a OsStr> + 'a {
        self.rel.iter().rev().chain(self.logical_root.iter().rev())
    }

    pub fn child(&self, name: &str) -> Option<&'a Child<'a>> {
        self.children.iter().find(|c| c.name == OsStr::new(name))
    }

    /// Opens an entry of this directory for reading, never following a symlink.
    pub fn open(&self, name: &str) -> io::Result<std::fs::File> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let fd = openat(self.fd, name, flags, Mode::empty())?;
        Ok(std::fs::File::from(fd))
    }
}

/// A directory of the tree, by node id (the root is 0).
#[derive(Clone, Debug)]
pub struct Node {
    pub parent: u32,
    pub depth: u32,
    pub rel: PathBuf,
    /// Bytes of the files directly inside.
    pub own_bytes: u64,
    /// Bytes of everything below, filled in after the walk.
    pub subtree_bytes: u64,
}

/// Something the walk could not read, other than what vanished under it.
#[derive(Debug, Default)]
pub struct Unreadable {
    pub count: u64,
    /// The first one, for the message.
    pub first: Option<(PathBuf, io::Error)>,
}

impl Unreadable {
    fn add(&mut self, rel: &Path, err: io::Error) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((rel.to_path_buf(), err));
        }
    }
}

/// Everything one walk learned.
#[derive(Debug)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// Entries that are not directories (files, symlinks, sockets...).
    pub files: u64,
    /// Apparent size of those, hard links counted once (directories count 0, as
    /// BuildKit counts a cache mount).
    pub bytes: u64,
    /// The newest modification time of any file (Unix seconds).
    pub newest_mtime: Option<i64>,
    pub candidates: Vec<Candidate>,
    pub unreadable: Unreadable,
}

struct Shared<'a> {
    detectors: &'a [&'a dyn Detector],
    logical_root: &'a Path,
    next_id: AtomicU32,
    nodes: Mutex<Vec<(u32, Node)>>,
    totals: Mutex<Totals>,
    links: Mutex<HashSet<(u64, u64)>>,
    candidates: Mutex<Vec<Candidate>>,
    unreadable: Mutex<Unreadable>,
    notes: Mutex<HashMap<PathBuf, SystemTime>>,
    after: Mutex<Vec<AfterCheck>>,
}

#[derive(Default)]
struct Totals {
    files: u64,
    bytes: u64,
    newest_mtime: Option<i64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A detector that panicked must not take the whole scan with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Walks `root` (which must be a readable directory) on rayon's pool.
pub fn walk(root: &Path, logical_root: &Path, detectors: &[&dyn Detector]) -> Tree {
    let shared = Shared {
        detectors,
        logical_root,
        next_id: AtomicU32::new(1),
        nodes: Mutex::new(Vec::new()),
        totals: Mutex::new(Totals::default()),
        links: Mutex::new(HashSet::new()),
        candidates: Mutex::new(Vec::new()),
        unreadable: Mutex::new(Unreadable::default()),
        notes: Mutex::new(HashMap::new()),
        after: Mutex::new(Vec::new()),
    };
    rayon::scope(|s| {
        visit(
            &shared,
            s,
            0,
            0,
            0,
            None,
            root.to_path_buf(),
            PathBuf::new(),
        )
    });
    let mut pairs = shared.nodes.into_inner().unwrap_or_else(|p| p.into_inner());
    pairs.sort_unstable_by_key(|(id, _)| *id);
    // Every id handed out has exactly one node, so the index is the id.
    let mut nodes: Vec<Node> = pairs.into_iter().map(|(_, n)| n).collect();
    for id in (0..nodes.len()).rev() {
        nodes[id].subtree_bytes += nodes[id].own_bytes;
        if id > 0 {
            let parent = nodes[id].parent as usize;
            let sub = nodes[id].subtree_bytes;
            nodes[parent].subtree_bytes += sub;
        }
    }
    // Checks that need the whole walk's notes (which crates cargo finished
    // extracting) run now, in parallel.
    let facts = Facts {
        root: root.to_path_buf(),
        notes: shared.notes.into_inner().unwrap_or_else(|p| p.into_inner()),
    };
    let after = shared.after.into_inner().unwrap_or_else(|p| p.into_inner());
    let verdicts: Vec<Verdict> = after.into_par_iter().map(|check| check(&facts)).collect();
    let mut candidates = shared
        .candidates
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let mut unreadable = shared
        .unreadable
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    for v in verdicts {
        match v {
            Verdict::Fine => {}
            Verdict::Broken(c) => candidates.push(c),
            Verdict::Unreadable(rel, err) => unreadable.add(&rel, err),
        }
    }
    let totals = shared
        .totals
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Tree {
        nodes,
        files: totals.files,
        bytes: totals.bytes,
        newest_mtime: totals.newest_mtime,
        candidates,
        unreadable,
    }
}

fn vanished(e: &io::Error) -> bool {
    // Gone, or replaced by something that is not a directory, since it was listed.
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(libc::ENOTDIR)
        || e.raw_os_error() == Some(libc::ELOOP)
}

/// Opens a directory for listing: relative to its open parent (one name to look up,
/// never following a symlink), or by its whole path for the root, or when the
/// process is out of descriptors.
fn open_dir(parent: Option<&Dir>, abs: &Path, name: &OsStr) -> io::Result<Dir> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = match parent {
        Some(p) => match openat(p.fd()?, name, flags | OFlags::NOFOLLOW, Mode::empty()) {
            Err(Errno::MFILE | Errno::NFILE) => {
                openat(CWD, abs, flags | OFlags::NOFOLLOW, Mode::empty())
            }
            r => r,
        },
        None => openat(CWD, abs, flags, Mode::empty()),
    }?;
    Ok(Dir::new(fd)?)
}

fn system_time(secs: i64, nanos: u64) -> Option<SystemTime> {
    let nanos = Duration::from_nanos(nanos.min(999_999_999));
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64) + nanos)
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
            .checked_add(nanos)
    }
}

#[allow(clippy::too_many_arguments)]
fn visit<'s>(
    shared: &'s Shared<'s>,
    scope: &rayon::Scope<'s>,
    id: u32,
    parent: u32,
    depth: u32,
    parent_dir: Option<Arc<Dir>>,
    abs: PathBuf,
    rel: PathBuf,
) {
    let mut own = Totals::default();
    let mut listing = Listing::default();
    let name = abs.file_name().unwrap_or_default();
    let opened = open_dir(parent_dir.as_deref(), &abs, name);
    drop(parent_dir);
    // A directory that vanished or cannot be listed is never judged: its children
    // are unknown, not absent.
    let dir = match opened {
        Ok(mut dir) => {
            list(shared, &mut dir, &rel, &mut own, &mut listing);
            Some(Arc::new(dir))
        }
        Err(e) if vanished(&e) => None,
        Err(e) => {
            lock(&shared.unreadable).add(&rel, e);
            None
        }
    };

    let children = listing.children();
    let listed_fd = dir
        .as_ref()
        .filter(|_| !shared.detectors.is_empty())
        .and_then(|d| d.fd().ok());
    if let Some(fd) = listed_fd {
        let mut tail = [None; 3];
        for (slot, name) in tail
            .iter_mut()
            .zip(rel.iter().rev().chain(shared.logical_root.iter().rev()))
        {
            *slot = Some(name);
        }
        let view = DirView {
            abs: &abs,
            rel: &rel,
            logical_root: shared.logical_root,
            children: &children,
            node: id,
            tail,
            fd,
        };
        let mut found = Found::default();
        for d in shared.detectors {
            d.visit(&view, &mut found);
        }
        if !found.candidates.is_empty() {
            lock(&shared.candidates).append(&mut found.candidates);
        }
        for (rel, err) in found.unreadable {
            lock(&shared.unreadable).add(&rel, err);
        }
        if !found.notes.is_empty() {
            lock(&shared.notes).extend(found.notes);
        }
        if !found.after.is_empty() {
            lock(&shared.after).append(&mut found.after);
        }
        for check in found.checks {
            scope.spawn(move |_| match check() {
                Verdict::Fine => {}
                Verdict::Broken(c) => lock(&shared.candidates).push(c),
                Verdict::Unreadable(rel, err) => lock(&shared.unreadable).add(&rel, err),
            });
        }
    }

    if let Some(dir) = &dir {
        for c in &children {
            if let Some(node) = c.node {
                let (abs, rel) = (abs.join(c.name), rel.join(c.name));
                let dir = Some(dir.clone());
                scope.spawn(move |s| visit(shared, s, node, id, depth + 1, dir, abs, rel));
            }
        }
    }

    drop(children);
    {
        let mut t = lock(&shared.totals);
        t.files += own.files;
        t.bytes += own.bytes;
        t.newest_mtime = t.newest_mtime.max(own.newest_mtime);
    }
    lock(&shared.nodes).push((
        id,
        Node {
            parent,
            depth,
            rel,
            own_bytes: own.bytes,
            subtree_bytes: 0,
        },
    ));
}

/// Reads a directory's entries: kinds from the listing (no symlink is followed),
/// sizes of non-directories from a stat relative to the open directory.
/// A directory's entries, with every name in one buffer (no allocation per entry).
#[derive(Default)]
struct Listing {
    names: Vec<u8>,
    entries: Vec<(std::ops::Range<usize>, Child<'static>)>,
}

impl Listing {
    fn push(&mut self, name: &[u8], child: Child<'static>) {
        let start = self.names.len();
        self.names.extend_from_slice(name);
        self.entries.push((start..self.names.len(), child));
    }

    fn children(&self) -> Vec<Child<'_>> {
        self.entries
            .iter()
            .map(|(range, c)| Child {
                name: OsStr::from_bytes(&self.names[range.clone()]),
                ..c.clone()
            })
            .collect()
    }
}

// `struct stat` field types differ between architectures, hence the casts.
#[allow(clippy::unnecessary_cast)]
fn list(shared: &Shared<'_>, dir: &mut Dir, rel: &Path, own: &mut Totals, listing: &mut Listing) {
    let Ok(fd) = dir.fd().map(|fd| fd.as_raw_fd()) else {
        return;
    };
    // SAFETY: the descriptor belongs to `dir`, which outlives every use below.
    let dirfd = unsafe { BorrowedFd::borrow_raw(fd) };
    for ent in dir {
        let ent = match ent {
            Ok(e) => e,
            Err(e) => {
                let e = io::Error::from(e);
                if !vanished(&e) {
                    lock(&shared.unreadable).add(rel, e);
                }
                break;
            }
        };
        let bytes = ent.file_name().to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let name = OsStr::from_bytes(bytes);
        let mut kind = ent.file_type();
        let mut stat = None;
        // Directories need no stat; anything else (or an unknown kind) does.
        if kind != FileType::Directory {
            match statat(dirfd, ent.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => {
                    kind = FileType::from_raw_mode(st.st_mode as _);
                    stat = Some(st);
                }
                Err(e) => {
                    let e = io::Error::from(e);
                    if !vanished(&e) {
                        lock(&shared.unreadable).add(&rel.join(name), e);
                    }
                    continue;
                }
            }
        }
        let no_name: &'static OsStr = OsStr::new("");
        if kind == FileType::Directory {
            listing.push(
                bytes,
                Child {
                    name: no_name,
                    kind: Kind::Dir,
                    size: 0,
                    len: 0,
                    modified: None,
                    node: Some(shared.next_id.fetch_add(1, Ordering::Relaxed)),
                },
            );
            continue;
        }
        let Some(st) = stat else { continue };
        let len = st.st_size.max(0) as u64;
        let first_link =
            st.st_nlink <= 1 || lock(&shared.links).insert((st.st_dev as u64, st.st_ino as u64));
        let size = if first_link { len } else { 0 };
        let mtime = st.st_mtime as i64;
        own.files += 1;
        own.bytes += size;
        own.newest_mtime = own.newest_mtime.max(Some(mtime));
        listing.push(
            bytes,
            Child {
                name: no_name,
                kind: match kind {
                    FileType::RegularFile => Kind::File,
                    FileType::Symlink => Kind::Symlink,
                    _ => Kind::Other,
                },
                size,
                len,
                modified: system_time(mtime, st.st_mtime_nsec as u64),
                node: None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn tree(dir: &Path) -> Tree {
        walk(dir, dir, &[])
    }

    #[test]
    fn sizes_counts_and_subtrees() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("top"), vec![0u8; 10]).unwrap();
        fs::write(d.path().join("a/x"), vec![0u8; 100]).unwrap();
        fs::write(d.path().join("a/b/y"), vec![0u8; 1000]).unwrap();
        let t = tree(d.path());
        assert_eq!(t.files, 3);
        assert_eq!(t.bytes, 1110);
        assert_eq!(t.nodes[0].subtree_bytes, 1110);
        let a = t.nodes.iter().find(|n| n.rel == Path::new("a")).unwrap();
        assert_eq!(a.subtree_bytes, 1100);
        assert_eq!(a.depth, 1);
        let b = t.nodes.iter().find(|n| n.rel == Path::new("a/b")).unwrap();
        assert_eq!(b.subtree_bytes, 1000);
        assert!(t.newest_mtime.is_some());
        assert_eq!(t.unreadable.count, 0);
    }

    #[test]
    fn hard_links_count_once_and_symlinks_are_not_followed() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(d.path().join("big"), vec![0u8; 5000]).unwrap();
        fs::hard_link(d.path().join("big"), d.path().join("sub/big-again")).unwrap();
        symlink("..", d.path().join("sub/loop")).unwrap();
        symlink("self", d.path().join("self")).unwrap();
        symlink("/", d.path().join("root")).unwrap();
        let t = tree(d.path());
        // big, big-again, loop, self, root; symlink sizes are their target lengths.
        assert_eq!(t.files, 5);
        assert_eq!(t.bytes, 5000 + 2 + 4 + 1);
        assert_eq!(t.nodes.len(), 2);
    }

    #[test]
    fn non_utf8_names_are_walked() {
        use std::os::unix::ffi::OsStrExt;
        let d = tempfile::tempdir().unwrap();
        let odd = d.path().join(OsStr::from_bytes(b"caf\xe9"));
        fs::create_dir(&odd).unwrap();
        fs::write(odd.join(OsStr::from_bytes(b"\xff\xfe")), b"abc").unwrap();
        let t = tree(d.path());
        assert_eq!((t.files, t.bytes), (1, 3));
        assert!(
            t.nodes
                .iter()
                .any(|n| n.rel.as_os_str().as_bytes() == b"caf\xe9")
        );
    }
}
