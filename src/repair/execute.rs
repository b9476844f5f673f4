//! Carries out a repair plan: re-read each source (skip what is gone or in use now),
//! re-scan the content just before deleting, remove only the planned parts the
//! re-scan still finds broken, and check each one is gone.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::{RepairItem, RepairPlan};
use crate::model::{Entry, Finding, SourceRef};
use crate::plan::{Done, Outcome, Progress, Skip, Step};
use crate::safe_remove::{NoFollowDir, SafeRemoveError};
use crate::scan::{self, detectors};
use crate::sources::{SharedSource, find};

enum PartResult {
    Removed(u64),
    Skipped(String),
    Failed(String),
}

/// Removes the parts the plan lists that are still broken, checking each is gone.
pub async fn execute(plan: &RepairPlan, sources: &[SharedSource], progress: &Progress) -> Outcome {
    let mut out = Outcome::of(plan);
    for (sref, items) in group_by_source(&plan.items) {
        let Some(source) = find(sources, sref) else {
            for it in items {
                fail_all(&mut out, it, format!("source {sref} is not configured"));
            }
            continue;
        };
        progress(Step::Rereading(sref));
        let fresh = match reread(source, &items).await {
            Ok(entries) => entries,
            Err(e) => {
                for it in items {
                    fail_all(
                        &mut out,
                        it,
                        format!("not removed: could not re-read {sref}: {e}"),
                    );
                }
                continue;
            }
        };
        let fresh = by_record(&fresh);
        for it in items {
            let Some(&now) = fresh.get(&(&it.entry.source, it.entry.id.as_str())) else {
                skip_all(&mut out, it, "gone since the plan was made");
                continue;
            };
            if let Some(why) = changed_since_planning(it, now) {
                skip_all(&mut out, it, &why);
                continue;
            }
            let results = rescan_and_remove(it, progress.clone()).await;
            for (part, result) in it.parts.iter().zip(results) {
                match result {
                    PartResult::Removed(bytes) => {
                        out.reclaimed_bytes = out.reclaimed_bytes.saturating_add(bytes);
                        out.done.push(Done {
                            source: sref.clone(),
                            id: it.entry.id.clone(),
                            path: Some(part.path.clone()),
                            bytes,
                            planned: true,
                        });
                    }
                    PartResult::Skipped(why) => out.skipped.push(refusal(it, part, why)),
                    PartResult::Failed(why) => {
                        out.failures += 1;
                        out.skipped.push(refusal(it, part, why));
                    }
                }
            }
        }
    }
    out
}

/// How often a source is read again when a planned record is missing from it.
const REREADS: usize = 3;

/// Re-reads the source. dockerd 20.10 leaves records out of `/system/df` now and then
/// while other builds run, so a planned record that is missing is looked for again
/// before it counts as gone.
async fn reread(
    source: &SharedSource,
    items: &[&RepairItem],
) -> Result<Vec<Entry>, crate::sources::SourceError> {
    let mut attempt = 1;
    loop {
        let entries = source.list().await?.entries;
        let listed = by_record(&entries);
        let all_there = items
            .iter()
            .all(|it| listed.contains_key(&(&it.entry.source, it.entry.id.as_str())));
        drop(listed);
        if all_there || attempt == REREADS {
            return Ok(entries);
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// In use now, or its content moved: not what the user agreed to.
fn changed_since_planning(it: &RepairItem, now: &Entry) -> Option<String> {
    if now.in_use {
        return Some("in use now: a build started using it".to_string());
    }
    let now_path = now.content.as_ref().map_or("", |c| c.path.as_str());
    if now_path != it.content_path() {
        return Some(format!(
            "its content moved since the plan was made (now {now_path:?})"
        ));
    }
    None
}

/// Re-scans on a blocking thread, then removes each planned part still found.
async fn rescan_and_remove(it: &RepairItem, progress: Progress) -> Vec<PartResult> {
    let root = PathBuf::from(it.content_path());
    let logical = scan::logical_root(&it.entry);
    let parts = it.parts.clone();
    let entry = it.entry.clone();
    let n = parts.len();
    let task = tokio::task::spawn_blocking(move || {
        progress(Step::Rescanning(&entry));
        let scan = match scan::scan_dir(&root, &logical, detectors::all()) {
            Ok(s) => s,
            Err(e) => {
                return parts
                    .iter()
                    .map(|_| PartResult::Failed(format!("not removed: re-scan failed: {e}")))
                    .collect();
            }
        };
        parts
            .iter()
            .map(|part| {
                let found: Vec<&scan::Part> = scan
                    .parts
                    .iter()
                    .filter(|p| p.finding.kind == part.kind && p.finding.path == part.path)
                    .collect();
                match found.as_slice() {
                    [] => PartResult::Skipped(
                        "no longer broken: the re-scan did not find it".to_string(),
                    ),
                    [one] => {
                        progress(Step::Removing {
                            entry: &entry,
                            path: &part.path,
                        });
                        match remove_part(&root, &one.rel) {
                            Ok(true) => PartResult::Removed(one.finding.bytes),
                            Ok(false) => PartResult::Skipped("already gone".to_string()),
                            Err(e) => PartResult::Failed(format!("could not remove it: {e}")),
                        }
                    }
                    _ => PartResult::Skipped(
                        "ambiguous: several names on disk print as this path".to_string(),
                    ),
                }
            })
            .collect()
    });
    match task.await {
        Ok(results) => results,
        Err(e) => (0..n)
            .map(|_| PartResult::Failed(format!("repair task failed: {e}")))
            .collect(),
    }
}

/// Removes `root/rel` (a file, or a directory with everything in it). The content
/// root is opened level by level from `/`, and the part's parents below it, none of
/// them followed if it is a symlink; the part goes by descriptor (a symlink part is
/// unlinked itself, never followed), so a link swapped in since the plan cannot
/// redirect it. `Ok(false)` when it was already gone.
pub fn remove_part(root: &Path, rel: &Path) -> Result<bool, SafeRemoveError> {
    let plain =
        !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    let (Some(name), true) = (rel.file_name(), plain) else {
        return Err(SafeRemoveError::NotPlain {
            path: rel.to_path_buf(),
            why: "not a plain path inside the content",
        });
    };
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    let parent = match NoFollowDir::open(root).and_then(|d| d.open_beneath(parent_rel)) {
        Ok(d) => d,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(e),
    };
    if !parent.remove(name)? {
        return Ok(false);
    }
    match parent.kind_of(name)? {
        None => Ok(true),
        Some(_) => Err(SafeRemoveError::Io {
            path: root.join(rel),
            err: io::Error::other("it is still there after removal"),
        }),
    }
}

fn refusal(it: &RepairItem, part: &Finding, reason: String) -> Skip {
    Skip {
        source: Some(it.entry.source.clone()),
        id: it.entry.id.clone(),
        path: Some(part.path.clone()),
        reason,
    }
}

fn skip_all(out: &mut Outcome, it: &RepairItem, why: &str) {
    for p in &it.parts {
        out.skipped.push(refusal(it, p, why.to_string()));
    }
}

fn fail_all(out: &mut Outcome, it: &RepairItem, why: String) {
    for p in &it.parts {
        out.failures += 1;
        out.skipped.push(refusal(it, p, why.clone()));
    }
}

/// A listing by (source, id), the key an entry keeps across listings.
fn by_record(entries: &[Entry]) -> HashMap<(&SourceRef, &str), &Entry> {
    entries
        .iter()
        .map(|e| ((&e.source, e.id.as_str()), e))
        .collect()
}

fn group_by_source(items: &[RepairItem]) -> Vec<(&SourceRef, Vec<&RepairItem>)> {
    let mut groups: Vec<(&SourceRef, Vec<&RepairItem>)> = Vec::new();
    for it in items {
        match groups.iter_mut().find(|(s, _)| **s == it.entry.source) {
            Some((_, v)) => v.push(it),
            None => groups.push((&it.entry.source, vec![it])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Content, SourceKind};
    use crate::repair::plan;
    use crate::sources::{Deletion, Listing, Source, SourceError};
    use async_trait::async_trait;
    use std::fs;
    use std::sync::{Arc, Mutex};

    const REG: &str = "registry/src/index.crates.io-1949cf8c6b5b557f";

    /// A source over one directory, whose in-use state the test flips.
    struct OneDir {
        sref: SourceRef,
        entry: Mutex<Entry>,
    }

    #[async_trait]
    impl Source for OneDir {
        fn source_ref(&self) -> &SourceRef {
            &self.sref
        }
        async fn list(&self) -> Result<Listing, SourceError> {
            Ok(Listing {
                entries: vec![self.entry.lock().unwrap().clone()],
                ..Default::default()
            })
        }
        async fn delete(&self, _: &Entry) -> Result<Deletion, SourceError> {
            unreachable!("repair never deletes whole entries")
        }
    }

    fn setup() -> (tempfile::TempDir, Arc<OneDir>) {
        let d = tempfile::tempdir().unwrap();
        let reg = d.path().join(REG);
        fs::create_dir_all(reg.join("good-1.0.0")).unwrap();
        fs::write(reg.join("good-1.0.0/.cargo-ok"), br#"{"v":1}"#).unwrap();
        fs::write(reg.join("good-1.0.0/lib.rs"), b"pub fn f() {}").unwrap();
        fs::create_dir_all(reg.join("half-1.0.0/src")).unwrap();
        fs::write(reg.join("half-1.0.0/src/lib.rs"), vec![b'x'; 400]).unwrap();
        fs::create_dir_all(reg.join("torn-1.0.0")).unwrap();
        fs::write(reg.join("torn-1.0.0/.cargo-ok"), b"").unwrap();
        let sref = SourceRef::new(SourceKind::Dir, d.path().to_string_lossy());
        let mut e = Entry::new(sref.clone(), ".", "dir");
        e.content = Some(Content {
            path: d.path().to_string_lossy().into_owned(),
            ..Default::default()
        });
        let src = Arc::new(OneDir {
            sref,
            entry: Mutex::new(e),
        });
        (d, src)
    }

    fn scanned(src: &OneDir) -> Vec<Entry> {
        let mut e = src.entry.lock().unwrap().clone();
        let outcome = scan::scan_entry(&e).unwrap();
        scan::apply(&mut e, outcome);
        vec![e]
    }

    async fn run(plan: &RepairPlan, src: &Arc<OneDir>) -> Outcome {
        let sources: Vec<SharedSource> = vec![src.clone()];
        execute(plan, &sources, &crate::plan::quietly()).await
    }

    #[tokio::test]
    async fn removes_exactly_the_planned_parts() {
        let (d, src) = setup();
        let p = plan(&scanned(&src), &[".".to_string()]);
        assert_eq!(p.part_count(), 2);
        let out = run(&p, &src).await;
        assert!(out.is_clean(), "{out:?}");
        let removed: Vec<&str> = out.done.iter().filter_map(|r| r.path.as_deref()).collect();
        assert_eq!(
            removed,
            vec![
                format!("{REG}/half-1.0.0").as_str(),
                format!("{REG}/torn-1.0.0").as_str()
            ]
        );
        assert_eq!(out.reclaimed_bytes, 400);
        let reg = d.path().join(REG);
        assert!(!reg.join("half-1.0.0").exists());
        assert!(!reg.join("torn-1.0.0").exists());
        assert!(reg.join("good-1.0.0/lib.rs").exists());
        // And a new scan is clean.
        assert!(scanned(&src)[0].findings.is_empty());
    }

    #[tokio::test]
    async fn what_got_fixed_meanwhile_is_skipped_and_in_use_stops_everything() {
        let (d, src) = setup();
        let p = plan(&scanned(&src), &[".".to_string()]);
        // cargo finished the half-extracted crate meanwhile.
        fs::write(
            d.path().join(REG).join("half-1.0.0/.cargo-ok"),
            br#"{"v":1}"#,
        )
        .unwrap();
        let out = run(&p, &src).await;
        assert_eq!(out.done.len(), 1);
        assert!(d.path().join(REG).join("half-1.0.0/src/lib.rs").exists());
        assert!(out.skipped[0].reason.starts_with("no longer broken"));

        let (d, src) = setup();
        let p = plan(&scanned(&src), &[".".to_string()]);
        src.entry.lock().unwrap().in_use = true;
        let out = run(&p, &src).await;
        assert!(out.done.is_empty());
        assert_eq!(out.skipped.len(), 2);
        assert!(
            out.skipped
                .iter()
                .all(|s| s.reason.starts_with("in use now"))
        );
        assert!(d.path().join(REG).join("half-1.0.0").exists());
    }

    #[test]
    fn remove_part_stays_inside_and_never_follows_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("precious"), b"keep").unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("link")).unwrap();
        for bad in ["", "../x", "/etc/passwd", "a/../../b"] {
            assert!(remove_part(d.path(), Path::new(bad)).is_err(), "{bad}");
        }
        assert!(remove_part(d.path(), Path::new("link/precious")).is_err());
        assert!(outside.path().join("precious").exists());
        // A symlink that is itself the part goes, its target stays.
        assert!(remove_part(d.path(), Path::new("link")).unwrap());
        assert!(outside.path().join("precious").exists());
        assert!(!remove_part(d.path(), Path::new("gone/already")).unwrap());
    }

    #[tokio::test]
    async fn a_parent_swapped_for_a_link_after_planning_is_never_followed() {
        let (d, src) = setup();
        let p = plan(&scanned(&src), &[".".to_string()]);
        assert_eq!(p.part_count(), 2);
        // After the plan, the registry's source directory becomes a link to a tree
        // that holds the same names (a half-extracted crate among them).
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(outside.path().join("half-1.0.0/src")).unwrap();
        fs::write(outside.path().join("half-1.0.0/src/lib.rs"), b"precious").unwrap();
        let reg = d.path().join(REG);
        fs::rename(&reg, d.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), &reg).unwrap();
        let e = remove_part(d.path(), Path::new(&format!("{REG}/half-1.0.0"))).unwrap_err();
        assert!(matches!(e, SafeRemoveError::Symlink { .. }), "{e}");
        assert!(e.to_string().contains("index.crates.io"), "{e}");
        assert!(outside.path().join("half-1.0.0/src/lib.rs").exists());
        // The whole repair leaves it alone as well.
        let out = run(&p, &src).await;
        assert!(out.done.is_empty(), "{out:?}");
        assert!(outside.path().join("half-1.0.0/src/lib.rs").exists());
        assert!(d.path().join("moved/half-1.0.0/src/lib.rs").exists());
    }

    #[test]
    fn a_content_root_that_is_or_passes_through_a_link_is_refused() {
        let real = tempfile::tempdir().unwrap();
        fs::create_dir_all(real.path().join("a")).unwrap();
        fs::write(real.path().join("a/part"), b"x").unwrap();
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(real.path(), d.path().join("root")).unwrap();
        for root in [d.path().join("root"), d.path().join("root/a")] {
            let rel = if root.ends_with("a") {
                "part"
            } else {
                "a/part"
            };
            let e = remove_part(&root, Path::new(rel)).unwrap_err();
            assert!(matches!(e, SafeRemoveError::Symlink { .. }), "{e}");
        }
        assert!(real.path().join("a/part").exists());
        assert!(remove_part(real.path(), Path::new("a/part")).unwrap());
    }
}
