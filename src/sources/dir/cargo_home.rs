//! A cargo home seen as cache entries, one per area (reference/formats-and-apis.md §5):
//! registry indexes, crate archives, extracted sources, git databases, git checkouts.
//! Sizes and last use come from cargo's own `.global-cache` database when it has
//! them, else from the files.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

/// One area of a cargo home.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Area {
    /// Relative to the cargo home; also the entry id.
    pub rel: &'static str,
    pub kind: &'static str,
    pub what: &'static str,
    table: Table,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    RegistryIndex,
    RegistryCrate,
    RegistrySrc,
    GitDb,
    GitCheckout,
}

pub const AREAS: [Area; 5] = [
    Area {
        rel: "registry/index",
        kind: "cargo.registry-index",
        what: "registry indexes",
        table: Table::RegistryIndex,
    },
    Area {
        rel: "registry/cache",
        kind: "cargo.registry-cache",
        what: "crate archives (.crate)",
        table: Table::RegistryCrate,
    },
    Area {
        rel: "registry/src",
        kind: "cargo.registry-src",
        what: "extracted crate sources",
        table: Table::RegistrySrc,
    },
    Area {
        rel: "git/db",
        kind: "cargo.git-db",
        what: "git repositories",
        table: Table::GitDb,
    },
    Area {
        rel: "git/checkouts",
        kind: "cargo.git-checkouts",
        what: "git checkouts",
        table: Table::GitCheckout,
    },
];

/// True when `dir` looks like a cargo home: cargo's own files, or its cache areas.
pub fn is_cargo_home(dir: &Path) -> bool {
    dir.join(".global-cache").is_file()
        || dir.join(".package-cache").is_file()
        || AREAS.iter().any(|a| dir.join(a.rel).is_dir())
}

/// What `.global-cache` says about one area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Rows tracked.
    pub items: u64,
    /// Total size, when the table has sizes and none is unknown.
    pub bytes: Option<u64>,
    pub last_used: Option<DateTime<Utc>>,
}

/// The tracker database, read once per listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobalCache {
    pub index: Usage,
    pub crates: Usage,
    pub src: Usage,
    pub git_db: Usage,
    pub checkouts: Usage,
}

impl GlobalCache {
    pub fn usage(&self, area: &Area) -> Usage {
        match area.table {
            Table::RegistryIndex => self.index,
            Table::RegistryCrate => self.crates,
            Table::RegistrySrc => self.src,
            Table::GitDb => self.git_db,
            Table::GitCheckout => self.checkouts,
        }
    }
}

/// Reads `<home>/.global-cache` read-only. `Ok(None)` when there is none.
pub fn read_global_cache(home: &Path) -> Result<Option<GlobalCache>, String> {
    let path = home.join(".global-cache");
    if !path.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    // Cargo holds its write lock only briefly; wait a little rather than fail.
    conn.busy_timeout(Duration::from_millis(500))
        .map_err(|e| e.to_string())?;
    let sized = |table: &str| -> Result<Usage, String> {
        conn.query_row(
            &format!("SELECT COUNT(*), SUM(size), SUM(size IS NULL), MAX(timestamp) FROM {table}"),
            [],
            |r| {
                let items: i64 = r.get(0)?;
                let sum: Option<i64> = r.get(1)?;
                let unknown: Option<i64> = r.get(2)?;
                let last: Option<i64> = r.get(3)?;
                Ok(Usage {
                    items: items.max(0) as u64,
                    bytes: match unknown {
                        Some(0) | None => sum.map(|s| s.max(0) as u64),
                        Some(_) => None,
                    },
                    last_used: last.and_then(|t| DateTime::from_timestamp(t, 0)),
                })
            },
        )
        .map_err(|e| format!("{table}: {e}"))
    };
    let unsized_ = |table: &str| -> Result<Usage, String> {
        conn.query_row(
            &format!("SELECT COUNT(*), MAX(timestamp) FROM {table}"),
            [],
            |r| {
                let items: i64 = r.get(0)?;
                let last: Option<i64> = r.get(1)?;
                Ok(Usage {
                    items: items.max(0) as u64,
                    bytes: None,
                    last_used: last.and_then(|t| DateTime::from_timestamp(t, 0)),
                })
            },
        )
        .map_err(|e| format!("{table}: {e}"))
    };
    Ok(Some(GlobalCache {
        index: unsized_("registry_index")?,
        crates: sized("registry_crate")?,
        src: sized("registry_src")?,
        git_db: unsized_("git_db")?,
        checkouts: sized("git_checkout")?,
    }))
}

/// Where cargo keeps its caches: `$CARGO_HOME` when set (even to a missing
/// directory, which then means none), else `~/.cargo`; only if it is a directory.
pub fn default_cargo_home(env: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let path = match env.filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p,
        None => home?.join(".cargo"),
    };
    path.is_dir().then_some(path)
}

/// True while a cargo process works in this home. Cargo ≥ 1.74 holds
/// `.package-cache-mutate` shared while it builds (exclusive during gc) and
/// `.package-cache` exclusively while it downloads; both are `flock`s. The probe
/// takes and drops a non-blocking exclusive lock, so a cargo starting in that instant
/// waits a moment at most.
pub fn cargo_is_running(home: &Path) -> bool {
    [".package-cache-mutate", ".package-cache"]
        .iter()
        .any(|name| locked_by_someone(&home.join(name)))
}

fn locked_by_someone(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    // The lock goes with the file, at the end of this function.
    matches!(file.try_lock(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_db(home: &Path) {
        let c = Connection::open(home.join(".global-cache")).unwrap();
        c.execute_batch(
            "CREATE TABLE registry_index (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, timestamp INTEGER NOT NULL);
             CREATE TABLE registry_crate (registry_id INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, timestamp INTEGER NOT NULL, PRIMARY KEY (registry_id, name));
             CREATE TABLE registry_src (registry_id INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER, timestamp INTEGER NOT NULL, PRIMARY KEY (registry_id, name));
             CREATE TABLE git_db (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, timestamp INTEGER NOT NULL);
             CREATE TABLE git_checkout (git_id INTEGER NOT NULL, name TEXT UNIQUE NOT NULL, size INTEGER, timestamp INTEGER NOT NULL, PRIMARY KEY (git_id, name));
             CREATE TABLE global_data (last_auto_gc INTEGER NOT NULL);
             INSERT INTO registry_index VALUES (1, 'index.crates.io-1949cf8c6b5b557f', 1795226400);
             INSERT INTO registry_crate VALUES (1, 'a-1.0.0.crate', 100, 1795226100), (1, 'b-1.0.0.crate', 50, 1795226400);
             INSERT INTO registry_src VALUES (1, 'a-1.0.0', 900, 1795226100), (1, 'b-1.0.0', NULL, 1795226400);",
        )
        .unwrap();
    }

    #[test]
    fn reads_sizes_and_last_use_from_the_tracker() {
        let d = tempfile::tempdir().unwrap();
        make_db(d.path());
        let g = read_global_cache(d.path()).unwrap().unwrap();
        assert_eq!(g.crates.items, 2);
        assert_eq!(g.crates.bytes, Some(150));
        assert_eq!(
            g.crates.last_used,
            DateTime::from_timestamp(1_795_226_400, 0)
        );
        // One source directory has no size yet: the total is unknown, not a guess.
        assert_eq!(g.src.bytes, None);
        assert_eq!(g.src.items, 2);
        assert_eq!(g.index.bytes, None);
        assert_eq!(g.index.items, 1);
        assert_eq!(g.git_db, Usage::default());
    }

    #[test]
    fn no_database_and_a_broken_one() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_global_cache(d.path()), Ok(None));
        std::fs::write(d.path().join(".global-cache"), b"not sqlite at all, really").unwrap();
        assert!(read_global_cache(d.path()).is_err());
    }

    #[test]
    fn a_held_package_cache_lock_means_cargo_is_running() {
        let d = tempfile::tempdir().unwrap();
        assert!(!cargo_is_running(d.path()));
        let path = d.path().join(".package-cache-mutate");
        std::fs::write(&path, b"").unwrap();
        assert!(!cargo_is_running(d.path()));
        let held = File::open(&path).unwrap();
        // A shared lock, as cargo holds it while building.
        held.lock_shared().unwrap();
        assert!(cargo_is_running(d.path()));
        drop(held);
        assert!(!cargo_is_running(d.path()));
    }
}
