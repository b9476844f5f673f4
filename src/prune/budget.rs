//! Budgets: `--max-used SIZE` and `--keep-free SIZE|PCT%` pick, from what the other
//! selectors chose and the planner found deletable, the least recently used entries
//! until the budget is met. Pure: the filesystems' figures come in as values.
//!
//! Order: last use, oldest first (an entry never used counts by its creation time;
//! one with neither comes last); ties by size, largest first; then by id. A parent
//! record becomes a choice only once every child record it has is chosen (BuildKit
//! deletes a parent only with its children), so the plan stays children first.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

use chrono::{DateTime, Utc};

use super::planner::{Plan, PlannedItem};
use super::selector::Selector;
use crate::filesystems::Disks;
use crate::model::{Entry, SourceRef};
use crate::plan::Item;
use crate::policy::idle_for;
use crate::units::{format_size, format_span};

/// A free-space floor: bytes, or hundredths of a percent of the filesystem's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Floor {
    Bytes(u64),
    /// 1250 is 12.5%.
    Percent(u32),
}

impl Floor {
    /// The floor in bytes on a filesystem of `size` bytes.
    pub fn bytes_of(self, size: u64) -> u64 {
        match self {
            Floor::Bytes(b) => b,
            Floor::Percent(p) => {
                let b = u128::from(size) * u128::from(p.min(10_000)) / 10_000;
                u64::try_from(b).unwrap_or(u64::MAX)
            }
        }
    }

    /// Parses `10GB`, `10GiB`, `500MB` or `15%` (`12.5%`; at most 100%).
    pub fn parse(s: &str) -> Result<Floor, String> {
        let t = s.trim();
        let Some(pct) = t.strip_suffix('%') else {
            return crate::units::parse_size(t)
                .map(Floor::Bytes)
                .map_err(|e| e.to_string());
        };
        let bad = || format!("invalid percentage {s:?}: use e.g. 15% or 12.5% (0 to 100)");
        let (whole, frac) = pct.trim().split_once('.').unwrap_or((pct.trim(), ""));
        if whole.is_empty()
            || frac.len() > 2
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || whole.len() > 3
        {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let frac: u32 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        let hundredths = whole * 100 + frac;
        if hundredths > 10_000 {
            return Err(bad());
        }
        Ok(Floor::Percent(hundredths))
    }
}

impl std::fmt::Display for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Floor::Bytes(b) => f.write_str(&format_size(*b)),
            Floor::Percent(p) if p % 100 == 0 => write!(f, "{}%", p / 100),
            Floor::Percent(p) => write!(f, "{}.{:02}%", p / 100, p % 100),
        }
    }
}

/// What to keep within. Both may be given: an entry goes while either is unmet and
/// it helps that one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budget {
    pub max_used: Option<u64>,
    pub keep_free: Option<Floor>,
}

impl Budget {
    pub fn is_empty(&self) -> bool {
        self.max_used.is_none() && self.keep_free.is_none()
    }
}

/// One filesystem's figures, as the budget sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsFigures {
    pub mount_point: String,
    pub size_bytes: u64,
    pub free_bytes: u64,
}

/// How `--max-used` came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsedOutcome {
    pub limit_bytes: u64,
    /// Every candidate the selectors chose, deletable or not.
    pub before_bytes: u64,
    pub after_bytes: u64,
}

impl UsedOutcome {
    pub fn met(&self) -> bool {
        self.after_bytes <= self.limit_bytes
    }
}

/// How `--keep-free` came out on one filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeOutcome {
    pub mount_point: String,
    pub size_bytes: u64,
    pub floor_bytes: u64,
    pub free_before_bytes: u64,
    /// Projected: free before plus what the plan deletes there.
    pub free_after_bytes: u64,
    /// Bytes of candidates there.
    pub used_before_bytes: u64,
    pub used_after_bytes: u64,
}

impl FreeOutcome {
    pub fn met(&self) -> bool {
        self.free_after_bytes >= self.floor_bytes
    }
}

/// The budget's part of a plan: the targets, the projected result, and why it
/// cannot be met when it cannot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BudgetOutcome {
    pub budget: Budget,
    pub max_used: Option<UsedOutcome>,
    pub keep_free: Vec<FreeOutcome>,
    /// One line per unmet budget, saying what stands in the way.
    pub unmet: Vec<String>,
}

/// Narrows `base` (the plan of what the selectors chose) to the least recently used
/// entries that meet `budget`.
///
/// `candidates` are every entry the selectors chose (deletable or not: what stays
/// counts against `--max-used`); `all` is every entry (for parent links); `fs_of`
/// names the filesystem (an index into `filesystems`) that holds an entry's data.
pub fn apply(
    base: Plan,
    candidates: &[&Entry],
    all: &[Entry],
    budget: Budget,
    filesystems: &[FsFigures],
    fs_of: impl Fn(&Entry) -> Option<usize>,
    now: DateTime<Utc>,
) -> (Plan, BudgetOutcome) {
    let items = base.items;
    let before_bytes: u64 = candidates.iter().map(|e| e.effective_bytes()).sum();
    let mut over = budget
        .max_used
        .map(|limit| before_bytes.saturating_sub(limit));
    // What each filesystem still lacks to reach its floor.
    let floors: Vec<u64> = filesystems
        .iter()
        .map(|f| budget.keep_free.map_or(0, |fl| fl.bytes_of(f.size_bytes)))
        .collect();
    let mut short: Vec<u64> = filesystems
        .iter()
        .zip(&floors)
        .map(|(f, floor)| {
            if budget.keep_free.is_some() {
                floor.saturating_sub(f.free_bytes)
            } else {
                0
            }
        })
        .collect();
    let mut freed_on = vec![0u64; filesystems.len()];
    let mut used_on = vec![0u64; filesystems.len()];
    for e in candidates {
        if let Some(i) = fs_of(e).filter(|&i| i < filesystems.len()) {
            used_on[i] = used_on[i].saturating_add(e.effective_bytes());
        }
    }

    let fs: Vec<Option<usize>> = items
        .iter()
        .map(|it| fs_of(&it.entry).filter(|&i| i < filesystems.len()))
        .collect();
    let mut order = Eligible::new(&items, all);
    let mut chosen: Vec<PlannedItem> = Vec::new();
    let mut slots: Vec<Option<PlannedItem>> = items.into_iter().map(Some).collect();
    while let Some(i) = order.pop() {
        let Some(item) = slots[i].take() else {
            continue;
        };
        let bytes = item.bytes();
        let fs_short = fs[i].map_or(0, |f| short[f]);
        let over_now = over.unwrap_or(0);
        if over_now == 0 && fs_short == 0 {
            // Not needed by any budget; its parents can only go after it, so they
            // stay too (they never become eligible).
            continue;
        }
        let mut reason = lru_reason(&item.entry, bytes, now);
        if over_now > 0 {
            reason.push_str(&format!(
                "; {} over budget before it",
                format_size(over_now)
            ));
        }
        if fs_short > 0
            && let Some(f) = fs[i]
        {
            reason.push_str(&format!(
                "; {} short of the free-space floor on {} before it",
                format_size(fs_short),
                filesystems[f].mount_point
            ));
        }
        over = over.map(|o| o.saturating_sub(bytes));
        if let Some(f) = fs[i] {
            short[f] = short[f].saturating_sub(bytes);
            freed_on[f] = freed_on[f].saturating_add(bytes);
        }
        let mut item = item;
        item.reasons.push(reason);
        chosen.push(item);
        order.chose(i);
    }

    let planned_bytes: u64 = chosen.iter().map(Item::bytes).sum();
    let mut outcome = BudgetOutcome {
        budget,
        ..Default::default()
    };
    if let Some(limit) = budget.max_used {
        let used = UsedOutcome {
            limit_bytes: limit,
            before_bytes,
            after_bytes: before_bytes.saturating_sub(planned_bytes),
        };
        if !used.met() {
            outcome.unmet.push(format!(
                "--max-used {} cannot be met: {} remain after deleting every deletable \
                 candidate; the rest is in use, shared, or kept for the reason listed",
                format_size(limit),
                format_size(used.after_bytes)
            ));
        }
        outcome.max_used = Some(used);
    }
    if let Some(floor) = budget.keep_free {
        for (i, f) in filesystems.iter().enumerate() {
            let free_after = f.free_bytes.saturating_add(freed_on[i]);
            let o = FreeOutcome {
                mount_point: f.mount_point.clone(),
                size_bytes: f.size_bytes,
                floor_bytes: floors[i],
                free_before_bytes: f.free_bytes,
                free_after_bytes: free_after,
                used_before_bytes: used_on[i],
                used_after_bytes: used_on[i].saturating_sub(freed_on[i]),
            };
            if !o.met() {
                outcome.unmet.push(format!(
                    "--keep-free {floor} cannot be met on {}: {} free after deleting every \
                     deletable candidate there, {} wanted; the rest is in use, shared, kept \
                     for the reason listed, or not a cache",
                    f.mount_point,
                    format_size(free_after),
                    format_size(floors[i])
                ));
            }
            outcome.keep_free.push(o);
        }
    }
    let plan = Plan {
        items: chosen,
        skipped: base.skipped,
    };
    (plan, outcome)
}

/// [`apply`] to the plan of what `selector` chose among `entries`, judged against the
/// filesystems of `disks` (read by the caller): what `prune` and the screen's `B` share.
pub fn narrow(
    plan: Plan,
    entries: &[Entry],
    selector: &Selector,
    budget: Budget,
    disks: &Disks,
    now: DateTime<Utc>,
) -> (Plan, BudgetOutcome) {
    let figures: Vec<FsFigures> = disks
        .filesystems
        .iter()
        .map(|f| FsFigures {
            mount_point: f.mount_point.to_string_lossy().into_owned(),
            size_bytes: f.usage.size_bytes,
            free_bytes: f.usage.free_bytes,
        })
        .collect();
    let candidates: Vec<&Entry> = entries
        .iter()
        .filter(|e| selector.reasons(e, now).is_some())
        .collect();
    apply(
        plan,
        &candidates,
        entries,
        budget,
        &figures,
        |e| disks.of_entry(e),
        now,
    )
}

/// "least recently used: 41d; frees 3.1 GB"
fn lru_reason(e: &Entry, bytes: u64, now: DateTime<Utc>) -> String {
    let when = match (e.last_used_at, e.created_at) {
        (Some(t), _) => format!(
            "least recently used: {}",
            format_span(idle_for(t, now).as_secs() as i64)
        ),
        (None, Some(t)) => format!(
            "least recently used: never used, created {} ago",
            format_span(idle_for(t, now).as_secs() as i64)
        ),
        (None, None) => "least recently used: last use unknown".to_string(),
    };
    format!("{when}; frees {}", format_size(bytes))
}

/// The LRU key: a known time first (oldest first), then size largest first, then id.
#[derive(PartialEq, Eq)]
struct Key {
    unknown: bool,
    at: Option<DateTime<Utc>>,
    size: Reverse<u64>,
    id: String,
    index: usize,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.unknown, self.at, &self.size, &self.id, self.index).cmp(&(
            other.unknown,
            other.at,
            &other.size,
            &other.id,
            other.index,
        ))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The deletable items in LRU order, each offered once every child record it has
/// is chosen.
struct Eligible {
    heap: BinaryHeap<Reverse<Key>>,
    keys: Vec<Option<Key>>,
    /// Children not chosen yet, per item.
    waiting: Vec<usize>,
    /// The items that are a planned item's parents.
    parents_of: Vec<Vec<usize>>,
}

impl Eligible {
    fn new(items: &[PlannedItem], all: &[Entry]) -> Self {
        let index: HashMap<(&SourceRef, &str), usize> = items
            .iter()
            .enumerate()
            .map(|(i, it)| ((&it.entry.source, it.entry.id.as_str()), i))
            .collect();
        let mut waiting = vec![0usize; items.len()];
        // Every child the entry has among all entries: one that is not a
        // deletable item never goes, so its parent never becomes a choice.
        for e in all {
            for p in e.origin.parents() {
                if let Some(&pi) = index.get(&(&e.source, p.as_str())) {
                    waiting[pi] += 1;
                }
            }
        }
        let parents_of: Vec<Vec<usize>> = items
            .iter()
            .map(|it| {
                it.entry
                    .origin
                    .parents()
                    .iter()
                    .filter_map(|p| index.get(&(&it.entry.source, p.as_str())).copied())
                    .collect()
            })
            .collect();
        let mut keys: Vec<Option<Key>> = items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let at = it.entry.last_activity();
                Some(Key {
                    unknown: at.is_none(),
                    at,
                    size: Reverse(it.bytes()),
                    id: it.entry.id.clone(),
                    index: i,
                })
            })
            .collect();
        let mut heap = BinaryHeap::new();
        for (i, w) in waiting.iter().enumerate() {
            if *w == 0
                && let Some(k) = keys[i].take()
            {
                heap.push(Reverse(k));
            }
        }
        Self {
            heap,
            keys,
            waiting,
            parents_of,
        }
    }

    fn pop(&mut self) -> Option<usize> {
        self.heap.pop().map(|Reverse(k)| k.index)
    }

    /// Item `i` is chosen: its parents wait for one child less.
    fn chose(&mut self, i: usize) {
        for &p in &self.parents_of[i] {
            self.waiting[p] = self.waiting[p].saturating_sub(1);
            if self.waiting[p] == 0
                && let Some(k) = self.keys[p].take()
            {
                self.heap.push(Reverse(k));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Origin, SourceKind};
    use crate::prune::build_plan_with;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn rec(id: &str, days: i64, size: u64) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///d"),
            id,
            "regular",
        );
        e.size_bytes = size;
        e.last_used_at = Some(now() - chrono::Duration::days(days));
        e
    }

    fn run(entries: &[Entry], budget: Budget, fs: &[FsFigures]) -> (Plan, BudgetOutcome) {
        let base = build_plan_with(entries, |_| Some(Vec::new()));
        let cands: Vec<&Entry> = entries.iter().collect();
        apply(base, &cands, entries, budget, fs, |_| Some(0), now())
    }

    fn ids(p: &Plan) -> Vec<&str> {
        p.items.iter().map(|i| i.entry.id.as_str()).collect()
    }

    fn max_used(b: u64) -> Budget {
        Budget {
            max_used: Some(b),
            keep_free: None,
        }
    }

    #[test]
    fn max_used_deletes_the_least_recently_used_until_the_rest_fits() {
        let entries = [rec("new", 1, 100), rec("old", 41, 300), rec("mid", 10, 200)];
        let (plan, out) = run(&entries, max_used(350), &[]);
        assert_eq!(ids(&plan), vec!["old"], "600 - 300 = 300 fits in 350");
        assert_eq!(
            plan.items[0].reasons,
            vec!["least recently used: 41d; frees 300 B; 250 B over budget before it"]
        );
        let used = out.max_used.unwrap();
        assert_eq!((used.before_bytes, used.after_bytes), (600, 300));
        assert!(out.unmet.is_empty());
        let (plan, _) = run(&entries, max_used(299), &[]);
        assert_eq!(ids(&plan), vec!["old", "mid"]);
    }

    #[test]
    fn ties_go_largest_first_and_never_used_counts_by_creation() {
        let mut never = rec("never", 0, 10);
        never.last_used_at = None;
        never.created_at = Some(now() - chrono::Duration::days(50));
        let mut unknown = rec("unknown", 0, 1000);
        unknown.last_used_at = None;
        let entries = [rec("small", 20, 10), rec("big", 20, 20), never, unknown];
        let (plan, _) = run(&entries, max_used(0), &[]);
        assert_eq!(ids(&plan), vec!["never", "big", "small", "unknown"]);
        assert!(plan.items[0].reasons[0].contains("never used, created 50d ago"));
    }

    #[test]
    fn what_cannot_go_counts_and_the_plan_says_the_budget_is_unmet() {
        let mut busy = rec("busy", 90, 500);
        busy.in_use = true;
        let entries = [busy, rec("old", 30, 100)];
        let (plan, out) = run(&entries, max_used(200), &[]);
        assert_eq!(ids(&plan), vec!["old"]);
        assert_eq!(plan.skipped[0].id, "busy");
        assert_eq!(out.max_used.unwrap().after_bytes, 500);
        assert!(out.unmet[0].contains("cannot be met"), "{:?}", out.unmet);
    }

    #[test]
    fn a_parent_goes_only_after_its_children() {
        let mut child = rec("child", 1, 10);
        child.origin = Origin::Docker {
            parents: vec!["parent".into()],
        };
        let entries = [rec("parent", 90, 10), child, rec("other", 50, 10)];
        let (plan, _) = run(&entries, max_used(0), &[]);
        assert_eq!(ids(&plan), vec!["other", "child", "parent"]);
        let (plan, _) = run(&entries, max_used(20), &[]);
        assert_eq!(
            ids(&plan),
            vec!["other"],
            "the old parent waits for its child"
        );
    }

    #[test]
    fn keep_free_judges_each_filesystem_on_its_own() {
        let fs = [
            FsFigures {
                mount_point: "/full".into(),
                size_bytes: 1000,
                free_bytes: 50,
            },
            FsFigures {
                mount_point: "/roomy".into(),
                size_bytes: 1000,
                free_bytes: 900,
            },
        ];
        let mut on_roomy = rec("roomy-old", 99, 100);
        on_roomy.id = "roomy-old".into();
        let entries = [
            rec("a", 10, 100),
            rec("b", 20, 100),
            rec("c", 30, 100),
            on_roomy,
        ];
        let base = build_plan_with(&entries, |_| Some(Vec::new()));
        let cands: Vec<&Entry> = entries.iter().collect();
        let budget = Budget {
            max_used: None,
            keep_free: Some(Floor::Percent(2000)),
        };
        let fs_of = |e: &Entry| Some(usize::from(e.id.starts_with("roomy")));
        let (plan, out) = apply(base, &cands, &entries, budget, &fs, fs_of, now());
        assert_eq!(ids(&plan), vec!["c", "b"], "150 short of 200 on /full");
        assert!(
            plan.items[0].reasons[0]
                .ends_with("150 B short of the free-space floor on /full before it")
        );
        assert_eq!(out.keep_free[0].free_after_bytes, 250);
        assert_eq!(out.keep_free[1].free_after_bytes, 900);
        assert!(out.unmet.is_empty());
    }

    #[test]
    fn floors_parse_sizes_and_percentages() {
        assert_eq!(Floor::parse("10GB"), Ok(Floor::Bytes(10_000_000_000)));
        assert_eq!(Floor::parse("10GiB"), Ok(Floor::Bytes(10 << 30)));
        assert_eq!(Floor::parse("500MB"), Ok(Floor::Bytes(500_000_000)));
        assert_eq!(Floor::parse("15%"), Ok(Floor::Percent(1500)));
        assert_eq!(Floor::parse("12.5%"), Ok(Floor::Percent(1250)));
        for bad in ["101%", "%", "1.234%", "-5%", "ten%", "x"] {
            assert!(Floor::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Floor::Percent(1250).bytes_of(1000), 125);
        assert_eq!(Floor::Percent(1250).to_string(), "12.50%");
        assert_eq!(Floor::Percent(1500).to_string(), "15%");
    }
}
