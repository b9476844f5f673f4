//! A small tmpfs mounted for one test, so its free space is known and controlled
//! (the tests run as root, as the isolated daemon needs). Unmounted when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// A tmpfs of `bytes` at a fresh temporary directory.
    pub fn mount(bytes: u64) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0755")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir }
    }

    pub fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.dir.path()).unwrap()
    }

    /// Writes `bytes` of zeros to `rel` under the mount, last modified `days` ago.
    pub fn file(&self, rel: &str, bytes: usize, days: u64) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, vec![0u8; bytes]).unwrap();
        age(&p, days);
        p
    }
}

/// Sets a path's modification and access times to `days` ago.
pub fn age(p: &Path, days: u64) {
    let out = Command::new("touch")
        .args(["-h", "-d", &format!("{days} days ago")])
        .arg(p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `df -B1` of a path: (mount point, size, used, available), as coreutils counts.
pub fn df(p: &Path) -> (PathBuf, u64, u64, u64) {
    let out = Command::new("df")
        .args(["-B1", "--output=target,size,used,avail"])
        .arg(p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().nth(1).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    (
        PathBuf::from(f[0]),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].parse().unwrap(),
    )
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}
