//! One prune per machine at a time: an flock(2) on a file named from a hash of the
//! host name, held from before the plan is made until the last delete is checked,
//! so a second prune plans only from what the first left.
//!
//! Where: `$CACHETOP_LOCK_DIR`, else `/run/cachetop` (root), else
//! `$XDG_RUNTIME_DIR/cachetop`, else `<temp dir>/cachetop-<uid>`.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot use the prune lock {path}: {why}")]
    Io { path: PathBuf, why: String },
    #[error(
        "another cachetop prune is running on this machine{holder}; not waiting (--no-wait). \
         Lock file: {path}"
    )]
    Busy { path: PathBuf, holder: String },
    #[error(
        "another cachetop prune{holder} still ran after waiting {waited}s for it; nothing was \
         planned. Lock file: {path}"
    )]
    TimedOut {
        path: PathBuf,
        holder: String,
        waited: u64,
    },
}

/// Held while it lives; the kernel drops it when the process ends, however it ends.
#[derive(Debug)]
pub struct PruneLock {
    _file: File,
    pub path: PathBuf,
}

/// How long to wait between tries while another prune holds the lock.
const POLL: Duration = Duration::from_millis(100);

impl PruneLock {
    /// Takes the lock, waiting up to `wait` (zero: not at all) for another prune to
    /// finish; `waiting` is called once, with the holder's pid if known, when it has to.
    /// The first of `dirs` where the lock file can be made is used.
    pub fn acquire(
        dirs: &[PathBuf],
        wait: Duration,
        waiting: impl FnOnce(&Path, Option<u32>),
    ) -> Result<PruneLock, LockError> {
        let name = lock_name(&host_name());
        let mut last = None;
        let mut opened = None;
        for dir in dirs {
            let path = dir.join(&name);
            let file = create_private_dir(dir).and_then(|()| {
                // Never through a link: the file is truncated to hold our pid, and a
                // link planted in a shared temp dir would truncate what it points to.
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&path)
            });
            match file {
                Ok(f) => {
                    opened = Some((f, path));
                    break;
                }
                Err(e) => {
                    last = Some(LockError::Io {
                        path,
                        why: e.to_string(),
                    })
                }
            }
        }
        let Some((mut file, path)) = opened else {
            return Err(last.unwrap_or(LockError::Io {
                path: PathBuf::from(name),
                why: "no directory to put it in".to_string(),
            }));
        };
        let io = |e: std::io::Error, path: &Path| LockError::Io {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let start = Instant::now();
        let mut waiting = Some(waiting);
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = holder_pid(&mut file);
                    let holder_text = holder.map_or(String::new(), |p| format!(" (pid {p})"));
                    if wait.is_zero() {
                        return Err(LockError::Busy {
                            path,
                            holder: holder_text,
                        });
                    }
                    if start.elapsed() >= wait {
                        return Err(LockError::TimedOut {
                            path,
                            holder: holder_text,
                            waited: wait.as_secs(),
                        });
                    }
                    if let Some(tell) = waiting.take() {
                        tell(&path, holder);
                    }
                    std::thread::sleep(POLL);
                }
                Err(TryLockError::Error(e)) => return Err(io(e, &path)),
            }
        }
        // Who holds it, for the message a waiting prune shows.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        Ok(PruneLock { _file: file, path })
    }
}

/// Where the lock may go, in order (see the module's doc); `uid` names the last
/// resort, a temporary directory shared by every user.
pub fn lock_dirs(env: impl Fn(&str) -> Option<String>, uid: u32) -> Vec<PathBuf> {
    if let Some(d) = env("CACHETOP_LOCK_DIR").filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(d)];
    }
    let mut dirs = vec![PathBuf::from("/run/cachetop")];
    if let Some(d) = env("XDG_RUNTIME_DIR").filter(|d| Path::new(d).is_absolute()) {
        dirs.push(Path::new(&d).join("cachetop"));
    }
    dirs.push(std::env::temp_dir().join(format!("cachetop-{uid}")));
    dirs
}

/// The directories of this process, from its environment.
pub fn lock_dirs_here() -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    lock_dirs(|k| std::env::var(k).ok(), uid)
}

/// `prune-<first 16 hex digits of sha256(host name)>.lock`: one name per machine,
/// whatever characters its name holds.
pub fn lock_name(host: &str) -> String {
    let digest = Sha256::digest(host.as_bytes());
    format!("prune-{}.lock", &hex::encode(digest)[..16])
}

fn host_name() -> String {
    let mut name = String::new();
    let read =
        File::open("/proc/sys/kernel/hostname").and_then(|f| f.take(256).read_to_string(&mut name));
    match read {
        Ok(_) if !name.trim().is_empty() => name.trim().to_string(),
        _ => "localhost".to_string(),
    }
}

/// A directory only its owner can write, made if missing. One that already exists
/// must be a real directory of this user: in a shared temp dir another user could
/// have made it first and put what they like in it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let m = std::fs::symlink_metadata(dir)?;
            let me = std::fs::metadata("/proc/self")?.uid();
            if m.is_dir() && m.uid() == me {
                Ok(())
            } else {
                Err(std::io::Error::other(
                    "not a directory of this user (a link, a file, or made by someone else)",
                ))
            }
        }
        Err(e) => Err(e),
    }
}

fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_per_host_safe_whatever_the_host_is_called() {
        assert_eq!(lock_name("ci-1"), lock_name("ci-1"));
        assert_ne!(lock_name("ci-1"), lock_name("ci-2"));
        let odd = lock_name("../../etc/x\n");
        assert!(odd.starts_with("prune-") && odd.ends_with(".lock"));
        assert!(!odd.contains('/'));
    }

    #[test]
    fn the_lock_dir_follows_the_documented_order() {
        let given = |k: &str| (k == "CACHETOP_LOCK_DIR").then(|| "/x/locks".to_string());
        assert_eq!(lock_dirs(given, 0), vec![PathBuf::from("/x/locks")]);
        let xdg = |k: &str| (k == "XDG_RUNTIME_DIR").then(|| "/run/user/7".to_string());
        let dirs = lock_dirs(xdg, 7);
        assert_eq!(dirs[0], Path::new("/run/cachetop"));
        assert_eq!(dirs[1], Path::new("/run/user/7/cachetop"));
        assert!(dirs[2].ends_with("cachetop-7"));
        assert_eq!(lock_dirs(|_| None, 7).len(), 2);
    }

    #[test]
    fn a_second_holder_waits_or_refuses() {
        let tmp = tempfile::tempdir().unwrap();
        let unusable = PathBuf::from("/proc/cachetop-no");
        let dir = [unusable, tmp.path().join("locks")];
        let first = PruneLock::acquire(&dir, Duration::ZERO, |_, _| {}).unwrap();
        let busy = PruneLock::acquire(&dir, Duration::ZERO, |_, _| {}).unwrap_err();
        assert!(matches!(busy, LockError::Busy { .. }), "{busy}");
        assert!(
            busy.to_string()
                .contains(&format!("(pid {})", std::process::id())),
            "{busy}"
        );
        let mut told = false;
        let timed =
            PruneLock::acquire(&dir, Duration::from_millis(250), |_, _| told = true).unwrap_err();
        assert!(matches!(timed, LockError::TimedOut { .. }), "{timed}");
        assert!(told);
        assert!(first.path.starts_with(tmp.path()), "the first usable dir");
        drop(first);
        let again = PruneLock::acquire(&dir, Duration::ZERO, |_, _| {});
        assert!(again.is_ok());
    }

    #[test]
    fn a_link_in_place_of_the_lock_file_or_its_directory_is_never_followed() {
        let base = tempfile::tempdir().unwrap();
        let victim = base.path().join("victim");
        std::fs::write(&victim, "keep me").unwrap();
        let dir = base.path().join("locks");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(lock_name(&host_name()))).unwrap();
        assert!(PruneLock::acquire(&[dir], Duration::ZERO, |_, _| {}).is_err());
        let linked_dir = base.path().join("linked");
        std::os::unix::fs::symlink(base.path(), &linked_dir).unwrap();
        assert!(PruneLock::acquire(&[linked_dir], Duration::ZERO, |_, _| {}).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
}
