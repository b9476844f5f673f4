//! The I/O behind `protect`: what a path is on disk (a symlink at some level, a
//! `..`), where it really leads, the protected paths' real paths, and Docker's root
//! directory as the daemon reports it. The decisions themselves are in `protect`.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use tokio::sync::OnceCell;

use super::protect::{
    DEFAULT_DOCKER_ROOT, Indirect, Protected, indirect_message, not_a_cache, not_a_cache_message,
};
use crate::model::{DeleteRefusal, RefusalKind};
use crate::sources::docker::engine::Engine;

/// How long asking a daemon for its root directory may take at most (less with a
/// shorter `--host-timeout`); past that the root is not known, and the default one
/// is still protected.
const DAEMON_ROOT_WAIT: Duration = Duration::from_secs(5);

/// The protected paths for directory sources, shared by all of them.
#[derive(Debug)]
pub struct Guard {
    fixed: Protected,
    /// The daemons whose root directories are protected too (every host read: a
    /// second local daemon's root is as much not a cache as the first's).
    daemons: Vec<String>,
    /// Their root directories, asked once, all at once.
    roots: OnceCell<Vec<PathBuf>>,
    /// How long each may take to answer.
    wait: Duration,
}

impl Default for Guard {
    /// `/`, the system directories and Docker's default root only.
    fn default() -> Self {
        Guard::new(None, None, Vec::new())
    }
}

impl Guard {
    /// `home`: `$HOME`; `cargo_home`: as the settings resolve it; `docker_hosts`: the
    /// daemons to ask for their root directories (those read).
    pub fn new(
        home: Option<PathBuf>,
        cargo_home: Option<PathBuf>,
        docker_hosts: Vec<String>,
    ) -> Self {
        let fixed = Protected {
            homes: with_real_paths(home),
            docker_roots: with_real_paths(Some(PathBuf::from(DEFAULT_DOCKER_ROOT))),
            cargo_homes: with_real_paths(cargo_home),
        };
        Guard {
            fixed,
            daemons: docker_hosts,
            roots: OnceCell::new(),
            wait: DAEMON_ROOT_WAIT,
        }
    }

    /// Waits at most `wait` for each daemon (the hosts' own timeout): a host that
    /// hangs holds the directory sources up no longer than it holds itself.
    pub fn waiting_at_most(mut self, wait: Duration) -> Self {
        self.wait = self.wait.min(wait);
        self
    }

    /// Every protected path, with each daemon's root directory that it reports.
    pub async fn protected(&self) -> Protected {
        let mut p = self.fixed.clone();
        let roots = self
            .roots
            .get_or_init(|| async {
                let asked = self.daemons.iter().map(|h| daemon_root(h, self.wait));
                futures_util::future::join_all(asked)
                    .await
                    .into_iter()
                    .flat_map(with_real_paths)
                    .collect()
            })
            .await;
        for r in roots {
            if !p.docker_roots.contains(r) {
                p.docker_roots.push(r.clone());
            }
        }
        p
    }
}

async fn daemon_root(host: &str, wait: Duration) -> Option<PathBuf> {
    let ask = async {
        let engine = Engine::connect(host).await.ok()?;
        let info = engine.info().await.ok()?;
        Some(PathBuf::from(info.root_dir)).filter(|p| p.is_absolute())
    };
    tokio::time::timeout(wait, ask).await.ok().flatten()
}

/// A path and, when it differs, its real path (a protected path given through a
/// link must still match the real directory a `--dir` names).
fn with_real_paths(path: Option<PathBuf>) -> Vec<PathBuf> {
    let Some(path) = path.filter(|p| p.is_absolute()) else {
        return Vec::new();
    };
    let real = std::fs::canonicalize(&path).ok();
    let mut out = vec![path];
    if let Some(r) = real.filter(|r| *r != out[0]) {
        out.push(r);
    }
    out
}

/// How an absolute `path` reaches its files indirectly, if it does: a `..`, else
/// the first level (from `/` down to the path itself) that is a symlink.
pub fn indirect(path: &Path) -> Option<Indirect> {
    if path.components().any(|c| c == Component::ParentDir) {
        return Some(Indirect::Dots);
    }
    let mut at = PathBuf::new();
    for c in path.components() {
        at.push(c);
        if let Ok(md) = std::fs::symlink_metadata(&at)
            && md.file_type().is_symlink()
        {
            let target = std::fs::read_link(&at).unwrap_or_default();
            return Some(Indirect::Link { at, target });
        }
    }
    None
}

/// Why deleting in `dir` (absolute, as given) is refused, if it is.
pub fn refusal(dir: &Path, protected: &Protected) -> Option<DeleteRefusal> {
    if let Some(how) = indirect(dir) {
        let real = std::fs::canonicalize(dir).ok();
        let real_why = real.as_deref().and_then(|r| not_a_cache(r, protected));
        return Some(DeleteRefusal {
            kind: RefusalKind::Indirect,
            message: indirect_message(dir, &how, real.as_deref(), real_why.as_ref()),
        });
    }
    not_a_cache(dir, protected).map(|why| DeleteRefusal {
        kind: RefusalKind::NotACache,
        message: not_a_cache_message(dir, &why),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn finds_the_first_level_that_is_a_link() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir_all(real.join("cache")).unwrap();
        symlink(&real, d.path().join("link")).unwrap();
        assert_eq!(indirect(&real.join("cache")), None);
        assert_eq!(
            indirect(&d.path().join("link/cache")),
            Some(Indirect::Link {
                at: d.path().join("link"),
                target: real.clone()
            })
        );
        assert_eq!(
            indirect(&d.path().join("real/cache/../cache")),
            Some(Indirect::Dots)
        );
    }

    #[test]
    fn a_refusal_names_the_real_path_unless_that_is_protected_too() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir_all(&real).unwrap();
        symlink(&real, d.path().join("cache")).unwrap();
        let r = refusal(&d.path().join("cache"), &Protected::default()).unwrap();
        assert_eq!(r.kind, RefusalKind::Indirect);
        assert!(
            r.message
                .contains(&format!("pass --dir {} to delete there", real.display())),
            "{}",
            r.message
        );
        let home = Protected {
            homes: vec![real.clone()],
            ..Default::default()
        };
        let r = refusal(&d.path().join("cache"), &home).unwrap();
        assert!(r.message.contains("and it is $HOME"), "{}", r.message);
        assert!(!r.message.contains("pass --dir"), "{}", r.message);
        let r = refusal(&real, &home).unwrap();
        assert_eq!(r.kind, RefusalKind::NotACache);
        assert_eq!(refusal(&real, &Protected::default()), None);
    }

    #[test]
    fn protected_paths_given_through_a_link_also_protect_their_real_path() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("data/home");
        std::fs::create_dir_all(&real).unwrap();
        symlink(&real, d.path().join("home-link")).unwrap();
        let g = Guard::new(Some(d.path().join("home-link")), None, Vec::new());
        assert_eq!(
            g.fixed.homes,
            vec![d.path().join("home-link"), real.clone()]
        );
        assert!(not_a_cache(&d.path().join("data"), &g.fixed).is_some());
    }
}
