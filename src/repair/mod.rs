//! Repair: remove only the broken parts the findings name inside an entry's content
//! (one half-extracted crate directory, one cut-off `.crate`), so the rest of a warm
//! cache stays. Cargo re-extracts or re-downloads what went on the next build.
//!
//! Like a prune, a repair is a plan first (a pure value, printed the same by a dry run
//! and a real run) and an execution second, which re-reads the source, refuses
//! anything in use, re-scans the content and removes only parts still found broken.

pub mod execute;
pub mod output;

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::model::{Entry, Finding, SourceRef};
use crate::scan;
use crate::sources::{SharedSource, shell_quote};

pub use execute::{Removed, RepairOutcome, RepairProgress, RepairStep, execute};

/// One entry and the broken parts to remove from it.
#[derive(Clone, Debug, PartialEq)]
pub struct RepairItem {
    /// The entry as planned, with its content path.
    pub entry: Entry,
    /// Exactly the findings of the scan the plan was made from.
    pub parts: Vec<Finding>,
}

impl RepairItem {
    pub fn bytes(&self) -> u64 {
        crate::units::sum_bytes(self.parts.iter().map(|p| p.bytes))
    }

    /// Where the content is on disk.
    pub fn content_path(&self) -> &str {
        self.entry.content.as_ref().map_or("", |c| c.path.as_str())
    }

    /// Where a part is on disk.
    pub fn part_path(&self, part: &Finding) -> String {
        format!(
            "{}/{}",
            self.content_path().trim_end_matches('/'),
            part.path
        )
    }
}

/// An entry (or one part of it) left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `None` when no entry has the id.
    pub source: Option<SourceRef>,
    pub id: String,
    /// The part, for refusals at run time; `None` for a whole entry.
    pub path: Option<String>,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct RepairPlan {
    pub items: Vec<RepairItem>,
    /// Ids that name no entry, entries in use, entries with nothing to repair.
    pub refused: Vec<Refusal>,
}

impl RepairPlan {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn part_count(&self) -> usize {
        self.items.iter().map(|i| i.parts.len()).sum()
    }

    pub fn total_bytes(&self) -> u64 {
        crate::units::sum_bytes(self.items.iter().map(RepairItem::bytes))
    }

    /// Ids given that no entry has.
    pub fn unknown_ids(&self) -> impl Iterator<Item = &str> {
        self.refused
            .iter()
            .filter(|r| r.source.is_none())
            .map(|r| r.id.as_str())
    }

    /// The shell commands that would remove the same parts.
    pub fn equivalent_commands(&self) -> Vec<String> {
        self.items
            .iter()
            .flat_map(|i| {
                i.parts
                    .iter()
                    .map(move |p| format!("rm -rf -- {}", shell_quote(&i.part_path(p))))
            })
            .collect()
    }
}

pub const NO_SUCH_ID: &str = "no entry has this id";

/// Plans the repair of the entries with these ids, from their latest scan. Pure.
pub fn plan(entries: &[Entry], ids: &[String]) -> RepairPlan {
    let mut out = RepairPlan::default();
    let mut seen = BTreeSet::new();
    for id in ids {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let mut any = false;
        for e in entries.iter().filter(|e| &e.id == id) {
            any = true;
            match refusal(e) {
                Some(reason) => out.refused.push(Refusal {
                    source: Some(e.source.clone()),
                    id: e.id.clone(),
                    path: None,
                    reason,
                }),
                None => out.items.push(RepairItem {
                    entry: e.clone(),
                    parts: e.findings.clone(),
                }),
            }
        }
        if !any {
            out.refused.push(Refusal {
                source: None,
                id: id.clone(),
                path: None,
                reason: NO_SUCH_ID.to_string(),
            });
        }
    }
    out
}

/// The repair of one entry, planned from a fresh scan of its content so a confirm
/// dialog shows what is broken now. An item with no parts: the content was scanned
/// and nothing in it is broken. Blocking (it walks the content).
pub fn plan_fresh(entry: &Entry) -> RepairPlan {
    let mut fresh = entry.clone();
    if let Some(outcome) = scan::scan_entry(&fresh) {
        scan::apply(&mut fresh, outcome);
    }
    let clean = fresh.findings.is_empty()
        && !fresh.in_use
        && fresh.content.as_ref().is_some_and(|c| c.files.is_some());
    if clean {
        return RepairPlan {
            items: vec![RepairItem {
                entry: fresh,
                parts: Vec::new(),
            }],
            refused: Vec::new(),
        };
    }
    plan(
        std::slice::from_ref(&fresh),
        std::slice::from_ref(&fresh.id),
    )
}

/// How the screen repairs one entry: a plan from a fresh look at its content, then
/// that plan carried out. [`OnDisk`] does it on this machine's files; tests inject
/// their own, as they inject sources.
#[async_trait]
pub trait Repairer: Send + Sync {
    async fn plan(&self, entry: &Entry) -> RepairPlan;

    async fn execute(
        &self,
        plan: &RepairPlan,
        sources: &[SharedSource],
        progress: RepairProgress,
    ) -> RepairOutcome;
}

/// Repairs on this machine: [`plan_fresh`] and [`execute`].
pub struct OnDisk;

#[async_trait]
impl Repairer for OnDisk {
    async fn plan(&self, entry: &Entry) -> RepairPlan {
        let e = entry.clone();
        match tokio::task::spawn_blocking(move || plan_fresh(&e)).await {
            Ok(plan) => plan,
            Err(why) => RepairPlan {
                items: Vec::new(),
                refused: vec![Refusal {
                    source: Some(entry.source.clone()),
                    id: entry.id.clone(),
                    path: None,
                    reason: format!("the repair could not be planned: {why}"),
                }],
            },
        }
    }

    async fn execute(
        &self,
        plan: &RepairPlan,
        sources: &[SharedSource],
        progress: RepairProgress,
    ) -> RepairOutcome {
        execute(plan, sources, progress).await
    }
}

/// Why an entry is not repaired, if it is not.
fn refusal(e: &Entry) -> Option<String> {
    if e.in_use {
        return Some(
            "in use: a build is using it, and repair never touches content under a build"
                .to_string(),
        );
    }
    if let Some(r) = e.origin.delete_refusal()
        && r.kind == crate::model::RefusalKind::Indirect
    {
        return Some(r.message.clone());
    }
    let Some(content) = &e.content else {
        return Some("it has no content on this machine to repair".to_string());
    };
    if content.path.is_empty() || content.files.is_none() {
        return Some(match &content.error {
            Some(why) => format!("its content cannot be read: {why}"),
            None => "its content has not been scanned".to_string(),
        });
    }
    if e.findings.is_empty() {
        return Some("nothing to repair: the scan found no broken parts".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Content, SourceKind};

    fn entry(id: &str, findings: usize) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///d"),
            id,
            "exec.cachemount",
        );
        e.content = Some(Content {
            path: format!("/var/lib/docker/overlay2/{id}/diff"),
            files: Some(10),
            ..Default::default()
        });
        for i in 0..findings {
            e.findings.push(Finding {
                kind: crate::model::FindingKind::CargoPartialExtraction,
                path: format!("registry/src/r-0123456789abcdef/c{i}-1.0.0"),
                detail: "no .cargo-ok".into(),
                bytes: 100 + i as u64,
            });
        }
        e
    }

    #[test]
    fn plans_exactly_the_findings_of_the_named_entries() {
        let entries = vec![entry("a", 2), entry("b", 1)];
        let p = plan(&entries, &["a".to_string()]);
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.items[0].parts, entries[0].findings);
        assert_eq!(p.part_count(), 2);
        assert_eq!(p.total_bytes(), 201);
        assert_eq!(
            p.equivalent_commands()[0],
            "rm -rf -- /var/lib/docker/overlay2/a/diff/registry/src/r-0123456789abcdef/c0-1.0.0"
        );
        assert!(p.refused.is_empty());
    }

    #[test]
    fn refuses_in_use_unknown_unscanned_unreadable_and_clean_entries() {
        let mut busy = entry("busy", 1);
        busy.in_use = true;
        let clean = entry("clean", 0);
        let mut unscanned = entry("unscanned", 0);
        unscanned.content.as_mut().unwrap().files = None;
        let mut remote = entry("remote", 0);
        remote.content = Some(Content {
            path: String::new(),
            error: Some("the daemon runs on another machine".into()),
            ..Default::default()
        });
        let ids: Vec<String> = ["busy", "clean", "nope", "unscanned", "remote", "busy"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = plan(&[busy, clean, unscanned, remote], &ids);
        assert!(p.is_empty());
        let reasons: Vec<(&str, &str)> = p
            .refused
            .iter()
            .map(|r| (r.id.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(
            reasons.len(),
            5,
            "a repeated id is planned once: {reasons:?}"
        );
        assert!(reasons[0].1.starts_with("in use"));
        assert!(reasons[1].1.starts_with("nothing to repair"));
        assert_eq!(reasons[2], ("nope", NO_SUCH_ID));
        assert!(reasons[3].1.contains("not been scanned"));
        assert!(reasons[4].1.contains("another machine"));
        assert_eq!(p.unknown_ids().collect::<Vec<_>>(), vec!["nope"]);
    }

    #[tokio::test]
    async fn the_screen_plans_from_a_fresh_scan_and_removes_only_what_is_confirmed() {
        use crate::sources::dir::DirSource;
        use std::fs;
        use std::sync::Arc;
        const REG: &str = "registry/src/index.crates.io-1949cf8c6b5b557f";
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("plain");
        let reg = home.join("mnt").join(REG);
        fs::create_dir_all(reg.join("half-1.0.0")).unwrap();
        fs::write(reg.join("half-1.0.0/lib.rs"), b"x").unwrap();
        fs::create_dir_all(reg.join("torn-1.0.0")).unwrap();
        fs::write(reg.join("torn-1.0.0/.cargo-ok"), b"ok").unwrap();
        let source: SharedSource = Arc::new(DirSource::new(home.clone()));
        let listed = source.list().await.unwrap().entries;
        // The listed entry was never scanned: the plan scans it.
        let mut p = OnDisk.plan(&listed[0]).await;
        assert_eq!(p.part_count(), 2);
        assert_eq!(p.total_bytes(), 1 + 2);
        // Confirm only the torn one.
        p.items[0].parts.retain(|f| f.path.ends_with("torn-1.0.0"));
        let out = OnDisk
            .execute(&p, &[source], Arc::new(|_: &RepairStep| {}))
            .await;
        assert_eq!(out.removed.len(), 1);
        assert!(!reg.join("torn-1.0.0").exists());
        assert!(reg.join("half-1.0.0/lib.rs").exists());
        // Nothing broken left but the other one; a clean directory plans no parts.
        fs::remove_dir_all(reg.join("half-1.0.0")).unwrap();
        let p = OnDisk.plan(&listed[0]).await;
        assert_eq!(p.items.len(), 1, "{p:?}");
        assert_eq!(p.part_count(), 0);
    }
}
