//! Removing files and directories without ever following a symlink.
//!
//! A path is opened one level at a time from `/` (`openat` with `O_NOFOLLOW |
//! O_DIRECTORY`), so no level of it can be a symlink or `..`; everything below is
//! removed with `unlinkat` relative to directory descriptors, recursing by
//! descriptor. A link swapped in between planning and deleting therefore cannot
//! redirect a deletion: once a directory is open, names are looked up in it and
//! nowhere else, and a symlink found inside is unlinked as a file, never followed.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, openat, statat, unlinkat};
use rustix::io::Errno;

/// Intermediate levels need only be searched, not read: `O_PATH` opens a level the
/// user may cross but not list.
#[cfg(any(target_os = "linux", target_os = "android"))]
const CROSS: OFlags = OFlags::PATH;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const CROSS: OFlags = OFlags::RDONLY;

/// Deeper than this is refused rather than risk running out of descriptors: each
/// level holds one open while its children go.
const MAX_DEPTH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum SafeRemoveError {
    /// Not an absolute path of plain names (it has `..`, `.`, or is relative).
    #[error("{path}: {why}")]
    NotPlain { path: PathBuf, why: &'static str },
    /// A level of the path is a symlink; nothing is followed.
    #[error("{path} is a symlink, which is never followed")]
    Symlink { path: PathBuf },
    #[error("{path} is not a directory")]
    NotADirectory { path: PathBuf },
    /// A file that must be a regular file is something else.
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("{path} is more than {MAX_DEPTH} directories deep")]
    TooDeep { path: PathBuf },
    /// One OS error, named once (the path, then the error).
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: io::Error },
}

impl SafeRemoveError {
    /// The path (or a level of it) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, SafeRemoveError::Io { err, .. } if err.kind() == io::ErrorKind::NotFound)
    }

    /// Refused for what the path is (a link, `..`, not a directory...), as opposed to
    /// an error the system returned.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, SafeRemoveError::Io { .. })
    }

    fn io(path: &Path, e: Errno) -> Self {
        SafeRemoveError::Io {
            path: path.to_path_buf(),
            err: io::Error::from(e),
        }
    }
}

type Result<T> = std::result::Result<T, SafeRemoveError>;

/// A directory opened without following any symlink on the way to it.
#[derive(Debug)]
pub struct NoFollowDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl NoFollowDir {
    /// Opens an absolute path from `/`, one level at a time, refusing a symlink or a
    /// `..` at any level (the last one included).
    pub fn open(path: &Path) -> Result<NoFollowDir> {
        let mut names = Vec::new();
        for c in path.components() {
            match c {
                Component::RootDir if names.is_empty() => {}
                Component::Normal(n) => names.push(n),
                Component::ParentDir => return Err(not_plain(path, "it contains `..`")),
                Component::CurDir => return Err(not_plain(path, "it contains `.`")),
                _ => return Err(not_plain(path, "not an absolute path")),
            }
        }
        if !path.is_absolute() {
            return Err(not_plain(path, "not an absolute path"));
        }
        let root = Path::new("/");
        let fd = openat(
            rustix::fs::CWD,
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SafeRemoveError::io(root, e))?;
        NoFollowDir {
            fd,
            path: root.to_path_buf(),
        }
        .descend(&names)
    }

    /// Opens `rel` (plain names only) below this directory, never following a link.
    pub fn open_beneath(&self, rel: &Path) -> Result<NoFollowDir> {
        let names = plain_names(rel).ok_or_else(|| {
            not_plain(
                &self.path.join(rel),
                "not a plain relative path inside the directory",
            )
        })?;
        let copy = openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SafeRemoveError::io(&self.path, e))?;
        NoFollowDir {
            fd: copy,
            path: self.path.clone(),
        }
        .descend(&names)
    }

    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Walks down `names`; the last level is opened for reading, the others only to
    /// be crossed.
    fn descend(self, names: &[&OsStr]) -> Result<NoFollowDir> {
        let mut at = self;
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            let path = at.path.join(name);
            let fd = open_dir_nofollow(at.fd.as_fd(), name, &path, !last)?;
            at = NoFollowDir { fd, path };
        }
        Ok(at)
    }

    /// What `name` is in this directory, without following it; `None` when absent.
    pub fn kind_of(&self, name: &OsStr) -> Result<Option<FileType>> {
        match statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(SafeRemoveError::io(&self.path.join(name), e)),
        }
    }

    /// Removes everything inside this directory; the directory itself stays.
    pub fn empty(&self) -> Result<()> {
        let fd = openat(
            &self.fd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SafeRemoveError::io(&self.path, e))?;
        empty_fd(fd, &self.path, 0)
    }

    /// Removes `name` from this directory: a file or symlink is unlinked (a link is
    /// never followed), a directory is emptied by descriptor and removed. `Ok(false)`
    /// when it was already gone.
    pub fn remove(&self, name: &OsStr) -> Result<bool> {
        check_name(name, &self.path)?;
        remove_child(self.fd.as_fd(), name, &self.path, 0)
    }

    /// Removes `name` only if it is a regular file, returning its size; `Ok(None)`
    /// when it was already gone. A symlink or anything else is refused.
    pub fn remove_file(&self, name: &OsStr) -> Result<Option<u64>> {
        check_name(name, &self.path)?;
        let path = self.path.join(name);
        let st = match statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(SafeRemoveError::io(&path, e)),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {}
            FileType::Symlink => return Err(SafeRemoveError::Symlink { path }),
            _ => return Err(SafeRemoveError::NotAFile { path }),
        }
        // unlinkat never follows: were the file swapped for a link meanwhile, the
        // link would go, never its target.
        match unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) => Ok(Some(st.st_size.max(0) as u64)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(SafeRemoveError::io(&path, e)),
        }
    }
}

fn not_plain(path: &Path, why: &'static str) -> SafeRemoveError {
    SafeRemoveError::NotPlain {
        path: path.to_path_buf(),
        why,
    }
}

/// The names of a relative path made only of plain names (empty for "").
fn plain_names(rel: &Path) -> Option<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// One plain name: no separator, not `.` or `..`, not empty.
fn check_name(name: &OsStr, dir: &Path) -> Result<()> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(not_plain(&dir.join(name), "not a plain name"));
    }
    Ok(())
}

/// Opens a directory entry as a directory, refusing a symlink (`O_NOFOLLOW`).
fn open_dir_nofollow(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    only_cross: bool,
) -> Result<OwnedFd> {
    let access = if only_cross { CROSS } else { OFlags::RDONLY };
    let flags = access | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => Ok(fd),
        // ELOOP for a link with O_NOFOLLOW; ENOTDIR with O_PATH, or for a file.
        Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
            match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                    Err(SafeRemoveError::Symlink {
                        path: path.to_path_buf(),
                    })
                }
                Ok(_) => Err(SafeRemoveError::NotADirectory {
                    path: path.to_path_buf(),
                }),
                Err(_) => Err(SafeRemoveError::io(path, e)),
            }
        }
        Err(e) => Err(SafeRemoveError::io(path, e)),
    }
}

/// Empties the directory open as `fd`. Names are read first, then removed: a
/// directory changing while it is read may skip names, so it is read again until it
/// is empty (each pass removes everything it read, or fails).
fn empty_fd(fd: OwnedFd, path: &Path, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(SafeRemoveError::TooDeep {
            path: path.to_path_buf(),
        });
    }
    let mut dir = Dir::new(fd).map_err(|e| SafeRemoveError::io(path, e))?;
    loop {
        let mut names: Vec<CString> = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.map_err(|e| SafeRemoveError::io(path, e))?;
            let name = entry.file_name();
            if name.to_bytes() != b"." && name.to_bytes() != b".." {
                names.push(name.to_owned());
            }
        }
        if names.is_empty() {
            return Ok(());
        }
        let fd = dir.fd().map_err(|e| SafeRemoveError::io(path, e))?;
        for name in &names {
            remove_child(fd, OsStr::from_bytes(name.to_bytes()), path, depth)?;
        }
        dir.rewind();
    }
}

/// Removes one entry of the directory `dir` (at `path`). `Ok(false)` when it is gone.
fn remove_child(dir: BorrowedFd<'_>, name: &OsStr, path: &Path, depth: usize) -> Result<bool> {
    let child = path.join(name);
    // Try it as a file first: unlinkat never follows, so a symlink goes as itself.
    match unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => return Ok(true),
        Err(Errno::NOENT) => return Ok(false),
        // A directory (EISDIR on Linux; EPERM elsewhere).
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(SafeRemoveError::io(&child, e)),
    }
    let fd = match open_dir_nofollow(dir, name, &child, false) {
        Ok(fd) => fd,
        // Swapped for a link or a file since: unlink that, never follow it.
        Err(SafeRemoveError::Symlink { .. } | SafeRemoveError::NotADirectory { .. }) => {
            return match unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) => Ok(true),
                Err(Errno::NOENT) => Ok(false),
                Err(e) => Err(SafeRemoveError::io(&child, e)),
            };
        }
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e),
    };
    empty_fd(fd, &child, depth + 1)?;
    match unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(SafeRemoveError::io(&child, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    /// A tree with files, a nested directory, and a link out to `outside`.
    fn tree(outside: &Path) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("cache/a/b/c")).unwrap();
        fs::write(d.path().join("cache/a/b/c/deep"), b"1").unwrap();
        fs::write(d.path().join("cache/top"), b"2").unwrap();
        symlink(outside, d.path().join("cache/a/out")).unwrap();
        symlink(outside.join("precious"), d.path().join("cache/file-link")).unwrap();
        d
    }

    fn precious() -> tempfile::TempDir {
        let o = tempfile::tempdir().unwrap();
        fs::write(o.path().join("precious"), b"keep").unwrap();
        fs::create_dir(o.path().join("sub")).unwrap();
        fs::write(o.path().join("sub/also"), b"keep").unwrap();
        o
    }

    fn intact(o: &Path) {
        assert_eq!(fs::read(o.join("precious")).unwrap(), b"keep");
        assert_eq!(fs::read(o.join("sub/also")).unwrap(), b"keep");
    }

    #[test]
    fn empties_a_tree_and_unlinks_links_inside_without_following_them() {
        let o = precious();
        let d = tree(o.path());
        let dir = NoFollowDir::open(&d.path().join("cache")).unwrap();
        dir.empty().unwrap();
        assert!(d.path().join("cache").is_dir());
        assert_eq!(fs::read_dir(d.path().join("cache")).unwrap().count(), 0);
        intact(o.path());
    }

    #[test]
    fn refuses_a_path_that_is_or_passes_through_a_link_or_dots() {
        let o = precious();
        let d = tempfile::tempdir().unwrap();
        symlink(o.path(), d.path().join("link")).unwrap();
        fs::create_dir(d.path().join("real")).unwrap();
        let e = NoFollowDir::open(&d.path().join("link")).unwrap_err();
        assert!(matches!(e, SafeRemoveError::Symlink { ref path } if path.ends_with("link")));
        // An ancestor that is a link: refused at that level, the rest never reached.
        let e = NoFollowDir::open(&d.path().join("link/sub")).unwrap_err();
        assert!(matches!(e, SafeRemoveError::Symlink { ref path } if path.ends_with("link")));
        // A trailing slash would make the kernel follow the link: not here.
        let with_slash = format!("{}/link/", d.path().display());
        assert!(NoFollowDir::open(Path::new(&with_slash)).is_err());
        let dots = format!("{}/real/../link", d.path().display());
        let e = NoFollowDir::open(Path::new(&dots)).unwrap_err();
        assert!(matches!(e, SafeRemoveError::NotPlain { .. }), "{e}");
        // `.` names the same directory: a path's components never hold it inside,
        // and `link/.` still meets `link` as a level.
        let cur = format!("{}/link/.", d.path().display());
        assert!(NoFollowDir::open(Path::new(&cur)).is_err());
        let cur = format!("{}/./real/.", d.path().display());
        assert!(
            NoFollowDir::open(Path::new(&cur))
                .unwrap()
                .path()
                .ends_with("real")
        );
        assert!(matches!(
            NoFollowDir::open(Path::new("relative/dir")).unwrap_err(),
            SafeRemoveError::NotPlain { .. }
        ));
        let real = NoFollowDir::open(&d.path().join("real")).unwrap();
        assert_eq!(
            real.open_beneath(Path::new("")).unwrap().path(),
            real.path()
        );
        for bad in ["../link", "/etc", "x/../../y"] {
            assert!(real.open_beneath(Path::new(bad)).is_err(), "{bad}");
        }
        let e = NoFollowDir::open(&d.path().join("nope")).unwrap_err();
        assert!(e.is_not_found(), "{e}");
        intact(o.path());
    }

    #[test]
    fn a_directory_swapped_for_a_link_after_opening_its_parent_is_unlinked_not_followed() {
        let o = precious();
        let d = tree(o.path());
        let dir = NoFollowDir::open(&d.path().join("cache")).unwrap();
        // Between the plan and the delete, a/b becomes a link to the precious tree.
        fs::rename(d.path().join("cache/a/b"), d.path().join("moved")).unwrap();
        symlink(o.path(), d.path().join("cache/a/b")).unwrap();
        dir.empty().unwrap();
        intact(o.path());
        assert_eq!(fs::read_dir(d.path().join("cache")).unwrap().count(), 0);
        // What was moved away is out of the directory now, and stays.
        assert!(d.path().join("moved/c/deep").exists());
    }

    #[test]
    fn a_directory_already_open_stays_the_one_emptied_when_its_path_is_relinked() {
        let o = precious();
        let d = tree(o.path());
        let sub = NoFollowDir::open(&d.path().join("cache/a")).unwrap();
        // The path now names the precious tree, but the open descriptor still holds
        // the directory that was planned.
        fs::rename(d.path().join("cache/a"), d.path().join("old-a")).unwrap();
        symlink(o.path(), d.path().join("cache/a")).unwrap();
        sub.empty().unwrap();
        intact(o.path());
        assert_eq!(fs::read_dir(d.path().join("old-a")).unwrap().count(), 0);
    }

    #[test]
    fn remove_takes_one_child_and_reports_what_was_already_gone() {
        let o = precious();
        let d = tree(o.path());
        let dir = NoFollowDir::open(&d.path().join("cache")).unwrap();
        assert!(dir.remove(OsStr::new("a")).unwrap());
        assert!(!d.path().join("cache/a").exists());
        assert!(dir.remove(OsStr::new("file-link")).unwrap());
        assert!(!dir.remove(OsStr::new("a")).unwrap());
        for bad in ["..", ".", "", "x/y"] {
            assert!(dir.remove(OsStr::new(bad)).is_err(), "{bad}");
        }
        assert!(d.path().join("cache/top").exists());
        intact(o.path());
    }

    #[test]
    fn remove_file_takes_only_regular_files() {
        let o = precious();
        let d = tree(o.path());
        let dir = NoFollowDir::open(&d.path().join("cache")).unwrap();
        let e = dir.remove_file(OsStr::new("file-link")).unwrap_err();
        assert!(matches!(e, SafeRemoveError::Symlink { .. }), "{e}");
        let e = dir.remove_file(OsStr::new("a")).unwrap_err();
        assert!(matches!(e, SafeRemoveError::NotAFile { .. }), "{e}");
        assert_eq!(dir.remove_file(OsStr::new("top")).unwrap(), Some(1));
        assert_eq!(dir.remove_file(OsStr::new("top")).unwrap(), None);
        intact(o.path());
    }

    #[test]
    fn errors_name_the_os_error_once() {
        let e = NoFollowDir::open(Path::new("/nonexistent-cachetop/x")).unwrap_err();
        let text = e.to_string();
        assert_eq!(text.matches("os error").count(), 1, "{text}");
        assert!(text.starts_with("/nonexistent-cachetop:"), "{text}");
    }
}
