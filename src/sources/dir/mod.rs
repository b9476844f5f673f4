//! The `dir` source: a directory on this machine given with `--dir` (or the cargo
//! home found by default). A cargo home becomes one entry per area; any other
//! directory becomes one entry. Deleting an entry empties exactly that directory,
//! never anything outside the directory given: the path is used as given (nothing
//! resolved), and deleting is refused when a level of it is a symlink or `..`, or
//! when it is no cache at all (`protect`).

pub(crate) mod cargo_home;
pub mod guard;
pub(crate) mod protect;

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::model::{Content, Entry, Origin, SourceKind, SourceRef};
use crate::safe_remove::{NoFollowDir, SafeRemoveError};
use crate::scan;
use crate::sources::{Deletion, ErrorKind, Listing, Source, SourceError, shell_quote};
use cargo_home::{AREAS, GlobalCache};
use guard::Guard;
use protect::Protected;

/// The id of the one entry a plain directory becomes.
pub const WHOLE_DIR_ID: &str = ".";

pub struct DirSource {
    sref: SourceRef,
    path: PathBuf,
    /// Run the detectors on the walks listing makes anyway, so the content scan that
    /// follows does not walk the same tree again.
    scan_content: bool,
    guard: Arc<Guard>,
}

impl DirSource {
    /// `path` as given, made absolute (`.` components drop out; `..` stays, and
    /// makes deleting refused). Protects `/`, the system directories and Docker's
    /// default root until `guarded_by` says more.
    pub fn new(path: PathBuf) -> Self {
        let path = std::path::absolute(&path).unwrap_or(path);
        Self {
            sref: SourceRef::new(SourceKind::Dir, path.to_string_lossy()),
            path,
            scan_content: false,
            guard: Arc::default(),
        }
    }

    /// The protected paths (home, cargo home, the daemon's root) to refuse.
    pub fn guarded_by(mut self, guard: Arc<Guard>) -> Self {
        self.guard = guard;
        self
    }

    /// Scans content while listing (see `scan_content`); off, listing only measures.
    pub fn scanning_content(mut self, on: bool) -> Self {
        self.scan_content = on;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl Source for DirSource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        let (path, sref, detect) = (self.path.clone(), self.sref.clone(), self.scan_content);
        let protected = self.guard.protected().await;
        tokio::task::spawn_blocking(move || list_blocking(&path, &sref, detect, &protected))
            .await
            .map_err(|e| SourceError::new(ErrorKind::Other, format!("listing failed: {e}")))?
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        if let Some(r) = entry.origin.delete_refusal() {
            return Err(SourceError::new(ErrorKind::Refused, &r.message));
        }
        let (path, id) = (self.path.clone(), entry.id.clone());
        let protected = self.guard.protected().await;
        tokio::task::spawn_blocking(move || empty_entry(&path, &id, &protected))
            .await
            .map_err(|e| SourceError::new(ErrorKind::Other, format!("delete failed: {e}")))??;
        Ok(Deletion {
            deleted_ids: vec![entry.id.clone()],
            reclaimed_bytes: None,
        })
    }
}

/// The directory as given (never resolved: entries, commands and deletions name
/// this path), checked to be a readable directory with a UTF-8 path. Listing may go
/// through a symlink; deleting may not (`guard::refusal`).
fn check_root(path: &Path) -> Result<(), SourceError> {
    let shown = path.display();
    let md = std::fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SourceError::new(
            ErrorKind::NotFound,
            format!("no directory at {shown}: check the --dir path"),
        ),
        io::ErrorKind::PermissionDenied => SourceError::new(
            ErrorKind::PermissionDenied,
            format!("permission denied on {shown}: run cachetop as a user who can read it"),
        ),
        _ => SourceError::new(ErrorKind::Other, format!("cannot read {shown}: {e}")),
    })?;
    if !md.is_dir() {
        return Err(SourceError::new(
            ErrorKind::Unsupported,
            format!("{shown} is not a directory: --dir takes a directory"),
        ));
    }
    if path.to_str().is_none() {
        return Err(SourceError::new(
            ErrorKind::Unsupported,
            format!(
                "{shown} is a path that is not UTF-8, which cachetop cannot name in its output"
            ),
        ));
    }
    if let Err(e) = std::fs::read_dir(path) {
        return Err(SourceError::new(
            if e.kind() == io::ErrorKind::PermissionDenied {
                ErrorKind::PermissionDenied
            } else {
                ErrorKind::Other
            },
            format!("cannot list {shown}: {e}; run cachetop as a user who can read it"),
        ));
    }
    Ok(())
}

fn list_blocking(
    root: &Path,
    sref: &SourceRef,
    detect: bool,
    protected: &Protected,
) -> Result<Listing, SourceError> {
    check_root(root)?;
    let mut listing = if cargo_home::is_cargo_home(root) {
        list_cargo_home(root, sref, detect)?
    } else {
        list_plain(root, sref, detect)?
    };
    let mut refused = Vec::new();
    for e in &mut listing.entries {
        let Some(rel) = entry_rel(&e.id) else {
            continue;
        };
        let refusal = guard::refusal(&inside(root, &rel), protected);
        if let Some(r) = &refusal {
            refused.push(r.message.clone());
        }
        e.origin = Origin::Dir { refusal };
    }
    if !refused.is_empty() {
        listing.summary.push_str("; deleting refused");
        if let Some(d) = listing.details.as_object_mut() {
            d.insert("delete_refused".into(), json!(refused));
        }
    }
    listing.location = Some(root.to_path_buf());
    Ok(listing)
}

fn time(secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.and_then(|s| DateTime::from_timestamp(s, 0))
}

fn content_at(path: &Path) -> Content {
    Content {
        path: path.to_string_lossy().into_owned(),
        ..Default::default()
    }
}

/// Walks a directory whose size and last use no one reports; with `detect`, the same
/// walk is the entry's content scan.
fn walked(path: &Path, detect: bool) -> Result<scan::Scan, SourceError> {
    let detectors = if detect { scan::detectors::all() } else { &[] };
    scan::scan_dir(path, path, detectors)
        .map_err(|e| SourceError::new(ErrorKind::Other, e.to_string()))
}

/// Puts a walk that ran the detectors on the entry, as the content scan would.
fn keep_scan(e: &mut Entry, dir: &Path, walk: scan::Scan) {
    let path = dir.to_string_lossy();
    scan::apply(e, scan::outcome(&path, &Ok(walk)));
}

fn list_plain(root: &Path, sref: &SourceRef, detect: bool) -> Result<Listing, SourceError> {
    let m = walked(root, detect)?;
    let mut e = Entry::new(sref.clone(), WHOLE_DIR_ID, "dir");
    e.description = format!("directory {}", root.display());
    e.size_bytes = m.disk_bytes;
    e.last_used_at = time(m.newest_mtime);
    e.content = Some(content_at(root));
    e.details
        .insert("last_use".into(), "newest file time".into());
    if detect {
        keep_scan(&mut e, root, m);
    }
    Ok(Listing {
        entries: vec![e],
        summary: format!("directory {}", root.display()),
        details: json!({ "layout": "directory", "path": root }),
        location: None,
    })
}

fn list_cargo_home(root: &Path, sref: &SourceRef, detect: bool) -> Result<Listing, SourceError> {
    let (db, db_state) = match cargo_home::read_global_cache(root) {
        Ok(Some(db)) => (Some(db), "read".to_string()),
        Ok(None) => (None, "absent".to_string()),
        Err(why) => (None, format!("unreadable ({why}); file times used instead")),
    };
    let in_use = cargo_home::cargo_is_running(root);
    let mut entries = Vec::new();
    for area in &AREAS {
        let dir = root.join(area.rel);
        if !dir.is_dir() {
            continue;
        }
        entries.push(area_entry(
            root,
            &dir,
            area,
            db.as_ref(),
            in_use,
            sref,
            detect,
        )?);
    }
    let summary = format!(
        "cargo home {}{}, .global-cache {}",
        root.display(),
        if in_use { " (cargo is running)" } else { "" },
        if db.is_some() { "read" } else { "not used" }
    );
    Ok(Listing {
        entries,
        summary,
        details: json!({
            "layout": "cargo home",
            "path": root,
            "global_cache": db_state,
            "cargo_running": in_use,
        }),
        location: None,
    })
}

fn area_entry(
    root: &Path,
    dir: &Path,
    area: &cargo_home::Area,
    db: Option<&GlobalCache>,
    in_use: bool,
    sref: &SourceRef,
    detect: bool,
) -> Result<Entry, SourceError> {
    let usage = db.map(|g| g.usage(area)).filter(|u| u.items > 0);
    let mut e = Entry::new(sref.clone(), area.rel, area.kind);
    e.description = format!("{} in {}", area.what, root.display());
    e.in_use = in_use;
    e.content = Some(content_at(dir));
    let needs_walk = usage.is_none_or(|u| u.bytes.is_none() || u.last_used.is_none());
    let walked = if needs_walk {
        Some(walked(dir, detect)?)
    } else {
        None
    };
    match (usage.and_then(|u| u.bytes), &walked) {
        (Some(b), _) => {
            e.size_bytes = b;
            e.details.insert("size".into(), "from .global-cache".into());
        }
        (None, Some(m)) => {
            e.size_bytes = m.disk_bytes;
            e.details.insert("size".into(), "measured".into());
        }
        (None, None) => {}
    }
    match (usage.and_then(|u| u.last_used), &walked) {
        (Some(t), _) => {
            e.last_used_at = Some(t);
            e.details
                .insert("last_use".into(), "from .global-cache".into());
        }
        (None, Some(m)) => {
            e.last_used_at = time(m.newest_mtime);
            e.details
                .insert("last_use".into(), "newest file time".into());
        }
        (None, None) => {}
    }
    if let Some(u) = usage {
        e.details
            .insert("tracked_items".into(), u.items.to_string());
    }
    if let (true, Some(walk)) = (detect, walked) {
        keep_scan(&mut e, dir, walk);
    }
    Ok(e)
}

/// An entry id as a path inside the root: `.` or plain relative names only.
fn entry_rel(id: &str) -> Option<PathBuf> {
    if id == WHOLE_DIR_ID {
        return Some(PathBuf::new());
    }
    let p = Path::new(id);
    let plain = !id.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| p.to_path_buf())
}

/// `root/rel`, or `root` itself for an empty `rel` (no trailing slash added).
fn inside(root: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// Removes everything inside the entry's directory (the directory itself stays: it
/// may be a mount point, and cargo recreates what it needs). Every level of the path
/// is opened without following a link, and everything below is removed by
/// descriptor: nothing outside the path given is ever reached, even through a link
/// swapped in since the plan.
fn empty_entry(root: &Path, id: &str, protected: &Protected) -> Result<(), SourceError> {
    let refuse = |why: String| SourceError::new(ErrorKind::Refused, why);
    let rel = entry_rel(id).ok_or_else(|| {
        refuse(format!(
            "refusing to delete {id:?}: not a directory inside {}",
            root.display()
        ))
    })?;
    let target = inside(root, &rel);
    if let Some(r) = guard::refusal(&target, protected) {
        return Err(refuse(r.message));
    }
    let failed = |e: SafeRemoveError| {
        if e.is_refusal() {
            refuse(format!("refusing to delete in {}: {e}", target.display()))
        } else if e.is_not_found() {
            SourceError::new(
                ErrorKind::NotFound,
                format!("{} is gone: {e}", target.display()),
            )
        } else {
            SourceError::new(ErrorKind::Other, format!("could not delete: {e}"))
        }
    };
    let dir = NoFollowDir::open(root)
        .and_then(|d| d.open_beneath(&rel))
        .map_err(failed)?;
    dir.empty().map_err(failed)
}

/// The shell command that empties the same directory.
pub fn equivalent_command(entry: &Entry) -> Option<String> {
    let rel = entry_rel(&entry.id)?;
    let dir = inside(Path::new(&entry.source.name), &rel);
    Some(format!(
        "find {} -mindepth 1 -delete",
        shell_quote(&dir.to_string_lossy())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn home() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let reg = "index.crates.io-1949cf8c6b5b557f";
        fs::create_dir_all(d.path().join("registry/index").join(reg)).unwrap();
        fs::write(
            d.path()
                .join("registry/index")
                .join(reg)
                .join("config.json"),
            b"{}",
        )
        .unwrap();
        fs::create_dir_all(d.path().join("registry/cache").join(reg)).unwrap();
        fs::write(
            d.path()
                .join("registry/cache")
                .join(reg)
                .join("a-1.0.0.crate"),
            vec![0u8; 300],
        )
        .unwrap();
        fs::create_dir_all(d.path().join("registry/src").join(reg).join("a-1.0.0")).unwrap();
        fs::write(d.path().join(".package-cache"), b"").unwrap();
        d
    }

    fn src(p: &Path) -> SourceRef {
        SourceRef::new(SourceKind::Dir, p.to_string_lossy())
    }

    fn list(p: &Path) -> Result<Listing, SourceError> {
        list_blocking(p, &src(p), false, &Protected::default())
    }

    fn empty(p: &Path, id: &str) -> Result<(), SourceError> {
        empty_entry(p, id, &Protected::default())
    }

    #[test]
    fn a_cargo_home_lists_its_areas_measured_from_files() {
        let d = home();
        let l = list(d.path()).unwrap();
        let ids: Vec<&str> = l.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["registry/index", "registry/cache", "registry/src"]
        );
        let cache = &l.entries[1];
        assert_eq!(cache.kind, "cargo.registry-cache");
        assert_eq!(cache.size_bytes, 300);
        assert!(cache.last_used_at.is_some());
        assert_eq!(cache.details["size"], "measured");
        assert!(!cache.in_use);
        let root = fs::canonicalize(d.path()).unwrap();
        assert_eq!(
            cache.content.as_ref().unwrap().path,
            root.join("registry/cache").to_str().unwrap()
        );
        assert_eq!(l.details["global_cache"], "absent");
    }

    #[test]
    fn any_other_directory_is_one_entry() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("x"), vec![1u8; 42]).unwrap();
        let l = list(d.path()).unwrap();
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.entries[0].id, ".");
        assert_eq!(l.entries[0].size_bytes, 42);
    }

    #[test]
    fn a_listing_that_must_walk_scans_in_the_same_walk_when_asked() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("archives/partial")).unwrap();
        fs::write(d.path().join("archives/partial/curl_8.deb"), vec![1u8; 10]).unwrap();
        let measured = list(d.path()).unwrap();
        assert!(scan::needs_scan(&measured.entries[0]));
        assert!(measured.entries[0].findings.is_empty());

        let scanned = list_blocking(d.path(), &src(d.path()), true, &Protected::default()).unwrap();
        let e = &scanned.entries[0];
        assert!(!scan::needs_scan(e), "the scan stage would walk it again");
        assert_eq!(e.content.as_ref().unwrap().files, Some(1));
        assert_eq!(e.disk_bytes, Some(10));
        let kinds: Vec<&str> = e.findings.iter().map(|f| f.kind.as_str()).collect();
        assert_eq!(kinds, vec!["apt.partial_download"]);
    }

    #[test]
    fn missing_and_non_directories_are_clear_errors() {
        let e = list(Path::new("/nonexistent/cachetop-dir")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(e.message.contains("check the --dir path"), "{}", e.message);
        let f = tempfile::NamedTempFile::new().unwrap();
        let e = list(f.path()).unwrap_err();
        assert!(e.message.contains("not a directory"), "{}", e.message);
    }

    #[test]
    fn ids_never_reach_outside() {
        assert_eq!(entry_rel("."), Some(PathBuf::new()));
        assert_eq!(
            entry_rel("registry/src"),
            Some(PathBuf::from("registry/src"))
        );
        for bad in ["", "..", "../x", "/etc", "registry/../..", "./registry"] {
            assert_eq!(entry_rel(bad), None, "{bad}");
        }
    }

    #[test]
    fn deleting_empties_exactly_that_area() {
        let d = home();
        empty(d.path(), "registry/cache").unwrap();
        assert!(d.path().join("registry/cache").is_dir());
        assert_eq!(
            fs::read_dir(d.path().join("registry/cache"))
                .unwrap()
                .count(),
            0
        );
        assert!(
            d.path()
                .join("registry/src/index.crates.io-1949cf8c6b5b557f/a-1.0.0")
                .is_dir()
        );
        assert!(d.path().join("registry/index").read_dir().unwrap().count() > 0);
    }

    #[test]
    fn deleting_refuses_symlinks_out_and_bad_ids() {
        let d = home();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), b"keep").unwrap();
        fs::create_dir_all(d.path().join("git")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("git/db")).unwrap();
        let e = empty(d.path(), "git/db").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(outside.path().join("precious").exists());
        let e = empty(d.path(), "../x").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
    }

    #[test]
    fn a_dir_given_through_a_link_is_listed_as_given_and_never_emptied() {
        let real = home();
        fs::write(real.path().join("precious"), b"keep").unwrap();
        let d = tempfile::tempdir().unwrap();
        let link = d.path().join("cache");
        std::os::unix::fs::symlink(real.path(), &link).unwrap();
        let l = list(&link).unwrap();
        assert_eq!(l.entries.len(), 3);
        for e in &l.entries {
            let r = e.origin.delete_refusal().expect("refused");
            assert_eq!(r.kind, crate::model::RefusalKind::Indirect);
            assert!(
                r.message.contains(&format!(
                    "is a symlink to {}; pass --dir {}",
                    real.path().display(),
                    real.path().display()
                )),
                "{}",
                r.message
            );
            // The path given, never the resolved one.
            let content = &e.content.as_ref().unwrap().path;
            assert!(content.starts_with(link.to_str().unwrap()), "{content}");
        }
        assert!(l.summary.ends_with("deleting refused"), "{}", l.summary);
        for id in ["registry/cache", "."] {
            let e = empty(&link, id).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Refused, "{e}");
        }
        // Under a parent that is a link, too.
        let e = empty(&link.join("registry"), ".").unwrap_err();
        assert!(e.message.contains("pass --dir"), "{e}");
        assert_eq!(fs::read(real.path().join("precious")).unwrap(), b"keep");
        assert!(
            real.path()
                .join("registry/cache")
                .read_dir()
                .unwrap()
                .count()
                > 0
        );
    }

    #[test]
    fn an_area_that_is_a_link_is_refused_and_the_others_are_not() {
        let d = home();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), b"keep").unwrap();
        fs::create_dir_all(d.path().join("git")).unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("git/db")).unwrap();
        let l = list(d.path()).unwrap();
        let refused: Vec<&str> = l
            .entries
            .iter()
            .filter(|e| e.origin.delete_refusal().is_some())
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(refused, vec!["git/db"]);
        assert!(outside.path().join("precious").exists());
    }

    #[test]
    fn dots_and_protected_directories_are_refused_when_listed() {
        let d = home();
        fs::create_dir(d.path().join("sub")).unwrap();
        let dots = d.path().join("sub/..");
        let l = list(&dots).unwrap();
        let r = l.entries[0].origin.delete_refusal().unwrap();
        assert!(r.message.contains("contains `..`"), "{}", r.message);
        assert!(empty(&dots, "registry/cache").is_err());

        let p = Protected {
            homes: vec![d.path().to_path_buf()],
            ..Default::default()
        };
        let l = list_blocking(d.path(), &src(d.path()), false, &p).unwrap();
        // The areas below $HOME are caches; it is $HOME itself that is refused.
        assert!(
            l.entries
                .iter()
                .all(|e| e.origin.delete_refusal().is_none())
        );
        let plain = tempfile::tempdir().unwrap();
        fs::create_dir_all(plain.path().join(".cargo")).unwrap();
        let p = Protected {
            cargo_homes: vec![plain.path().join(".cargo")],
            ..Default::default()
        };
        let l = list_blocking(plain.path(), &src(plain.path()), false, &p).unwrap();
        let r = l.entries[0].origin.delete_refusal().unwrap();
        assert!(
            r.message.contains("it holds the cargo home"),
            "{}",
            r.message
        );
        let e = empty_entry(plain.path(), ".", &p).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(plain.path().join(".cargo").exists());
    }

    #[test]
    fn equivalent_command_empties_the_same_directory() {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Dir, "/home/ci/.cargo"),
            "registry/src",
            "cargo.registry-src",
        );
        assert_eq!(
            equivalent_command(&e).unwrap(),
            "find /home/ci/.cargo/registry/src -mindepth 1 -delete"
        );
        e.id = ".".into();
        assert_eq!(
            equivalent_command(&e).unwrap(),
            "find /home/ci/.cargo -mindepth 1 -delete"
        );
    }
}
