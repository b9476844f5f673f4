//! A prune plan and its outcome for people (text) and for programs
//! (`cachetop.prune.v1`, assets/prune.schema.json).

use std::fmt::Write;

use serde::Serialize;

use super::run::{EntryHead, RunDoc, render_commands, render_skips, render_warnings};
use super::table::{truncate, what_cell};
use crate::plan::{Outcome, Skip};
use crate::prune::{NO_SUCH_ID, Plan, PlannedItem};
use crate::terminal_text::escape;
use crate::units::{format_size, plural};

pub const PRUNE_SCHEMA: &str = "cachetop.prune.v1";

/// The plan, printed identically by a dry run and a real run.
pub fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("Nothing to delete: no deletable entry matches.\n");
    } else {
        let _ = writeln!(
            out,
            "Plan: delete {}, {}",
            plural(plan.items.len(), "entry", "entries"),
            format_size(plan.total_bytes())
        );
        for it in &plan.items {
            let e = &it.entry;
            let _ = writeln!(
                out,
                "  {} {}  {}  {}  {}",
                e.source.kind,
                escape(&e.id),
                escape(&e.kind),
                format_size(e.effective_bytes()),
                truncate(&what_cell(e), 80)
            );
            let _ = writeln!(out, "      because: {}", escape(&it.reasons.join("; ")));
        }
    }
    let (unknown, kept): (Vec<Skip>, Vec<Skip>) = plan
        .skipped
        .iter()
        .cloned()
        .partition(|s| s.source.is_none());
    if !unknown.is_empty() {
        out.push_str("Not found:\n");
        for s in &unknown {
            let _ = writeln!(out, "  {}: {NO_SUCH_ID}", escape(&s.id));
        }
    }
    render_skips(&mut out, "Kept:", &kept);
    render_commands(&mut out, &plan.equivalent_commands());
    out
}

/// What a real run did, beyond the plan: deletions, skips made at run time, warnings.
pub fn render_outcome(plan: &Plan, outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Deleted {} of {} planned, reclaimed {}.",
        outcome.planned_done(),
        plan.items.len(),
        format_size(outcome.reclaimed_bytes)
    );
    render_skips(&mut out, "Not deleted:", outcome.late_skips(plan));
    render_warnings(&mut out, &outcome.warnings);
    out
}

#[derive(Serialize)]
pub struct PlannedDoc<'a> {
    #[serde(flatten)]
    pub entry: EntryHead<'a>,
    pub size_bytes: u64,
    pub reasons: &'a [String],
}

#[derive(Serialize)]
pub struct DeletedDoc<'a> {
    pub source: &'static str,
    pub id: &'a str,
}

#[derive(Serialize)]
pub struct SkippedDoc<'a> {
    pub id: &'a str,
    pub reason: &'a str,
}

pub type PruneDoc<'a> = RunDoc<'a, PlannedDoc<'a>, DeletedDoc<'a>, SkippedDoc<'a>>;

/// The prune document; `outcome` is `None` for a dry run (nothing deleted).
pub fn prune_doc<'a>(plan: &'a Plan, outcome: Option<&'a Outcome>) -> PruneDoc<'a> {
    RunDoc::of(
        PRUNE_SCHEMA,
        "deleted",
        plan,
        outcome,
        |i: &'a PlannedItem| PlannedDoc {
            entry: EntryHead::of(&i.entry),
            size_bytes: i.entry.effective_bytes(),
            reasons: &i.reasons,
        },
        |d| DeletedDoc {
            source: d.source.kind.as_str(),
            id: &d.id,
        },
        |s| SkippedDoc {
            id: &s.id,
            reason: &s.reason,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Entry, Finding, Mount, SourceKind, SourceRef};
    use crate::prune::{Selector, build_plan};
    use crate::report::table::render_findings;
    use chrono::{TimeZone, Utc};

    const HOSTILE: &str = "\x1b]0;t\x07\u{9b}2J\u{202e}";

    fn inert(s: &str) -> bool {
        !s.chars()
            .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c))
    }

    fn hostile_entry() -> Entry {
        let src = SourceRef::new(SourceKind::Docker, format!("unix:///{HOSTILE}.sock"));
        let mut e = Entry::new(src, format!("id{HOSTILE}"), format!("kind{HOSTILE}"));
        e.description = format!("d{HOSTILE}");
        e.mount = Some(Mount {
            target: format!("/t{HOSTILE}"),
            cache_id: None,
            command: format!("sh -c {HOSTILE}"),
        });
        e.findings.push(Finding {
            kind: crate::model::FindingKind::CargoPartialExtraction,
            path: format!("p{HOSTILE}"),
            detail: format!("why{HOSTILE}"),
            bytes: 1,
        });
        e
    }

    #[test]
    fn plans_and_outcomes_show_text_from_outside_escaped() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let e = hostile_entry();
        let selector = Selector {
            ids: vec![e.id.clone(), format!("gone{HOSTILE}")],
            ..Default::default()
        };
        let mut plan = build_plan(std::slice::from_ref(&e), &selector, now);
        assert_eq!(plan.items.len(), 1);
        plan.skipped.push(Skip::entry(&e, format!("r{HOSTILE}")));
        let text = render_plan(&plan);
        assert!(inert(&text), "{text:?}");
        assert!(text.contains(r"id\x1b]0;t\x07\u{9b}2J\u{202e}"), "{text}");
        assert!(text.contains(r"gone\x1b]0;t\x07"), "{text}");
        assert!(text.contains("-H $'unix:///"), "commands re-quoted: {text}");

        let outcome = Outcome {
            warnings: vec![format!("w{HOSTILE}")],
            skipped: vec![Skip::entry(&e, format!("late{HOSTILE}"))],
            ..Default::default()
        };
        let text = render_outcome(&plan, &outcome);
        assert!(inert(&text), "{text:?}");
        assert!(text.contains(r"warning: w\x1b]0;t\x07"), "{text}");

        let text = render_findings(&[e]);
        assert!(inert(&text), "{text:?}");
        assert!(text.contains(r"p\x1b]0;t\x07"), "{text}");
    }
}
