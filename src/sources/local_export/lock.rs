//! BuildKit's `index.json.lock` (client/ociindex): an flock(2) on that file, shared to
//! read index.json and exclusive to change it. BuildKit only tries the lock once and
//! removes the file afterwards, so cachetop holds it briefly, and checks after locking
//! that the file it locked is still the one at the path.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::sources::{ErrorKind, SourceError};

pub const LOCK_FILE: &str = "index.json.lock";

pub struct IndexLock {
    _file: File,
    path: PathBuf,
    created: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

impl IndexLock {
    /// Takes the lock, retrying until `wait` has passed. `Ok(None)` when the directory
    /// is read-only and only a shared lock was wanted (BuildKit reads without it then).
    pub fn acquire(root: &Path, mode: Mode, wait: Duration) -> Result<Option<Self>, SourceError> {
        let path = root.join(LOCK_FILE);
        let deadline = Instant::now() + wait;
        loop {
            let existed = path.exists();
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
            {
                Ok(f) => f,
                Err(e)
                    if mode == Mode::Shared
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::PermissionDenied
                                | std::io::ErrorKind::ReadOnlyFilesystem
                        ) =>
                {
                    return Ok(None);
                }
                Err(e) => {
                    return Err(SourceError::new(
                        if e.kind() == std::io::ErrorKind::PermissionDenied {
                            ErrorKind::PermissionDenied
                        } else {
                            ErrorKind::Other
                        },
                        format!("cannot open {}: {e}", path.display()),
                    ));
                }
            };
            let got = match mode {
                Mode::Shared => file.try_lock_shared(),
                Mode::Exclusive => file.try_lock(),
            };
            match got {
                Ok(()) => {
                    // BuildKit deletes the file after unlocking: if it did so while we
                    // were locking, we hold a lock nobody else will see. Try again.
                    let same = match (file.metadata(), std::fs::metadata(&path)) {
                        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                        _ => false,
                    };
                    if same {
                        return Ok(Some(IndexLock {
                            _file: file,
                            path,
                            created: !existed,
                        }));
                    }
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => {
                    return Err(SourceError::new(
                        ErrorKind::Other,
                        format!("cannot lock {}: {e}", path.display()),
                    ));
                }
            }
            if Instant::now() >= deadline {
                return Err(SourceError::new(
                    ErrorKind::Refused,
                    format!(
                        "{} is held by another process (a BuildKit export writing index.json?); \
                         nothing was changed: try again when it is done",
                        path.display()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        // Leave the directory as BuildKit leaves it: without a lock file, unless one
        // was there before. Removed while still locked, so nobody locks a dead file.
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_lock_keeps_others_out_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = IndexLock::acquire(dir.path(), Mode::Exclusive, Duration::ZERO)
            .unwrap()
            .unwrap();
        let e = IndexLock::acquire(dir.path(), Mode::Shared, Duration::from_millis(120))
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(e.message.contains("index.json.lock is held"), "{e}");
        drop(held);
        assert!(
            !dir.path().join(LOCK_FILE).exists(),
            "the lock file we made is gone"
        );
        let a = IndexLock::acquire(dir.path(), Mode::Shared, Duration::ZERO).unwrap();
        let b = IndexLock::acquire(dir.path(), Mode::Shared, Duration::ZERO).unwrap();
        assert!(a.is_some() && b.is_some(), "shared locks share");
    }

    #[test]
    fn a_lock_file_that_was_there_stays() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), b"").unwrap();
        drop(IndexLock::acquire(dir.path(), Mode::Exclusive, Duration::ZERO).unwrap());
        assert!(dir.path().join(LOCK_FILE).exists());
    }
}
