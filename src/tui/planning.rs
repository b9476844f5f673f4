//! Plans for `d`, `E` and `B`, built from a snapshot of the entries. Pure, but a plan of
//! 100,000 entries takes long enough to freeze the screen, so the session runs it on
//! a blocking thread and the dialog opens when it is ready.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::filesystems::Disks;
use crate::model::{Entry, Flag, SourceRef};
use crate::prune::budget as prune_budget;
use crate::prune::selector::flag_reason;
use crate::prune::{
    Budget, BudgetOutcome, Plan, Selector, build_plan, build_plan_with, stale_eviction,
};
use crate::report::prune::render_budget;
use crate::tui::listing::Key;
use crate::tui::text::{self, TextLine, Tone};
use crate::units::{format_size, plural};

#[derive(Clone, Debug)]
pub enum Ask {
    /// Exactly these entries; `why` ("marked", "selected") leads their reasons.
    Delete { keys: Vec<Key>, why: &'static str },
    /// Every stale entry, as `prune --stale` picks them.
    EvictStale,
    /// The least recently used entries until the config file's budget is met, as
    /// `prune --budget` picks them, judged against the disks read last.
    Budget { budget: Budget, disks: Arc<Disks> },
}

#[derive(Clone, Debug)]
pub struct PlanRequest {
    pub ask: Ask,
    pub entries: Arc<Vec<Entry>>,
    pub now: DateTime<Utc>,
}

/// A plan with the dialog's title and text.
#[derive(Clone, Debug)]
pub struct Planned {
    pub title: String,
    pub plan: Plan,
    pub lines: Vec<TextLine>,
}

fn count(n: usize) -> String {
    plural(n, "entry", "entries")
}

pub fn plan(req: &PlanRequest) -> Planned {
    let mut budget_lines = Vec::new();
    let (plan, title) = match &req.ask {
        Ask::Delete { keys, why } => {
            let plan = plan_keys(&req.entries, keys, why, req.now);
            let title = format!(
                "Delete {}, {}?",
                count(plan.items.len()),
                format_size(plan.total_bytes())
            );
            (plan, title)
        }
        Ask::EvictStale => {
            let plan = build_plan(&req.entries, &stale_eviction(), req.now);
            let title = format!(
                "Evict {}, {}?",
                plural(plan.items.len(), "stale entry", "stale entries"),
                format_size(plan.total_bytes())
            );
            (plan, title)
        }
        Ask::Budget { budget, disks } => {
            let every = Selector::default();
            let base = build_plan(&req.entries, &every, req.now);
            let (plan, outcome) =
                prune_budget::narrow(base, &req.entries, &every, *budget, disks, req.now);
            budget_lines = budget_text(&outcome, disks);
            let title = format!(
                "Evict {}, {}, to meet the budget?",
                plural(
                    plan.items.len(),
                    "least recently used entry",
                    "least recently used entries"
                ),
                format_size(plan.total_bytes())
            );
            (plan, title)
        }
    };
    let mut lines = if plan.is_empty() {
        text::nothing_to_delete(&plan)
    } else {
        text::plan_lines(&plan, &plan.equivalent_commands())
    };
    lines.extend(budget_lines);
    Planned { title, plan, lines }
}

/// The budget's targets and projected result, as `prune --budget` prints them.
fn budget_text(outcome: &BudgetOutcome, disks: &Disks) -> Vec<TextLine> {
    let mut out = vec![TextLine::new(Tone::Plain, String::new())];
    if outcome.budget.keep_free.is_some() && disks.filesystems.is_empty() {
        out.push(TextLine::new(
            Tone::Warn,
            "No filesystem was read, so keep_free is not judged (the header says why).",
        ));
    }
    for line in render_budget(outcome).lines() {
        let tone = if line.contains("not met") {
            Tone::Warn
        } else {
            Tone::Plain
        };
        out.push(TextLine::new(tone, line));
    }
    out
}

/// Exactly the entries named by `keys`, with every rule of `build_plan` applied.
fn plan_keys(entries: &[Entry], keys: &[Key], why: &str, now: DateTime<Utc>) -> Plan {
    let wanted: HashSet<(&SourceRef, &str)> = keys.iter().map(|(s, id)| (s, id.as_str())).collect();
    // Most entries are not wanted, and their id alone says so: compared directly for a
    // few keys, hashed for many.
    let ids: HashSet<&str> = keys.iter().map(|(_, id)| id.as_str()).collect();
    let is_wanted = |e: &Entry| {
        if keys.len() <= 16 {
            keys.iter().any(|(s, id)| *id == e.id && *s == e.source)
        } else {
            ids.contains(e.id.as_str()) && wanted.contains(&(&e.source, e.id.as_str()))
        }
    };
    build_plan_with(entries, |e| {
        if !is_wanted(e) {
            return None;
        }
        let mut reasons = vec![why.to_string()];
        reasons.extend(
            e.flags
                .iter()
                .filter(|f| matches!(f, Flag::Stale | Flag::Partial | Flag::Orphaned))
                .map(|f| flag_reason(*f, e, now)),
        );
        Some(reasons)
    })
}
