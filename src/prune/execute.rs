//! Carries out a plan: re-read each source, skip whatever changed since planning,
//! delete the rest one id at a time, and check each answer against the plan. A delete
//! whose answer never came is checked again by re-reading the source once it answers:
//! gone is deleted, still listed is kept, and no answer at all is "unknown".

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::plan::{Plan, PlannedItem, Skip};
use crate::model::{Entry, SourceRef};
use crate::policy::{Policy, classify};
use crate::sources::{ErrorKind, SharedSource, Source, SourceError, find};

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
    /// Planned deletions that were sent but whose result nobody could tell: the source
    /// stopped answering. Their skip reason starts with "unknown:".
    pub unknown: usize,
}

impl Outcome {
    /// Every planned deletion either happened or was skipped for safety, and every
    /// answer matched the plan.
    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty() && self.failures == 0 && self.unknown == 0
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

    fn deleted(&mut self, it: &PlannedItem, bytes: u64) {
        self.reclaimed_bytes = self.reclaimed_bytes.saturating_add(bytes);
        self.deleted.push(Deleted {
            source: it.entry.source.clone(),
            id: it.entry.id.clone(),
            bytes,
            planned: true,
        });
    }
}

/// How long to wait for a source to answer again after a delete whose answer never
/// came: re-reads after each delay in turn, all within `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recheck {
    pub delays: Vec<Duration>,
    pub limit: Duration,
}

impl Default for Recheck {
    /// Re-reads at once, then after 1, 2, 4 and 8 s (a daemon restarting), and gives up
    /// after 30 s in all.
    fn default() -> Self {
        Self {
            delays: [0, 1, 2, 4, 8].map(Duration::from_secs).to_vec(),
            limit: Duration::from_secs(30),
        }
    }
}

/// Errors after which a delete may or may not have happened.
fn answer_unknown(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::NoAnswer | ErrorKind::Malformed)
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
    execute_with(plan, sources, policy, now, on_step, &Recheck::default()).await
}

/// [`execute`] with a chosen wait for sources that stop answering.
pub async fn execute_with(
    plan: &Plan,
    sources: &[SharedSource],
    policy: &Policy,
    now: DateTime<Utc>,
    on_step: &(dyn Fn(Step<'_>) + Send + Sync),
    recheck: &Recheck,
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
        // One lookup per planned item, whatever the size of the listing.
        let fresh = by_record(&fresh);
        let mut gone_away: Option<String> = None;
        // Deletes sent whose answer never came, with why.
        let mut unanswered: Vec<(&PlannedItem, SourceError)> = Vec::new();
        for it in items {
            if let Some(why) = &gone_away {
                out.fail(it, why.clone());
                continue;
            }
            let Some(&now_entry) = fresh.get(&(&it.entry.source, it.entry.id.as_str())) else {
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
                Err(e) if answer_unknown(e.kind) => {
                    // The source went away mid-prune: stop here, keep the rest, and
                    // find out below what became of this one.
                    gone_away = Some(format!("not attempted: {sref} stopped answering"));
                    unanswered.push((it, e));
                }
                Err(e) => {
                    if matches!(e.kind, ErrorKind::Unreachable) {
                        gone_away = Some(format!("not attempted: {sref} stopped answering"));
                    }
                    out.fail(it, format!("delete failed: {e}"));
                }
            }
        }
        if !unanswered.is_empty() {
            on_step(Step::Rereading(sref));
            settle_unanswered(&mut out, source.as_ref(), sref, unanswered, recheck).await;
        }
    }
    out
}

/// Re-reads a source that stopped answering, until it answers or the wait is over, and
/// settles each delete whose answer never came: deleted when the source no longer
/// lists it, kept when it does, unknown when the source never answered again.
async fn settle_unanswered(
    out: &mut Outcome,
    source: &dyn Source,
    sref: &SourceRef,
    unanswered: Vec<(&PlannedItem, SourceError)>,
    recheck: &Recheck,
) {
    let mut last_error = None;
    let relist = async {
        for delay in &recheck.delays {
            tokio::time::sleep(*delay).await;
            match source.list().await {
                Ok(listing) => return Some(listing.entries),
                Err(e) => last_error = Some(e),
            }
        }
        None
    };
    let fresh = tokio::time::timeout(recheck.limit, relist)
        .await
        .ok()
        .flatten();
    let fresh = fresh.as_deref().map(by_record);
    for (it, e) in unanswered {
        match &fresh {
            Some(entries) if entries.contains_key(&(&it.entry.source, it.entry.id.as_str())) => out
                .fail(
                    it,
                    format!("delete failed: {e}; {sref} still lists it, so it was kept"),
                ),
            Some(_) => out.deleted(it, it.entry.effective_bytes()),
            None => {
                out.unknown += 1;
                let since = match &last_error {
                    Some(l) => format!(" ({l})"),
                    None => String::new(),
                };
                out.skipped.push(skip(
                    it,
                    format!(
                        "unknown: re-check with `cachetop report`. The delete was sent, but {e}, \
                         and {sref} did not answer again within {} s{since}",
                        recheck.limit.as_secs()
                    ),
                ));
            }
        }
    }
}

/// A listing by (source, id), the key an entry keeps across listings.
fn by_record(entries: &[Entry]) -> HashMap<(&SourceRef, &str), &Entry> {
    entries
        .iter()
        .map(|e| ((&e.source, e.id.as_str()), e))
        .collect()
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
    use crate::sources::{Deletion, Listing};
    use async_trait::async_trait;
    use chrono::TimeZone;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

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

    /// A source that loses the answer to one delete and then stops answering for a
    /// while: what a daemon restarting (or dying) mid-prune looks like from here.
    struct Dying {
        sref: SourceRef,
        entries: Mutex<Vec<Entry>>,
        /// Which delete (0-based) loses its answer, and whether it deleted first.
        lost: usize,
        lost_kind: ErrorKind,
        deletes_first: bool,
        /// After the lost answer, how many re-reads fail before one answers.
        down_for: usize,
        calls: Mutex<usize>,
        down_left: Mutex<usize>,
    }

    #[async_trait]
    impl Source for Dying {
        fn source_ref(&self) -> &SourceRef {
            &self.sref
        }
        async fn list(&self) -> Result<Listing, SourceError> {
            let mut down = self.down_left.lock().unwrap();
            if *down > 0 {
                *down -= 1;
                return Err(SourceError::new(
                    ErrorKind::Unreachable,
                    "no Docker daemon at mem: connection refused",
                ));
            }
            Ok(Listing {
                entries: self.entries.lock().unwrap().clone(),
                ..Default::default()
            })
        }
        async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
            let n = {
                let mut c = self.calls.lock().unwrap();
                *c += 1;
                *c - 1
            };
            if n != self.lost || self.deletes_first {
                self.entries.lock().unwrap().retain(|e| e.id != entry.id);
            }
            if n == self.lost {
                *self.down_left.lock().unwrap() = self.down_for;
                return Err(SourceError::new(
                    self.lost_kind,
                    "the Docker daemon at mem stopped answering /build/prune: connection reset by peer",
                ));
            }
            Ok(Deletion {
                deleted_ids: vec![entry.id.clone()],
                reclaimed_bytes: Some(10),
            })
        }
    }

    fn dying(lost: usize, deletes_first: bool, down_for: usize) -> (Arc<Dying>, Plan) {
        let entries: Vec<Entry> = ["a", "b", "c", "d", "e"].map(old).to_vec();
        let plan = stale_plan(&entries);
        let src = Arc::new(Dying {
            sref: SourceRef::new(SourceKind::Docker, "mem"),
            entries: Mutex::new(entries),
            lost,
            lost_kind: ErrorKind::NoAnswer,
            deletes_first,
            down_for,
            calls: Mutex::new(0),
            down_left: Mutex::new(0),
        });
        (src, plan)
    }

    async fn run_dying(src: &Arc<Dying>, plan: &Plan) -> Outcome {
        let sources: Vec<SharedSource> = vec![src.clone()];
        let recheck = Recheck {
            delays: vec![Duration::ZERO; 4],
            limit: Duration::from_secs(10),
        };
        execute_with(plan, &sources, &Policy::default(), now(), &|_| {}, &recheck).await
    }

    /// The ids the outcome calls deleted, and those really gone from the source.
    fn reported_and_gone(src: &Dying, out: &Outcome) -> (Vec<String>, Vec<String>) {
        let mut reported: Vec<String> = out.deleted.iter().map(|d| d.id.clone()).collect();
        reported.sort();
        let left = src.entries.lock().unwrap();
        let gone = ["a", "b", "c", "d", "e"]
            .iter()
            .filter(|id| !left.iter().any(|e| e.id == **id))
            .map(|id| id.to_string())
            .collect();
        (reported, gone)
    }

    #[tokio::test]
    async fn a_delete_whose_answer_was_lost_is_deleted_when_the_source_no_longer_lists_it() {
        let (src, plan) = dying(2, true, 2);
        let out = run_dying(&src, &plan).await;
        let (reported, gone) = reported_and_gone(&src, &out);
        assert_eq!(reported, vec!["a", "b", "c"]);
        assert_eq!(
            reported, gone,
            "the outcome must count exactly what is gone"
        );
        assert_eq!(out.unknown, 0);
        assert_eq!(out.reclaimed_bytes, 20 + old("c").effective_bytes());
        // d and e were never sent: kept, and said so.
        let late = out.late_skips(&plan);
        assert_eq!(late.len(), 2);
        assert!(late.iter().all(|s| s.reason.contains("not attempted")));
        assert!(!out.skipped.iter().any(|s| s.id == "c"));
    }

    #[tokio::test]
    async fn a_delete_whose_answer_was_lost_is_kept_when_the_source_still_lists_it() {
        let (src, plan) = dying(2, false, 0);
        let out = run_dying(&src, &plan).await;
        let (reported, gone) = reported_and_gone(&src, &out);
        assert_eq!(reported, gone);
        assert_eq!(reported, vec!["a", "b"]);
        let c = out.skipped.iter().find(|s| s.id == "c").unwrap();
        assert!(c.reason.starts_with("delete failed"), "{}", c.reason);
        assert!(
            c.reason.contains("still lists it, so it was kept"),
            "{}",
            c.reason
        );
        assert_eq!(out.failures, 3);
    }

    #[tokio::test]
    async fn a_source_that_never_answers_again_leaves_the_delete_unknown_not_failed() {
        let (src, plan) = dying(2, true, usize::MAX);
        let out = run_dying(&src, &plan).await;
        let (reported, _) = reported_and_gone(&src, &out);
        assert_eq!(reported, vec!["a", "b"]);
        let c = out.skipped.iter().find(|s| s.id == "c").unwrap();
        assert!(
            c.reason
                .starts_with("unknown: re-check with `cachetop report`"),
            "{}",
            c.reason
        );
        assert!(!c.reason.contains("delete failed"), "{}", c.reason);
        assert!(c.reason.contains("connection refused"), "{}", c.reason);
        assert_eq!(out.unknown, 1);
        assert_eq!(out.failures, 2, "only the two never sent failed");
        assert!(!out.is_clean());
    }

    #[tokio::test]
    async fn a_garbled_answer_is_checked_like_a_lost_one() {
        let entries: Vec<Entry> = ["a", "b", "c", "d", "e"].map(old).to_vec();
        let plan = stale_plan(&entries);
        let src = Arc::new(Dying {
            sref: SourceRef::new(SourceKind::Docker, "mem"),
            entries: Mutex::new(entries),
            lost: 0,
            lost_kind: ErrorKind::Malformed,
            deletes_first: true,
            down_for: 0,
            calls: Mutex::new(0),
            down_left: Mutex::new(0),
        });
        let out = run_dying(&src, &plan).await;
        let (reported, gone) = reported_and_gone(&src, &out);
        assert_eq!(reported, vec!["a"]);
        assert_eq!(reported, gone);
    }

    #[tokio::test]
    async fn the_wait_for_a_source_to_come_back_is_bounded() {
        let (src, plan) = dying(0, true, usize::MAX);
        let sources: Vec<SharedSource> = vec![src.clone()];
        let recheck = Recheck {
            delays: vec![Duration::from_secs(3600)],
            limit: Duration::from_millis(200),
        };
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            execute_with(
                &plan,
                &sources,
                &Policy::default(),
                now(),
                &|_| {},
                &recheck,
            ),
        )
        .await
        .expect("the re-check did not end within its limit");
        assert_eq!(out.unknown, 1);
        assert!(Recheck::default().limit <= Duration::from_secs(30));
    }
}
