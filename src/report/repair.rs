//! A repair plan and its outcome for people (text) and for programs
//! (`cachetop.repair.v1`, assets/repair.schema.json).

use std::fmt::Write;

use serde::Serialize;

use super::json::{FindingDoc, finding_doc};
use super::run::{EntryHead, RunDoc, render_commands, render_skips, render_warnings};
use super::table::truncate;
use crate::plan::{Item, Outcome};
use crate::repair::{RepairItem, RepairPlan};
use crate::terminal_text::escape;
use crate::units::{format_size, plural};

pub const REPAIR_SCHEMA: &str = "cachetop.repair.v1";

/// The plan, printed identically by a dry run and a real run.
pub fn render_plan(plan: &RepairPlan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        out.push_str("Nothing to repair.\n");
    } else {
        let _ = writeln!(
            out,
            "Plan: remove {} from {}, {}",
            plural(plan.part_count(), "broken part", "broken parts"),
            plural(plan.items.len(), "entry", "entries"),
            format_size(plan.total_bytes())
        );
        for it in &plan.items {
            let e = &it.entry;
            let _ = writeln!(
                out,
                "  {} {}  {}  (content {})",
                e.source.kind,
                escape(&e.id),
                truncate(&escape(e.label()), 60),
                escape(it.content_path())
            );
            for p in &it.parts {
                let _ = writeln!(
                    out,
                    "    {}  {}  {}",
                    escape(p.kind.as_str()),
                    escape(&p.path),
                    format_size(p.bytes)
                );
                let _ = writeln!(out, "        {}", escape(&p.detail));
            }
        }
    }
    render_skips(&mut out, "Kept:", &plan.skipped);
    render_commands(&mut out, &plan.equivalent_commands());
    out
}

/// What a real run did beyond the plan.
pub fn render_outcome(plan: &RepairPlan, outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Removed {} of {} planned parts, reclaimed {}.",
        outcome.done.len(),
        plan.part_count(),
        format_size(outcome.reclaimed_bytes)
    );
    render_skips(&mut out, "Not removed:", outcome.late_skips(plan));
    render_warnings(&mut out, &outcome.warnings);
    out
}

#[derive(Serialize)]
pub struct PlannedDoc<'a> {
    #[serde(flatten)]
    pub entry: EntryHead<'a>,
    pub content_path: &'a str,
    pub bytes: u64,
    /// Each part as its finding, in the report's shape.
    pub parts: Vec<FindingDoc<'a>>,
}

#[derive(Serialize)]
pub struct RemovedDoc<'a> {
    pub source: &'static str,
    pub id: &'a str,
    pub path: &'a str,
    pub bytes: u64,
}

#[derive(Serialize)]
pub struct SkippedDoc<'a> {
    pub source: Option<&'static str>,
    pub id: &'a str,
    pub path: Option<&'a str>,
    pub reason: &'a str,
}

pub type RepairDoc<'a> = RunDoc<'a, PlannedDoc<'a>, RemovedDoc<'a>, SkippedDoc<'a>>;

/// The repair document; `outcome` is `None` when nothing was attempted.
pub fn repair_doc<'a>(plan: &'a RepairPlan, outcome: Option<&'a Outcome>) -> RepairDoc<'a> {
    RunDoc::of(
        REPAIR_SCHEMA,
        "removed",
        plan,
        outcome,
        |it: &'a RepairItem| PlannedDoc {
            entry: EntryHead::of(&it.entry),
            content_path: it.content_path(),
            bytes: it.bytes(),
            parts: it.parts.iter().map(finding_doc).collect(),
        },
        |r| RemovedDoc {
            source: r.source.kind.as_str(),
            id: &r.id,
            path: r.path.as_deref().unwrap_or_default(),
            bytes: r.bytes,
        },
        |s| SkippedDoc {
            source: s.source.as_ref().map(|s| s.kind.as_str()),
            id: &s.id,
            path: s.path.as_deref(),
            reason: &s.reason,
        },
    )
}
