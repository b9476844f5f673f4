//! Carries out a plan: re-read each source, skip whatever changed since planning,
//! delete the rest one id at a time, and check each answer against the plan.

use chrono::{DateTime, Utc};

use super::plan::{Plan, PlannedItem, Skip};
use crate::model::{Entry, SourceRef};
use crate::policy::{Policy, classify};
use crate::sources::{ErrorKind, SharedSource, find};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    pub source: SourceRef,
    pub id: String,
    pub bytes: u64,
    /// False for what a source deleted beyond the plan (also a warning).
    pub planned: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub deleted: Vec<Deleted>,
    /// Skipped at planning time and at execution time, each with its reason.
    pub skipped: Vec<Skip>,
    pub reclaimed_bytes: u64,
    /// Differences between what a source did and what the plan said.
    pub warnings: Vec<String>,
    /// Planned deletions that failed (as opposed to safety skips such as "in use now").
    pub failures: usize,
}

impl Outcome {
    /// Every planned deletion either happened or was skipped for safety, and every
    /// answer matched the plan.
    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty() && self.failures == 0
    }

    /// How many planned entries were deleted.
    pub fn planned_deleted(&self) -> usize {
        self.deleted.iter().filter(|d| d.planned).count()
    }

    /// The skips made while executing. `execute` starts from the plan's own skips, so
    /// these are what follows them.
    pub fn late_skips(&self, plan: &Plan) -> &[Skip] {
        self.skipped.get(plan.skipped.len()..).unwrap_or_default()
    }

    fn fail(&mut self, it: &PlannedItem, reason: String) {
        self.failures += 1;
        self.skipped.push(skip(it, reason));
    }
}

/// One step of execution, for progress display.
#[derive(Clone, Debug)]
pub enum Step<'a> {
    Rereading(&'a SourceRef),
    Deleting(&'a Entry),
}

pub async fn execute(
    plan: &Plan,
    sources: &[SharedSource],
    policy: &Policy,
    now: DateTime<Utc>,
    on_step: &(dyn Fn(Step<'_>) + Send + Sync),
) -> Outcome {
    let mut out = Outcome {
        skipped: plan.skipped.clone(),
        ..Default::default()
    };
    for (sref, items) in group_by_source(&plan.items) {
        let Some(source) = find(sources, sref) else {
            for it in items {
                out.fail(it, format!("source {sref} is not configured"));
            }
            continue;
        };
        on_step(Step::Rereading(sref));
        let fresh = match source.list().await {
            Ok(listing) => {
                let mut entries = listing.entries;
                classify(&mut entries, policy, now);
                entries
            }
            Err(e) => {
                for it in items {
                    out.fail(it, format!("not deleted: could not re-read {sref}: {e}"));
                }
                continue;
            }
        };
        let mut gone_away: Option<String> = None;
        for it in items {
            if let Some(why) = &gone_away {
                out.fail(it, why.clone());
                continue;
            }
            let Some(now_entry) = fresh.iter().find(|e| e.same_record(&it.entry)) else {
                out.skipped
                    .push(skip(it, "gone since the plan was made".to_string()));
                continue;
            };
            if let Some(reason) = changed_since_planning(&it.entry, now_entry) {
                out.skipped.push(skip(it, reason));
                continue;
            }
            on_step(Step::Deleting(&it.entry));
            match source.delete(now_entry).await {
                Ok(deletion) => {
                    let ids = deletion.deleted_ids;
                    if ids.iter().any(|id| id == &it.entry.id) {
                        let bytes = deletion
                            .reclaimed_bytes
                            .unwrap_or_else(|| it.entry.effective_bytes());
                        out.reclaimed_bytes = out.reclaimed_bytes.saturating_add(bytes);
                        out.deleted.push(Deleted {
                            source: sref.clone(),
                            id: it.entry.id.clone(),
                            bytes,
                            planned: true,
                        });
                    } else {
                        out.fail(
                            it,
                            "the source deleted nothing: it still holds a reference to the record"
                                .to_string(),
                        );
                    }
                    for extra in ids.iter().filter(|id| *id != &it.entry.id) {
                        out.warnings.push(format!(
                            "{sref} also deleted {extra}, which the plan did not list"
                        ));
                        out.deleted.push(Deleted {
                            source: sref.clone(),
                            id: extra.clone(),
                            bytes: 0,
                            planned: false,
                        });
                    }
                }
                // The source confirms the entry no longer exists: gone since the
                // re-read, like one missing from it, which is not a failure.
                Err(e) if e.kind == ErrorKind::NotFound => {
                    out.skipped.push(skip(it, e.message));
                }
                Err(e) => {
                    if matches!(e.kind, ErrorKind::Unreachable) {
                        // The source went away mid-prune: stop here, keep the rest.
                        gone_away = Some(format!("not attempted: {sref} stopped answering"));
                    }
                    out.fail(it, format!("delete failed: {e}"));
                }
            }
        }
    }
    out
}

/// Anything used, started or resized since planning is no longer what the user agreed to.
fn changed_since_planning(planned: &Entry, now: &Entry) -> Option<String> {
    if now.in_use {
        return Some("in use now".to_string());
    }
    if now.last_used_at != planned.last_used_at || now.usage_count != planned.usage_count {
        return Some("used since the plan was made".to_string());
    }
    None
}

fn skip(it: &PlannedItem, reason: String) -> Skip {
    Skip {
        source: it.entry.source.clone(),
        id: it.entry.id.clone(),
        reason,
    }
}

/// Groups items by source, keeping the plan's order inside each group.
fn group_by_source(items: &[PlannedItem]) -> Vec<(&SourceRef, Vec<&PlannedItem>)> {
    let mut groups: Vec<(&SourceRef, Vec<&PlannedItem>)> = Vec::new();
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
    use crate::model::{Flag, SourceKind};
    use crate::prune::plan::build_plan;
    use crate::prune::selector::Selector;
    use crate::sources::{Deletion, Listing, Source, SourceError};
    use async_trait::async_trait;
    use chrono::TimeZone;
    use std::sync::{Arc, Mutex};

    /// A source held in memory, recording what it was asked to delete.
    struct MemSource {
        sref: SourceRef,
        entries: Mutex<Vec<Entry>>,
        deleted: Mutex<Vec<String>>,
        answer: fn(&str) -> Result<Vec<String>, SourceError>,
    }

    #[async_trait]
    impl Source for MemSource {
        fn source_ref(&self) -> &SourceRef {
            &self.sref
        }
        async fn list(&self) -> Result<Listing, SourceError> {
            Ok(Listing {
                entries: self.entries.lock().unwrap().clone(),
                ..Default::default()
            })
        }
        async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
            self.deleted.lock().unwrap().push(entry.id.clone());
            let ids = (self.answer)(&entry.id)?;
            self.entries
                .lock()
                .unwrap()
                .retain(|e| !ids.contains(&e.id));
            Ok(Deletion {
                deleted_ids: ids,
                reclaimed_bytes: Some(10),
            })
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn old(id: &str) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "mem"),
            id,
            "exec.cachemount",
        );
        e.last_used_at = Some(now() - chrono::Duration::days(30));
        e.usage_count = Some(1);
        e.flags.insert(Flag::Stale);
        e
    }

    fn mem(
        entries: Vec<Entry>,
        answer: fn(&str) -> Result<Vec<String>, SourceError>,
    ) -> Arc<MemSource> {
        Arc::new(MemSource {
            sref: SourceRef::new(SourceKind::Docker, "mem"),
            entries: Mutex::new(entries),
            deleted: Mutex::new(vec![]),
            answer,
        })
    }

    fn exact(id: &str) -> Result<Vec<String>, SourceError> {
        Ok(vec![id.to_string()])
    }

    async fn run(src: &Arc<MemSource>, plan: &Plan) -> Outcome {
        let sources: Vec<SharedSource> = vec![src.clone()];
        execute(plan, &sources, &Policy::default(), now(), &|_| {}).await
    }

    fn stale_plan(entries: &[Entry]) -> Plan {
        let sel = Selector {
            flags: vec![Flag::Stale],
            ..Default::default()
        };
        build_plan(entries, &sel, now())
    }

    #[tokio::test]
    async fn deletes_exactly_the_planned_ids() {
        let entries = vec![old("a"), old("b")];
        let src = mem(entries.clone(), exact);
        let plan = stale_plan(&entries[..1]);
        let out = run(&src, &plan).await;
        assert_eq!(*src.deleted.lock().unwrap(), vec!["a"]);
        assert_eq!(out.deleted.len(), 1);
        assert_eq!(out.reclaimed_bytes, 10);
        assert!(out.is_clean());
    }

    #[tokio::test]
    async fn skips_what_changed_since_planning() {
        let entries = vec![old("used"), old("busy"), old("gone")];
        let plan = stale_plan(&entries);
        let mut now_used = old("used");
        now_used.last_used_at = Some(now());
        now_used.usage_count = Some(2);
        let mut now_busy = old("busy");
        now_busy.in_use = true;
        let src = mem(vec![now_used, now_busy], exact);
        let out = run(&src, &plan).await;
        assert!(src.deleted.lock().unwrap().is_empty());
        let reasons: Vec<(&str, &str)> = out
            .skipped
            .iter()
            .map(|s| (s.id.as_str(), s.reason.as_str()))
            .collect();
        assert!(reasons.contains(&("used", "used since the plan was made")));
        assert!(reasons.contains(&("busy", "in use now")));
        assert!(reasons.contains(&("gone", "gone since the plan was made")));
        // Safety skips are the plan working, not a failure.
        assert!(out.is_clean());
    }

    #[tokio::test]
    async fn an_answer_that_differs_from_the_plan_is_reported() {
        let entries = vec![old("a")];
        let plan = stale_plan(&entries);
        let src = mem(entries, |_| Ok(vec!["a".into(), "zzz".into()]));
        let out = run(&src, &plan).await;
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("zzz"));

        let entries = vec![old("a")];
        let src = mem(entries, |_| Ok(vec![]));
        let out = run(&src, &plan).await;
        assert!(out.deleted.is_empty());
        assert!(out.skipped[0].reason.contains("deleted nothing"));
        assert!(!out.is_clean());
    }

    #[tokio::test]
    async fn an_entry_the_source_finds_already_gone_is_skipped_not_failed() {
        let entries = vec![old("a"), old("b")];
        let plan = stale_plan(&entries);
        let src = mem(entries, |id| {
            if id == "a" {
                Err(SourceError::new(
                    ErrorKind::NotFound,
                    "already gone: deleted by someone else",
                ))
            } else {
                Ok(vec![id.to_string()])
            }
        });
        let out = run(&src, &plan).await;
        assert_eq!(*src.deleted.lock().unwrap(), vec!["a", "b"]);
        assert_eq!(out.deleted.len(), 1);
        assert_eq!(out.skipped[0].id, "a");
        assert!(out.skipped[0].reason.starts_with("already gone"));
        assert!(out.is_clean());
    }

    #[tokio::test]
    async fn a_source_that_vanishes_mid_prune_stops_the_rest() {
        let entries = vec![old("a"), old("b"), old("c")];
        let plan = stale_plan(&entries);
        let src = mem(entries, |id| {
            if id == "a" {
                Ok(vec!["a".into()])
            } else {
                Err(SourceError::new(
                    ErrorKind::Unreachable,
                    "connection refused",
                ))
            }
        });
        let out = run(&src, &plan).await;
        assert_eq!(out.deleted.len(), 1);
        assert_eq!(*src.deleted.lock().unwrap(), vec!["a", "b"]);
        assert!(
            out.skipped
                .iter()
                .any(|s| s.id == "c" && s.reason.contains("not attempted"))
        );
    }
}
