//! A repair plan and its outcome for people (text) and for programs
//! (`cachetop.repair.v1`, assets/repair.schema.json).

use std::fmt::Write;

use serde::Serialize;

use super::{Refusal, RepairOutcome, RepairPlan};
use crate::report::json::{FindingDoc, finding_doc};
use crate::report::table::{render_commands, truncate};
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
    render_refusals(&mut out, "Kept:", &plan.refused);
    render_commands(&mut out, &plan.equivalent_commands());
    out
}

fn render_refusals(out: &mut String, title: &str, refusals: &[Refusal]) {
    if refusals.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    for r in refusals {
        let source = r.source.as_ref().map_or("-", |s| s.kind.as_str());
        let line = match &r.path {
            Some(p) => format!("{} {p}: {}", r.id, r.reason),
            None => format!("{}: {}", r.id, r.reason),
        };
        let _ = writeln!(out, "  {source} {}", escape(&line));
    }
}

/// What a real run did beyond the plan.
pub fn render_outcome(plan: &RepairPlan, outcome: &RepairOutcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Removed {} of {} planned parts, reclaimed {}.",
        outcome.removed.len(),
        plan.part_count(),
        format_size(outcome.reclaimed_bytes)
    );
    let late: Vec<Refusal> = outcome
        .skipped
        .iter()
        .filter(|s| !plan.refused.contains(s))
        .cloned()
        .collect();
    render_refusals(&mut out, "Not removed:", &late);
    for w in &outcome.warnings {
        let _ = writeln!(out, "warning: {}", escape(w));
    }
    out
}

#[derive(Serialize)]
pub struct RepairDoc<'a> {
    pub schema: &'static str,
    pub dry_run: bool,
    pub planned: Vec<PlannedDoc<'a>>,
    pub removed: Vec<RemovedDoc<'a>>,
    pub skipped: Vec<SkippedDoc<'a>>,
    pub reclaimed_bytes: u64,
    pub equivalent_commands: Vec<String>,
    pub warnings: &'a [String],
}

#[derive(Serialize)]
pub struct PlannedDoc<'a> {
    pub source: &'static str,
    pub source_name: &'a str,
    pub id: &'a str,
    pub kind: &'a str,
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

const NO_WARNINGS: &[String] = &[];

/// The repair document; `outcome` is `None` when nothing was attempted.
pub fn repair_doc<'a>(plan: &'a RepairPlan, outcome: Option<&'a RepairOutcome>) -> RepairDoc<'a> {
    let skipped = outcome.map_or(&plan.refused, |o| &o.skipped);
    RepairDoc {
        schema: REPAIR_SCHEMA,
        dry_run: outcome.is_none(),
        planned: plan
            .items
            .iter()
            .map(|it| PlannedDoc {
                source: it.entry.source.kind.as_str(),
                source_name: &it.entry.source.name,
                id: &it.entry.id,
                kind: &it.entry.kind,
                content_path: it.content_path(),
                bytes: it.bytes(),
                parts: it.parts.iter().map(finding_doc).collect(),
            })
            .collect(),
        removed: outcome
            .map(|o| {
                o.removed
                    .iter()
                    .map(|r| RemovedDoc {
                        source: r.source.kind.as_str(),
                        id: &r.id,
                        path: &r.path,
                        bytes: r.bytes,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        skipped: skipped
            .iter()
            .map(|s| SkippedDoc {
                source: s.source.as_ref().map(|s| s.kind.as_str()),
                id: &s.id,
                path: s.path.as_deref(),
                reason: &s.reason,
            })
            .collect(),
        reclaimed_bytes: outcome.map_or(0, |o| o.reclaimed_bytes),
        equivalent_commands: plan.equivalent_commands(),
        warnings: outcome.map_or(NO_WARNINGS, |o| o.warnings.as_slice()),
    }
}
