//! Where a cache mount's files are on the daemon's disk (design.md §2, §6).
//!
//! With overlay2 an `exec.cachemount` record's content is
//! `<DockerRootDir>/overlay2/<ID>/diff`; with vfs it is `<DockerRootDir>/vfs/dir/<ID>`.
//! When that cannot be read from here (another machine, another driver, not root),
//! the entry's `content.error` says why and what to do, and its path is left empty so
//! no one tries to scan it.

use std::io;
use std::path::{Path, PathBuf};

use super::engine::{Endpoint, parse_host};
use crate::model::{Content, Entry};

/// Where this daemon's cache-mount content can be read, decided once per listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Overlay2(PathBuf),
    Vfs(PathBuf),
    /// Cannot be read from here; the message says why and what to do.
    Unavailable(String),
}

impl Location {
    /// Decides from the daemon address and its `/info` (driver, root dir), checking
    /// that the driver's directory can be read here.
    pub fn find(host: &str, driver: &str, root_dir: &str) -> Location {
        if !is_local(host) {
            return Location::Unavailable(format!(
                "the daemon at {host} runs on another machine, so its cache-mount files are \
                 there: run cachetop on that machine to look inside them"
            ));
        }
        let root = Path::new(root_dir);
        let (dir, make): (PathBuf, fn(PathBuf) -> Location) = match driver {
            "overlay2" => (root.join("overlay2"), Location::Overlay2),
            "vfs" => (root.join("vfs").join("dir"), Location::Vfs),
            other => {
                return Location::Unavailable(format!(
                    "cachetop cannot find cache-mount files under the {other:?} storage driver \
                     yet (it reads overlay2 and vfs); sizes are as the daemon reports them"
                ));
            }
        };
        match std::fs::read_dir(&dir) {
            Ok(_) => make(dir),
            Err(e) => Location::Unavailable(unreadable(&dir, &e)),
        }
    }

    /// The content of one record.
    pub fn content(&self, id: &str) -> Content {
        match self {
            Location::Overlay2(dir) => at(dir.join(id).join("diff")),
            Location::Vfs(dir) => at(dir.join(id)),
            Location::Unavailable(why) => Content {
                path: String::new(),
                files: None,
                error: Some(why.clone()),
                largest: Vec::new(),
            },
        }
    }
}

fn at(path: PathBuf) -> Content {
    Content {
        path: path.to_string_lossy().into_owned(),
        ..Default::default()
    }
}

pub(super) fn unreadable(dir: &Path, e: &io::Error) -> String {
    let dir = dir.display();
    match e.kind() {
        io::ErrorKind::PermissionDenied => format!(
            "permission denied reading {dir}: run cachetop as root (sudo) to look inside \
             cache mounts"
        ),
        io::ErrorKind::NotFound => format!(
            "{dir} is not on this machine: the daemon may run elsewhere (another machine, a VM \
             or a container); run cachetop where it runs to look inside cache mounts"
        ),
        _ => format!("cannot read {dir}: {e}"),
    }
}

/// A unix socket, or TCP to this machine's loopback (never ssh).
pub fn is_local(host: &str) -> bool {
    match parse_host(host) {
        Ok(Endpoint::Unix(_)) => true,
        Ok(Endpoint::Tcp(authority)) => {
            let h = authority
                .rsplit_once(':')
                .map_or(authority.as_str(), |(h, _)| h);
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        // The far side of ssh is another machine, whatever its name.
        Ok(Endpoint::Ssh(_)) | Err(_) => false,
    }
}

/// Gives every cache-mount record its content location.
pub fn locate_all(entries: &mut [Entry], location: &Location) {
    for e in entries.iter_mut().filter(|e| e.kind == "exec.cachemount") {
        e.content = Some(location.content(&e.id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_remote_hosts() {
        assert!(is_local("unix:///var/run/docker.sock"));
        assert!(is_local("tcp://127.0.0.1:2375"));
        assert!(is_local("tcp://localhost:2375"));
        assert!(is_local("tcp://[::1]:2375"));
        assert!(!is_local("tcp://10.0.0.5:2375"));
        assert!(!is_local("tcp://build-box:2375"));
        assert!(!is_local("ssh://ci@127.0.0.1"));
    }

    #[test]
    fn overlay2_and_vfs_paths() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        std::fs::create_dir_all(d.path().join("overlay2")).unwrap();
        std::fs::create_dir_all(d.path().join("vfs/dir")).unwrap();
        let o = Location::find("unix:///d.sock", "overlay2", root);
        assert_eq!(o.content("abc").path, format!("{root}/overlay2/abc/diff"));
        let v = Location::find("unix:///d.sock", "vfs", root);
        assert_eq!(v.content("abc").path, format!("{root}/vfs/dir/abc"));
        assert_eq!(v.content("abc").error, None);
    }

    #[test]
    fn what_cannot_be_read_says_why_and_leaves_no_path() {
        let remote = Location::find("tcp://10.1.2.3:2375", "overlay2", "/var/lib/docker");
        let c = remote.content("abc");
        assert_eq!(c.path, "");
        assert!(c.error.unwrap().contains("run cachetop on that machine"));

        let btrfs = Location::find("unix:///d.sock", "btrfs", "/var/lib/docker");
        assert!(btrfs.content("x").error.unwrap().contains("\"btrfs\""));

        let elsewhere = Location::find("unix:///d.sock", "overlay2", "/nonexistent/docker");
        let why = elsewhere.content("x").error.unwrap();
        assert!(why.contains("not on this machine"), "{why}");
    }

    #[test]
    fn only_cache_mounts_get_content() {
        use crate::model::{SourceKind, SourceRef};
        let s = SourceRef::new(SourceKind::Docker, "unix:///d.sock");
        let mut entries = vec![
            Entry::new(s.clone(), "m", "exec.cachemount"),
            Entry::new(s, "r", "regular"),
        ];
        locate_all(
            &mut entries,
            &Location::Overlay2(PathBuf::from("/r/overlay2")),
        );
        assert_eq!(
            entries[0].content.as_ref().unwrap().path,
            "/r/overlay2/m/diff"
        );
        assert!(entries[1].content.is_none());
    }
}
