//! A prune plan and its outcome for people (text) and for programs
//! (`cachetop.prune.v1`, assets/prune.schema.json).

use std::fmt::Write;

use serde::Serialize;

use super::run::{EntryHead, RunDoc, render_commands, render_skips, render_warnings};
use super::table::{truncate, what_cell};
use crate::inventory::HostsOf;
use crate::model::{Entry, SourceRef};
use crate::plan::{Outcome, Skip};
use crate::prune::{BudgetOutcome, Floor, NO_SUCH_ID, Plan, PlannedItem};
use crate::terminal_text::escape;
use crate::units::{format_size, plural};

pub const PRUNE_SCHEMA: &str = "cachetop.prune.v1";

/// The plan, printed identically by a dry run and a real run.
pub fn render_plan(plan: &Plan) -> String {
    render_plan_on(plan, None)
}

/// [`render_plan`]; with `hosts` (more than one Docker host is read), the planned
/// entries are shown under the host each is deleted on, hosts in the order they
/// first come in the plan, entries in plan order within each.
pub fn render_plan_on(plan: &Plan, hosts: Option<&HostsOf>) -> String {
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
        for (host, items) in by_host(&plan.items, hosts) {
            if hosts.is_some() {
                let _ = writeln!(
                    out,
                    " [{}] {}",
                    escape(host.unwrap_or("no Docker host")),
                    plural(items.len(), "entry", "entries")
                );
            }
            for it in items {
                render_item(&mut out, it);
            }
        }
    }
    render_plan_tail(&mut out, plan);
    out
}

/// One planned entry and why.
fn render_item(out: &mut String, it: &PlannedItem) {
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

/// The host an entry is deleted on, when many hosts are read.
fn host_of<'a>(hosts: Option<&'a HostsOf>, e: &Entry) -> Option<&'a str> {
    hosts.and_then(|h| h.get(&e.source)).map(String::as_str)
}

/// Plan items grouped by host (see [`render_plan_on`]); one group when `hosts` is
/// `None`.
fn by_host<'a>(
    items: &'a [PlannedItem],
    hosts: Option<&'a HostsOf>,
) -> Vec<(Option<&'a str>, Vec<&'a PlannedItem>)> {
    let mut groups: Vec<(Option<&str>, Vec<&PlannedItem>)> = Vec::new();
    for it in items {
        let h = host_of(hosts, &it.entry);
        match groups.iter_mut().find(|(g, _)| *g == h) {
            Some((_, v)) => v.push(it),
            None => groups.push((h, vec![it])),
        }
    }
    groups
}

/// What the plan keeps, and the commands that would do the same.
fn render_plan_tail(out: &mut String, plan: &Plan) {
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
    render_skips(out, "Kept:", &kept);
    render_commands(out, &plan.equivalent_commands());
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
    /// Only when more than one Docker host is read: the host it is deleted on
    /// (`null` for none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Option<&'a str>>,
    pub size_bytes: u64,
    pub reasons: &'a [String],
}

#[derive(Serialize)]
pub struct DeletedDoc<'a> {
    pub source: &'static str,
    pub id: &'a str,
    /// As `PlannedDoc::host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Option<&'a str>>,
}

#[derive(Serialize)]
pub struct SkippedDoc<'a> {
    pub id: &'a str,
    pub reason: &'a str,
    /// As `PlannedDoc::host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Option<&'a str>>,
}

pub type PruneDoc<'a> = RunDoc<'a, PlannedDoc<'a>, DeletedDoc<'a>, SkippedDoc<'a>>;

/// The budget and its projected result, after the plan (dry run and real run alike).
pub fn render_budget(b: &BudgetOutcome) -> String {
    let mut out = String::new();
    if let Some(u) = &b.max_used {
        let _ = writeln!(
            out,
            "Budget --max-used {}: candidates use {} now, {} after{}",
            format_size(u.limit_bytes),
            format_size(u.before_bytes),
            format_size(u.after_bytes),
            if u.met() { "" } else { " (not met)" }
        );
    }
    if let Some(floor) = b.budget.keep_free {
        if b.keep_free.is_empty() {
            out.push_str(
                "Budget --keep-free: no candidate is on a filesystem of this machine
",
            );
        }
        for f in &b.keep_free {
            let _ = writeln!(
                out,
                "Budget --keep-free {floor} on {}: {} free now, {} after (floor {}){}",
                escape(&f.mount_point),
                format_size(f.free_before_bytes),
                format_size(f.free_after_bytes),
                format_size(f.floor_bytes),
                if f.met() { "" } else { " (not met)" }
            );
        }
    }
    for why in &b.unmet {
        let _ = writeln!(out, "Budget not met: {}", escape(why));
    }
    out
}

/// The `budget` object of the prune document (`null` without a budget).
pub fn budget_json(b: Option<&BudgetOutcome>) -> serde_json::Value {
    let Some(b) = b else {
        return serde_json::Value::Null;
    };
    let (keep_free_bytes, keep_free_percent) = match b.budget.keep_free {
        Some(Floor::Bytes(n)) => (Some(n), None),
        Some(Floor::Percent(p)) => (None, Some(f64::from(p) / 100.0)),
        None => (None, None),
    };
    serde_json::json!({
        "max_used_bytes": b.budget.max_used,
        "keep_free_bytes": keep_free_bytes,
        "keep_free_percent": keep_free_percent,
        "max_used": b.max_used.as_ref().map(|u| serde_json::json!({
            "limit_bytes": u.limit_bytes,
            "before_bytes": u.before_bytes,
            "after_bytes": u.after_bytes,
            "met": u.met(),
        })),
        "filesystems": b.keep_free.iter().map(|f| serde_json::json!({
            "path": f.mount_point,
            "size_bytes": f.size_bytes,
            "floor_bytes": f.floor_bytes,
            "free_before_bytes": f.free_before_bytes,
            "free_after_bytes": f.free_after_bytes,
            "used_before_bytes": f.used_before_bytes,
            "used_after_bytes": f.used_after_bytes,
            "met": f.met(),
        })).collect::<Vec<_>>(),
        "met": b.unmet.is_empty(),
        "unmet": b.unmet,
    })
}

/// The prune document with its budget (`None`: no budget was given), and with
/// `hosts` (many hosts read) the host of each entry planned, deleted and skipped.
pub fn prune_doc_with<'a>(
    plan: &'a Plan,
    outcome: Option<&'a Outcome>,
    budget: Option<&BudgetOutcome>,
    hosts: Option<&'a HostsOf>,
) -> PruneDoc<'a> {
    let mut doc = prune_doc_on(plan, outcome, hosts);
    doc.extra = Some(("budget", budget_json(budget)));
    doc
}

/// The prune document; `outcome` is `None` for a dry run (nothing deleted).
pub fn prune_doc<'a>(plan: &'a Plan, outcome: Option<&'a Outcome>) -> PruneDoc<'a> {
    prune_doc_on(plan, outcome, None)
}

fn prune_doc_on<'a>(
    plan: &'a Plan,
    outcome: Option<&'a Outcome>,
    hosts: Option<&'a HostsOf>,
) -> PruneDoc<'a> {
    let host =
        move |s: Option<&SourceRef>| hosts.map(|h| s.and_then(|s| h.get(s)).map(String::as_str));
    RunDoc::of(
        PRUNE_SCHEMA,
        "deleted",
        plan,
        outcome,
        |i: &'a PlannedItem| PlannedDoc {
            entry: EntryHead::of(&i.entry),
            host: host(Some(&i.entry.source)),
            size_bytes: i.entry.effective_bytes(),
            reasons: &i.reasons,
        },
        |d| DeletedDoc {
            source: d.source.kind.as_str(),
            id: &d.id,
            host: host(Some(&d.source)),
        },
        |s| SkippedDoc {
            id: &s.id,
            reason: &s.reason,
            host: host(s.source.as_ref()),
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

    #[test]
    fn the_same_id_on_two_hosts_is_two_entries_each_planned_and_deleted_on_its_host() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let hosts = ["unix:///a.sock", "unix:///b.sock"];
        let entries: Vec<Entry> = hosts
            .iter()
            .map(|h| {
                let mut e = Entry::new(SourceRef::new(SourceKind::Docker, *h), "x1", "regular");
                e.host = Some((*h).into());
                e.size_bytes = 1000;
                e
            })
            .collect();
        let selector = Selector {
            ids: vec!["x1".to_string(), "nope".to_string()],
            ..Default::default()
        };
        let plan = build_plan(&entries, &selector, now);
        assert_eq!(plan.items.len(), 2);
        let of: HostsOf = entries
            .iter()
            .map(|e| (e.source.clone(), e.host.as_deref().unwrap().to_string()))
            .collect();
        let text = render_plan_on(&plan, Some(&of));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], " [unix:///a.sock] 1 entry", "{text}");
        assert!(lines[2].starts_with("  docker x1"), "{text}");
        assert_eq!(lines[4], " [unix:///b.sock] 1 entry", "{text}");
        for h in hosts {
            let command = format!("docker -H {h} builder prune --force --filter 'id=^x1$'");
            assert!(text.contains(&command), "{text}");
        }
        assert_eq!(render_plan(&plan), render_plan_on(&plan, None));
        assert!(!render_plan(&plan).contains('['));

        let outcome = Outcome {
            done: vec![crate::plan::Done {
                source: entries[1].source.clone(),
                id: "x1".to_string(),
                path: None,
                bytes: 1000,
                planned: true,
            }],
            ..Outcome::of(&plan)
        };
        let doc =
            serde_json::to_value(prune_doc_with(&plan, Some(&outcome), None, Some(&of))).unwrap();
        assert_eq!(doc["planned"][0]["host"], "unix:///a.sock");
        assert_eq!(doc["planned"][1]["host"], "unix:///b.sock");
        assert_eq!(doc["deleted"][0]["host"], "unix:///b.sock");
        assert!(
            doc["skipped"][0]["host"].is_null(),
            "an id no entry has: {doc}"
        );
        let one = serde_json::to_value(prune_doc_with(&plan, None, None, None)).unwrap();
        assert!(!one["planned"][0].as_object().unwrap().contains_key("host"));
    }

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
