//! The parallel walk under a content root: sizes, file counts, per-directory totals,
//! and the detectors' look at every directory.
//!
//! Symlinks are never followed (a loop is just a small file), hard links are counted
//! once, names are bytes (never assumed UTF-8), a directory that vanishes mid-walk is
//! simply gone, and one unreadable file or directory is counted, not fatal.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::detectors::{Candidate, Detector, Found, Verdict};

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
pub struct Child {
    pub name: OsString,
    pub kind: Kind,
    /// Apparent size; 0 for directories and for a hard link already counted.
    pub size: u64,
    /// Modification time (Unix seconds); 0 for directories.
    pub mtime: i64,
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
    pub children: &'a [Child],
    pub node: u32,
}

impl<'a> DirView<'a> {
    /// The name `n` levels up: 0 is this directory, 1 its parent, and so on through
    /// the logical root's own names.
    pub fn name(&self, n: usize) -> Option<&'a OsStr> {
        self.rel
            .iter()
            .rev()
            .chain(self.logical_root.iter().rev())
            .nth(n)
    }

    /// Names from this directory upwards.
    pub fn names(&self) -> impl Iterator<Item = &'a OsStr> + 'a {
        self.rel.iter().rev().chain(self.logical_root.iter().rev())
    }

    pub fn child(&self, name: &str) -> Option<&'a Child> {
        self.children.iter().find(|c| c.name == name)
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
    };
    rayon::scope(|s| visit(&shared, s, 0, 0, 0, root.to_path_buf(), PathBuf::new()));
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
    let totals = shared
        .totals
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    Tree {
        nodes,
        files: totals.files,
        bytes: totals.bytes,
        newest_mtime: totals.newest_mtime,
        candidates: shared
            .candidates
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
        unreadable: shared
            .unreadable
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
    }
}

fn vanished(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

fn visit<'s>(
    shared: &'s Shared<'s>,
    scope: &rayon::Scope<'s>,
    id: u32,
    parent: u32,
    depth: u32,
    abs: PathBuf,
    rel: PathBuf,
) {
    let mut own = Totals::default();
    let mut children = Vec::new();
    // A directory that vanished or cannot be listed is never judged: its children
    // are unknown, not absent.
    let listed = match fs::read_dir(&abs) {
        Ok(rd) => {
            for ent in rd {
                let ent = match ent {
                    Ok(e) => e,
                    Err(e) => {
                        if !vanished(&e) {
                            lock(&shared.unreadable).add(&rel, e);
                        }
                        break;
                    }
                };
                if let Some(child) = read_child(shared, &ent, &rel, &mut own) {
                    children.push(child);
                }
            }
            true
        }
        Err(e) if vanished(&e) => false,
        Err(e) => {
            lock(&shared.unreadable).add(&rel, e);
            false
        }
    };

    if listed && !shared.detectors.is_empty() {
        let view = DirView {
            abs: &abs,
            rel: &rel,
            logical_root: shared.logical_root,
            children: &children,
            node: id,
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
        for check in found.checks {
            scope.spawn(move |_| match check() {
                Verdict::Fine => {}
                Verdict::Broken(c) => lock(&shared.candidates).push(c),
                Verdict::Unreadable(rel, err) => lock(&shared.unreadable).add(&rel, err),
            });
        }
    }

    for c in &children {
        if let Some(node) = c.node {
            let (abs, rel) = (abs.join(&c.name), rel.join(&c.name));
            scope.spawn(move |s| visit(shared, s, node, id, depth + 1, abs, rel));
        }
    }

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

/// One directory entry: its kind without following symlinks, and for non-directories
/// its size (a stat relative to the open directory).
fn read_child(
    shared: &Shared<'_>,
    ent: &fs::DirEntry,
    rel: &Path,
    own: &mut Totals,
) -> Option<Child> {
    let name = ent.file_name();
    let ft = match ent.file_type() {
        Ok(ft) => ft,
        Err(e) => {
            if !vanished(&e) {
                lock(&shared.unreadable).add(&rel.join(&name), e);
            }
            return None;
        }
    };
    if ft.is_dir() {
        return Some(Child {
            name,
            kind: Kind::Dir,
            size: 0,
            mtime: 0,
            node: Some(shared.next_id.fetch_add(1, Ordering::Relaxed)),
        });
    }
    let md = match ent.metadata() {
        Ok(md) => md,
        Err(e) => {
            if !vanished(&e) {
                lock(&shared.unreadable).add(&rel.join(&name), e);
            }
            return None;
        }
    };
    let kind = if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    };
    let first_link = md.nlink() <= 1 || lock(&shared.links).insert((md.dev(), md.ino()));
    let size = if first_link { md.len() } else { 0 };
    own.files += 1;
    own.bytes += size;
    own.newest_mtime = own.newest_mtime.max(Some(md.mtime()));
    Some(Child {
        name,
        kind,
        size,
        mtime: md.mtime(),
        node: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
