//! What a `--dir` deletion refuses, decided from paths alone (no I/O here): the
//! directories no cache is, and the messages for a path that reaches its files
//! through a symlink or `..`.

use std::fmt;
use std::path::{Path, PathBuf};

/// System directories that are never a cache, refused as they are (a directory
/// below one, such as `/var/cache/apt`, is fine). Top-level names starting with
/// `lib` (`/lib`, `/lib64`, `/libx32`...) are refused too. README lists these.
pub const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lost+found",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/snap",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
    "/usr/bin",
    "/usr/include",
    "/usr/lib",
    "/usr/lib32",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/etc",
    "/usr/local/include",
    "/usr/local/lib",
    "/usr/local/sbin",
    "/usr/local/share",
    "/usr/local/src",
    "/usr/sbin",
    "/usr/share",
    "/usr/src",
    "/var/backups",
    "/var/cache",
    "/var/lib",
    "/var/lock",
    "/var/log",
    "/var/mail",
    "/var/opt",
    "/var/run",
    "/var/spool",
    "/var/tmp",
];

/// Docker's root when the daemon does not say otherwise.
pub const DEFAULT_DOCKER_ROOT: &str = "/var/lib/docker";

/// The paths a deletion must not empty or contain. Each list holds a path as
/// configured and, when it differs, its real path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Protected {
    /// `$HOME`.
    pub homes: Vec<PathBuf>,
    /// Docker's root directory: the default, and the daemon's own when known.
    pub docker_roots: Vec<PathBuf>,
    /// The cargo home (`$CARGO_HOME`, else `~/.cargo`).
    pub cargo_homes: Vec<PathBuf>,
}

/// Why a directory is not a cache cachetop may empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotACache {
    Root,
    System,
    Home,
    HoldsHome(PathBuf),
    DockerRoot,
    HoldsDockerRoot(PathBuf),
    HoldsCargoHome(PathBuf),
}

impl fmt::Display for NotACache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotACache::Root => f.write_str("it is the root directory"),
            NotACache::System => f.write_str("it is a system directory"),
            NotACache::Home => f.write_str("it is $HOME"),
            NotACache::HoldsHome(h) => write!(f, "it holds $HOME ({})", h.display()),
            NotACache::DockerRoot => f.write_str(
                "it is Docker's root directory (delete build cache with --source docker)",
            ),
            NotACache::HoldsDockerRoot(d) => {
                write!(f, "it holds Docker's root directory {}", d.display())
            }
            NotACache::HoldsCargoHome(c) => write!(f, "it holds the cargo home {}", c.display()),
        }
    }
}

/// Why emptying `dir` (absolute, without `..`) is refused, if it is. The cargo home
/// itself is a cache and may be emptied; a directory holding it may not.
pub fn not_a_cache(dir: &Path, p: &Protected) -> Option<NotACache> {
    if dir == Path::new("/") {
        return Some(NotACache::Root);
    }
    if is_system_dir(dir) {
        return Some(NotACache::System);
    }
    if p.homes.iter().any(|h| h == dir) {
        return Some(NotACache::Home);
    }
    if p.docker_roots.iter().any(|d| d == dir) {
        return Some(NotACache::DockerRoot);
    }
    let holds = |list: &[PathBuf]| {
        list.iter()
            .find(|x| x.starts_with(dir) && *x != dir)
            .cloned()
    };
    if let Some(h) = holds(&p.homes) {
        return Some(NotACache::HoldsHome(h));
    }
    if let Some(d) = holds(&p.docker_roots) {
        return Some(NotACache::HoldsDockerRoot(d));
    }
    holds(&p.cargo_homes).map(NotACache::HoldsCargoHome)
}

fn is_system_dir(dir: &Path) -> bool {
    if SYSTEM_DIRS.iter().any(|s| Path::new(s) == dir) {
        return true;
    }
    let mut names = dir.strip_prefix("/").into_iter().flat_map(|r| r.iter());
    match (names.next(), names.next()) {
        (Some(top), None) => top.as_encoded_bytes().starts_with(b"lib"),
        _ => false,
    }
}

/// How a path given reaches somewhere else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Indirect {
    /// It has a `..` component.
    Dots,
    /// This level of it (the path itself, or one of its ancestors) is a symlink.
    Link { at: PathBuf, target: PathBuf },
}

/// The refusal for deleting in `dir`, which reaches its files indirectly. `real` is
/// where it really leads (`None` when that does not exist), and `real_not_a_cache`
/// why that place may not be emptied either, if so: then no path is suggested.
pub fn indirect_message(
    dir: &Path,
    how: &Indirect,
    real: Option<&Path>,
    real_not_a_cache: Option<&NotACache>,
) -> String {
    let what = match how {
        Indirect::Dots => "it contains `..`".to_string(),
        Indirect::Link { at, target } if at == dir => {
            format!("it is a symlink to {}", target.display())
        }
        Indirect::Link { at, target } => {
            format!("{} is a symlink to {}", at.display(), target.display())
        }
    };
    let next = match (real, real_not_a_cache) {
        (None, _) => "; it leads nowhere that exists".to_string(),
        (Some(r), Some(why)) => format!("; it leads to {}, and {why}", r.display()),
        (Some(r), None) => format!("; pass --dir {} to delete there", r.display()),
    };
    format!(
        "refusing to delete in {}: {what}{next} (cachetop never deletes through a link or `..`)",
        dir.display()
    )
}

/// The refusal for emptying a directory that is not a cache.
pub fn not_a_cache_message(dir: &Path, why: &NotACache) -> String {
    format!(
        "refusing to delete in {}: {why}; cachetop never empties that, name the cache \
         directory itself with --dir",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protected() -> Protected {
        Protected {
            homes: vec!["/home/ci".into()],
            docker_roots: vec![DEFAULT_DOCKER_ROOT.into(), "/data/docker".into()],
            cargo_homes: vec!["/work/tools/cargo".into()],
        }
    }

    fn why(dir: &str) -> Option<NotACache> {
        not_a_cache(Path::new(dir), &protected())
    }

    #[test]
    fn the_root_and_system_directories_are_not_caches() {
        assert_eq!(why("/"), Some(NotACache::Root));
        for d in [
            "/etc", "/usr", "/var/lib", "/lib", "/lib64", "/libx32", "/tmp", "/srv",
        ] {
            assert_eq!(why(d), Some(NotACache::System), "{d}");
        }
        assert_eq!(why("/etc/"), Some(NotACache::System));
        for d in [
            "/var/cache/apt",
            "/tmp/ci-cache",
            "/srv/runner/cache",
            "/cache",
            "/usr/local/cargo",
        ] {
            assert_eq!(why(d), None, "{d}");
        }
        // `/lib*` is a top-level pattern only.
        assert_eq!(why("/libfoo"), Some(NotACache::System));
        assert_eq!(why("/lib/x"), None);
        assert_eq!(why("/cache/lib"), None);
    }

    #[test]
    fn home_and_what_holds_home_docker_or_cargo_are_refused() {
        assert_eq!(why("/home/ci"), Some(NotACache::Home));
        assert_eq!(why("/home/ci/.cache/sccache"), None);
        assert_eq!(
            why("/data"),
            Some(NotACache::HoldsDockerRoot("/data/docker".into()))
        );
        assert_eq!(why("/data/docker"), Some(NotACache::DockerRoot));
        assert_eq!(why("/data/docker/overlay2"), None);
        assert_eq!(
            why("/work/tools"),
            Some(NotACache::HoldsCargoHome("/work/tools/cargo".into()))
        );
        assert_eq!(
            why("/work"),
            Some(NotACache::HoldsCargoHome("/work/tools/cargo".into()))
        );
        // The cargo home itself is a cache.
        assert_eq!(why("/work/tools/cargo"), None);
        assert_eq!(why("/work/tools/cargo/registry"), None);
        // A name that only starts like the protected one is not its parent.
        assert_eq!(why("/work/tools/car"), None);
        let mut p = protected();
        p.homes = vec!["/data/users/ci".into()];
        assert_eq!(
            not_a_cache(Path::new("/data/users"), &p),
            Some(NotACache::HoldsHome("/data/users/ci".into()))
        );
    }

    #[test]
    fn messages_name_the_real_path_to_pass() {
        let link = Indirect::Link {
            at: "/srv/runner/cache".into(),
            target: "/srv/other".into(),
        };
        let m = indirect_message(
            Path::new("/srv/runner/cache"),
            &link,
            Some(Path::new("/srv/other")),
            None,
        );
        assert!(
            m.starts_with(
                "refusing to delete in /srv/runner/cache: it is a symlink to /srv/other; \
                 pass --dir /srv/other to delete there"
            ),
            "{m}"
        );
        let parent = Indirect::Link {
            at: "/a/link".into(),
            target: "../real".into(),
        };
        let m = indirect_message(
            Path::new("/a/link/cache"),
            &parent,
            Some(Path::new("/real/cache")),
            None,
        );
        assert!(
            m.contains("/a/link is a symlink to ../real; pass --dir /real/cache"),
            "{m}"
        );
        let m = indirect_message(
            Path::new("/tmp/x/.."),
            &Indirect::Dots,
            Some(Path::new("/tmp")),
            Some(&NotACache::System),
        );
        assert!(
            m.contains("it contains `..`; it leads to /tmp, and it is a system directory"),
            "{m}"
        );
        assert!(!m.contains("pass --dir"), "{m}");
        let m = indirect_message(Path::new("/x"), &link, None, None);
        assert!(m.contains("leads nowhere"), "{m}");
        assert_eq!(
            not_a_cache_message(Path::new("/"), &NotACache::Root),
            "refusing to delete in /: it is the root directory; cachetop never empties that, \
             name the cache directory itself with --dir"
        );
    }
}
