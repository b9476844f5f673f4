//! Plain-text output for people: the report table, a prune plan and its outcome.
//! Every string from outside is escaped here, where it is shown (`terminal_text`).

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::inventory::Inventory;
use crate::model::{Entry, Flag};
use crate::prune::{Outcome, Plan};
use crate::terminal_text::{escape, shell_command};
use crate::units::{format_age, format_duration, format_size, plural};

const ID_WIDTH: usize = 25;
/// Why an id given on the command line is not in the plan.
pub const NO_SUCH_ID: &str = "no entry has this id (ids are exact; `cachetop report` lists them)";

/// Truncates to `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The size a person should see: measured when known, `*` when the source disagrees.
pub fn size_cell(e: &Entry) -> String {
    let mut s = format_size(e.effective_bytes());
    if e.has(Flag::SizeMismatch) {
        s.push('*');
    }
    s
}

pub fn flags_cell(e: &Entry) -> String {
    let badges: Vec<&str> = e.flags.iter().map(|f| f.badge()).collect();
    if badges.is_empty() {
        "-".to_string()
    } else {
        badges.join(",")
    }
}

/// Mount target and the command that made it, else the description; escaped for a
/// terminal.
pub fn what_cell(e: &Entry) -> String {
    match &e.mount {
        Some(m) => format!("{}  ({})", escape(&m.target), escape(&m.command)),
        None => escape(e.label()).into_owned(),
    }
}

/// Each equivalent command, inert on a terminal and still exact (`$'...'` quoting).
pub fn render_commands(out: &mut String, commands: &[String]) {
    if commands.is_empty() {
        return;
    }
    out.push_str("Equivalent commands:\n");
    for c in commands {
        let _ = writeln!(out, "  {}", shell_command(c));
    }
}

/// The report table, largest first, then one line per source and the totals.
/// With `width`, the last column is cut to fit a terminal of that width.
pub fn render_report(inv: &Inventory, now: DateTime<Utc>, width: Option<usize>) -> String {
    let headers = [
        "SOURCE",
        "TYPE",
        "SIZE",
        "LAST USED",
        "CREATED",
        "USES",
        "FLAGS",
        "ID",
        "MOUNT / DESCRIPTION",
    ];
    let rows: Vec<[String; 9]> = inv
        .entries
        .iter()
        .map(|e| {
            [
                e.source.kind.to_string(),
                escape(&e.kind).into_owned(),
                size_cell(e),
                format_age(e.last_used_at, now),
                format_age(e.created_at, now),
                e.usage_count.map_or("-".to_string(), |n| n.to_string()),
                flags_cell(e),
                truncate(&escape(&e.id), ID_WIDTH),
                what_cell(e),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(8) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fixed: usize = widths[..8].iter().map(|w| w + 2).sum();
    let last = width.map(|w| w.saturating_sub(fixed).max(20));
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 8 {
                match last {
                    Some(max) => l.push_str(&truncate(cell, max)),
                    None => l.push_str(cell),
                }
            } else if i == 2 || i == 5 {
                let _ = write!(l, "{:>w$}  ", cell, w = widths[i]);
            } else {
                let _ = write!(l, "{:<w$}  ", cell, w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&headers.map(String::from));
    for row in &rows {
        line(row);
    }
    if inv.entries.iter().any(|e| e.has(Flag::SizeMismatch)) {
        out.push_str("* measured on disk; the source reports a different size\n");
    }
    out.push_str(&render_findings(&inv.entries));
    out.push('\n');
    for s in &inv.sources {
        match &s.error {
            None => {
                let line = format!("{}: {}", s.source, s.summary);
                let _ = writeln!(out, "{}", escape(&line));
            }
            Some(e) => {
                let line = format!("{}: FAILED: {}", s.source, e);
                let _ = writeln!(out, "{}", escape(&line));
            }
        }
    }
    let t = inv.totals();
    let _ = writeln!(
        out,
        "{} entries, {}; stale (unused {}): {}, {}; partial: {}",
        t.entries,
        format_size(t.size_bytes),
        format_duration(inv.policy.stale_after),
        t.stale_entries,
        format_size(t.stale_bytes),
        t.partial_entries
    );
    out
}

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
    if !plan.unknown_ids.is_empty() {
        out.push_str("Not found:\n");
        for id in &plan.unknown_ids {
            let _ = writeln!(out, "  {}: {NO_SUCH_ID}", escape(id));
        }
    }
    if !plan.skipped.is_empty() {
        out.push_str("Kept:\n");
        for s in &plan.skipped {
            let line = format!("{}: {}", s.id, s.reason);
            let _ = writeln!(out, "  {} {}", s.source.kind, escape(&line));
        }
    }
    render_commands(&mut out, &plan.equivalent_commands());
    out
}

/// What a real run did, beyond the plan: deletions, skips made at run time, warnings.
pub fn render_outcome(plan: &Plan, outcome: &Outcome) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Deleted {} of {} planned, reclaimed {}.",
        outcome.planned_deleted(),
        plan.items.len(),
        format_size(outcome.reclaimed_bytes)
    );
    let late = outcome.late_skips(plan);
    if !late.is_empty() {
        out.push_str("Not deleted:\n");
        for s in late {
            let line = format!("{}: {}", s.id, s.reason);
            let _ = writeln!(out, "  {} {}", s.source.kind, escape(&line));
        }
    }
    for w in &outcome.warnings {
        let _ = writeln!(out, "warning: {}", escape(w));
    }
    out
}

/// The broken parts inside entries, and the content that could not be looked into.
pub fn render_findings(entries: &[Entry]) -> String {
    let mut out = String::new();
    let broken: Vec<&Entry> = entries.iter().filter(|e| !e.findings.is_empty()).collect();
    if !broken.is_empty() {
        out.push_str("\nBroken parts (`cachetop repair ID` removes only these):\n");
        for e in broken {
            let _ = writeln!(
                out,
                "  {} {}  {}",
                e.source.kind,
                escape(&e.id),
                truncate(&escape(e.label()), 60)
            );
            for f in &e.findings {
                let _ = writeln!(
                    out,
                    "    {}  {}  {}",
                    escape(f.kind.as_str()),
                    escape(&f.path),
                    format_size(f.bytes)
                );
                let _ = writeln!(out, "      {}", escape(&f.detail));
            }
        }
    }
    // One line per distinct reason, with how many entries it concerns.
    let mut reasons: Vec<(&str, usize)> = Vec::new();
    for c in entries.iter().filter_map(|e| e.content.as_ref()) {
        if let Some(why) = &c.error {
            match reasons.iter_mut().find(|(r, _)| r == why) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        }
    }
    if !reasons.is_empty() {
        out.push_str("\nContent not (fully) scanned:\n");
        for (why, n) in reasons {
            let _ = writeln!(out, "  {}: {}", plural(n, "entry", "entries"), escape(why));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, Mount, SourceKind, SourceRef};
    use crate::prune::{Selector, Skip, build_plan};
    use chrono::TimeZone;

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
        plan.skipped.push(Skip {
            source: e.source.clone(),
            id: e.id.clone(),
            reason: format!("r{HOSTILE}"),
        });
        let text = render_plan(&plan);
        assert!(inert(&text), "{text:?}");
        assert!(text.contains(r"id\x1b]0;t\x07\u{9b}2J\u{202e}"), "{text}");
        assert!(text.contains(r"gone\x1b]0;t\x07"), "{text}");
        assert!(text.contains("-H $'unix:///"), "commands re-quoted: {text}");

        let outcome = Outcome {
            warnings: vec![format!("w{HOSTILE}")],
            skipped: vec![Skip {
                source: e.source.clone(),
                id: e.id.clone(),
                reason: format!("late{HOSTILE}"),
            }],
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
