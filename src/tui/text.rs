//! The words on screen for details, plans, outcomes and help: plain lines with a tone,
//! built without any terminal so they are easy to test. The view styles the tones.
//! Every line is escaped for the terminal as it is made (`terminal_text`), so ids,
//! commands, paths and error bodies from outside are inert and wrapping counts the
//! columns that are really drawn.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::model::{Entry, Flag};
use crate::plan::{Item, Outcome};
use crate::policy::Policy;
use crate::prune::Plan;
use crate::prune::selector::flag_reason;
use crate::repair::RepairPlan;
use crate::report::origins::RunOrigin;
use crate::report::table::what_cell;
use crate::terminal_text::{escape, shell_command};
use crate::tui::keys::KeyTable;
use crate::units::{format_age, format_duration, format_size, plural};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Heading,
    Good,
    Warn,
    Bad,
    Dim,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextLine {
    pub tone: Tone,
    /// Escaped: nothing in it acts on a terminal.
    pub text: String,
    /// Indent of wrapped continuation rows, so values line up under their label.
    pub hang: usize,
}

impl TextLine {
    pub fn new(tone: Tone, text: impl Into<String>) -> Self {
        let text = text.into();
        let escaped = match escape(&text) {
            Cow::Borrowed(_) => None,
            Cow::Owned(e) => Some(e),
        };
        Self {
            tone,
            text: escaped.unwrap_or(text),
            hang: 0,
        }
    }

    pub fn hang(mut self, hang: usize) -> Self {
        self.hang = hang;
        self
    }
}

/// Wraps `text` at spaces to rows of `width` columns; continuation rows are indented
/// by `hang`. Words longer than a row are cut.
pub fn wrap(text: &str, width: usize, hang: usize) -> Vec<String> {
    let width = width.max(1);
    if text.chars().count() <= width {
        return vec![text.to_string()];
    }
    let hang = if hang * 2 > width { 0 } else { hang };
    // Each piece is a word with the spaces before it.
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c == ' ' && in_word {
            pieces.push(std::mem::take(&mut cur));
            in_word = false;
        }
        if c != ' ' {
            in_word = true;
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    let mut rows = Vec::new();
    let mut row = String::new();
    let (mut len, mut start) = (0, 0);
    let next_row = |rows: &mut Vec<String>, row: &mut String| {
        rows.push(std::mem::replace(row, " ".repeat(hang)));
        hang
    };
    for piece in &pieces {
        let plen = piece.chars().count();
        if len + plen <= width {
            row.push_str(piece);
            len += plen;
            continue;
        }
        if len > start {
            len = next_row(&mut rows, &mut row);
            start = hang;
        }
        let mut chars = piece.trim_start_matches(' ').chars().peekable();
        while chars.peek().is_some() {
            let room = width.saturating_sub(len).max(1);
            let chunk: String = chars.by_ref().take(room).collect();
            len += chunk.chars().count();
            row.push_str(&chunk);
            if chars.peek().is_some() {
                len = next_row(&mut rows, &mut row);
                start = hang;
            }
        }
    }
    rows.push(row);
    rows
}

fn plain(text: impl Into<String>) -> TextLine {
    TextLine::new(Tone::Plain, text)
}

fn heading(text: impl Into<String>) -> TextLine {
    TextLine::new(Tone::Heading, text)
}

fn blank() -> TextLine {
    plain("")
}

/// How many screen rows a line takes when wrapped at `width` columns.
pub fn wrapped_height(line: &TextLine, width: usize) -> usize {
    if line.text.chars().count() <= width {
        return 1;
    }
    wrap(&line.text, width, line.hang).len()
}

/// The largest scroll offset that still fills a body of `height` rows of `width`
/// columns: the last line ends at the bottom, never above it.
pub fn max_scroll(lines: &[TextLine], width: usize, height: usize) -> usize {
    let mut used = 0;
    for (i, l) in lines.iter().enumerate().rev() {
        used += wrapped_height(l, width);
        if used > height {
            return i + 1;
        }
    }
    0
}

fn when(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        None => "-".to_string(),
        Some(t) => format!(
            "{} ({})",
            t.format("%Y-%m-%d %H:%M:%S UTC"),
            format_age(Some(t), now)
        ),
    }
}

fn field(name: &str, value: impl AsRef<str>) -> TextLine {
    plain(format!("{name:<13}{}", value.as_ref())).hang(13)
}

/// Everything known about one entry, for the details pane. `made_by` is there with
/// `--lint`: the linted `RUN`s that mount this cache.
pub fn details(
    e: &Entry,
    now: DateTime<Utc>,
    policy: &Policy,
    made_by: Option<&[RunOrigin]>,
) -> Vec<TextLine> {
    let mut out = vec![
        field("ID", &e.id),
        field("Source", e.source.to_string()),
        field("Type", &e.kind),
    ];
    if let Some(m) = &e.mount {
        out.push(field("Mount target", &m.target));
        out.push(field("Command", &m.command));
        if let Some(c) = &m.cache_id {
            out.push(field("Cache id", c));
        }
        if let Some(made_by) = made_by {
            out.extend(made_by_fields(made_by));
        }
    }
    out.push(field(
        "Description",
        if e.description.is_empty() {
            "-"
        } else {
            &e.description
        },
    ));
    let size = match e.disk_bytes {
        None => format!(
            "{} (as reported; content not measured)",
            format_size(e.size_bytes)
        ),
        Some(d) if e.has(Flag::SizeMismatch) => format!(
            "{} on disk; the source reports {}",
            format_size(d),
            format_size(e.size_bytes)
        ),
        Some(d) => format!(
            "{} on disk (reported {})",
            format_size(d),
            format_size(e.size_bytes)
        ),
    };
    out.push(field("Size", size));
    out.push(field("Created", when(e.created_at, now)));
    out.push(field("Last used", when(e.last_used_at, now)));
    out.push(field(
        "Uses",
        e.usage_count.map_or("-".to_string(), |n| n.to_string()),
    ));
    out.push(field(
        "In use",
        format!(
            "{}   shared: {}",
            if e.in_use { "yes" } else { "no" },
            if e.shared { "yes" } else { "no" }
        ),
    ));
    if e.flags.is_empty() {
        out.push(field(
            "Flags",
            format!(
                "none (stale after {} unused)",
                format_duration(policy.stale_after)
            ),
        ));
    } else {
        for (i, f) in e.flags.iter().enumerate() {
            let why = match f {
                Flag::SizeMismatch => "measured and reported sizes differ".to_string(),
                Flag::InUse => "a build is using it now: it is never deleted".to_string(),
                Flag::Orphaned => "nothing references it any more".to_string(),
                _ => flag_reason(*f, e, now),
            };
            let tone = if *f == Flag::InUse {
                Tone::Good
            } else {
                Tone::Warn
            };
            let name = if i == 0 { "Flags" } else { "" };
            out.push(TextLine::new(
                tone,
                format!("{name:<13}{:<8} {why}", f.badge()),
            ));
        }
    }
    for (k, v) in &e.details {
        out.push(field(k, v));
    }
    out.push(blank());
    match &e.content {
        None => out.push(field("Content", "not scanned")),
        Some(c) => {
            let files = c.files.map_or(String::new(), |n| {
                format!("  ({})", plural(n as usize, "file", "files"))
            });
            out.push(field("Content", format!("{}{files}", c.path)));
            if let Some(err) = &c.error {
                out.push(TextLine::new(Tone::Bad, format!("{:<13}{err}", "")));
            }
            if !c.largest.is_empty() {
                out.push(heading("Largest subdirectories"));
                for d in &c.largest {
                    out.push(plain(format!("  {:>10}  {}", format_size(d.bytes), d.path)));
                }
            }
        }
    }
    out.push(blank());
    if e.findings.is_empty() {
        out.push(field("Findings", "none"));
    } else {
        let freed = crate::units::sum_bytes(e.findings.iter().map(|f| f.bytes));
        out.push(heading(format!(
            "Findings: {}, removing them frees {}",
            e.findings.len(),
            format_size(freed)
        )));
        for f in &e.findings {
            out.push(TextLine::new(
                Tone::Bad,
                format!("  {}  {}  (frees {})", f.kind, f.path, format_size(f.bytes)),
            ));
            if !f.detail.is_empty() {
                // Cargo findings read as what happened, then what builds do, then the fix.
                for part in crate::scan::cargo_behaviour::detail_parts(&f.detail) {
                    out.push(TextLine::new(Tone::Dim, format!("      {part}")).hang(8));
                }
            }
        }
    }
    if let Some(made_by) = made_by.filter(|m| m.iter().any(|o| !o.rules.is_empty())) {
        out.push(blank());
        out.extend(made_by_rules(made_by));
    }
    out
}

/// "Made by docker/Dockerfile:14:1  cargo-registry-unlocked", one line a `RUN`.
fn made_by_fields(made_by: &[RunOrigin]) -> Vec<TextLine> {
    if made_by.is_empty() {
        return vec![field(
            "Made by",
            "no RUN of the linted Dockerfiles mounts it",
        )];
    }
    made_by
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let ids: Vec<&str> = o.rules.iter().map(|r| r.id).collect();
            let name = if i == 0 { "Made by" } else { "" };
            let line = format!("{name:<13}{}  {}", o.place(), ids.join(" "));
            let tone = if ids.is_empty() {
                Tone::Plain
            } else {
                Tone::Warn
            };
            TextLine::new(tone, line.trim_end()).hang(13)
        })
        .collect()
}

/// What lint found where the cache is made: the mechanism and the fix, per rule.
fn made_by_rules(made_by: &[RunOrigin]) -> Vec<TextLine> {
    let mut out = vec![heading("Why this cache goes bad (cachetop lint)")];
    for o in made_by.iter().filter(|o| !o.rules.is_empty()) {
        out.push(plain(format!("  {}", o.place())));
        for r in &o.rules {
            let tone = if r.severity == "error" {
                Tone::Bad
            } else {
                Tone::Warn
            };
            out.push(
                TextLine::new(tone, format!("    {}[{}] {}", r.severity, r.id, r.title)).hang(4),
            );
            out.push(TextLine::new(Tone::Dim, format!("      {}", r.message)).hang(6));
            out.push(TextLine::new(Tone::Good, format!("      fix: {}", r.fix)).hang(11));
        }
    }
    out
}

/// The confirm dialog's text for a prune plan.
pub fn plan_lines(plan: &Plan, commands: &[String]) -> Vec<TextLine> {
    let mut out = Vec::with_capacity(plan.items.len() * 2 + plan.skipped.len() + 8);
    out.push(TextLine::new(
        Tone::Warn,
        format!(
            "{} will be deleted, {} in all. Nothing is deleted until you press y.",
            plural(plan.items.len(), "entry", "entries"),
            format_size(plan.total_bytes())
        ),
    ));
    out.push(blank());
    for it in &plan.items {
        let e = &it.entry;
        out.push(
            plain(format!(
                "{} {}  {}  {}  {}",
                e.source.kind,
                e.id,
                e.kind,
                format_size(e.effective_bytes()),
                what_cell(e)
            ))
            .hang(4),
        );
        out.push(
            TextLine::new(Tone::Dim, format!("    because: {}", it.reasons.join("; "))).hang(13),
        );
    }
    if !plan.skipped.is_empty() {
        out.push(blank());
        out.push(heading(format!(
            "Kept ({}): selected, but not deleted",
            plan.skipped.len()
        )));
        for s in &plan.skipped {
            out.push(plain(format!("{} {}: {}", s.source_kind(), s.id, s.reason)).hang(4));
        }
    }
    if !commands.is_empty() {
        out.push(blank());
        out.push(heading("Equivalent commands"));
        for c in commands {
            out.push(TextLine::new(Tone::Dim, shell_command(c)).hang(4));
        }
    }
    out
}

/// The message for a plan that deletes nothing.
pub fn nothing_to_delete(plan: &Plan) -> Vec<TextLine> {
    let mut out = vec![plain(
        "Nothing deletable is selected: nothing will be deleted.",
    )];
    if !plan.skipped.is_empty() {
        out.push(blank());
        out.push(heading("Kept"));
        for s in &plan.skipped {
            out.push(plain(format!("{} {}: {}", s.source_kind(), s.id, s.reason)).hang(4));
        }
    }
    out
}

/// What a prune did: deleted, skipped with reasons, reclaimed bytes.
pub fn outcome_lines(plan: &Plan, outcome: &Outcome) -> Vec<TextLine> {
    let planned_deleted = outcome.planned_done();
    let tone = if outcome.is_clean() {
        Tone::Good
    } else {
        Tone::Bad
    };
    let mut out = vec![TextLine::new(
        tone,
        format!(
            "Deleted {planned_deleted} of {} planned, reclaimed {}.",
            plan.items.len(),
            format_size(outcome.reclaimed_bytes)
        ),
    )];
    if !outcome.done.is_empty() {
        out.push(blank());
        out.push(heading("Deleted"));
        for d in &outcome.done {
            out.push(TextLine::new(
                Tone::Good,
                format!("{} {}  {}", d.source.kind, d.id, format_size(d.bytes)),
            ));
        }
    }
    let late = outcome.late_skips(plan);
    if !late.is_empty() {
        out.push(blank());
        out.push(heading("Not deleted"));
        for s in late {
            out.push(TextLine::new(
                Tone::Warn,
                format!("{} {}: {}", s.source_kind(), s.id, s.reason),
            ));
        }
    }
    if !plan.skipped.is_empty() {
        out.push(blank());
        out.push(heading("Kept (never planned)"));
        for s in &plan.skipped {
            out.push(plain(format!("{} {}: {}", s.source_kind(), s.id, s.reason)).hang(4));
        }
    }
    if !outcome.warnings.is_empty() {
        out.push(blank());
        out.push(heading("Warnings"));
        for w in &outcome.warnings {
            out.push(TextLine::new(Tone::Bad, w.clone()));
        }
    }
    out
}

/// The confirm dialog's text for the repair of one entry.
pub fn repair_plan_lines(plan: &RepairPlan) -> Vec<TextLine> {
    let mut out = Vec::new();
    for item in &plan.items {
        out.push(TextLine::new(
            Tone::Warn,
            format!(
                "{} of {} ({}) will be removed, {} in all; the rest of the cache stays. \
                 Nothing changes until you press y.",
                plural(item.parts.len(), "broken part", "broken parts"),
                item.entry.label(),
                item.entry.id,
                format_size(item.bytes())
            ),
        ));
        out.push(blank());
        for f in &item.parts {
            out.push(plain(format!("{}  {}", f.path, format_size(f.bytes))));
            out.push(TextLine::new(
                Tone::Dim,
                format!("    because: {}: {}", f.kind, f.detail),
            ));
        }
    }
    let commands = plan.equivalent_commands();
    if !commands.is_empty() {
        out.push(blank());
        out.push(heading("Equivalent commands"));
        for c in &commands {
            out.push(TextLine::new(Tone::Dim, shell_command(c)));
        }
    }
    out
}

/// What a repair did: the parts removed, and those left alone with why.
pub fn repair_outcome_lines(o: &Outcome) -> Vec<TextLine> {
    let mut out = vec![TextLine::new(
        Tone::Good,
        format!(
            "Removed {}, reclaimed {}.",
            plural(o.done.len(), "broken part", "broken parts"),
            format_size(o.reclaimed_bytes)
        ),
    )];
    for r in &o.done {
        let what = r.path.as_deref().unwrap_or(&r.id);
        out.push(TextLine::new(Tone::Good, format!("  {what}")));
    }
    if !o.skipped.is_empty() {
        out.push(blank());
        out.push(heading("Left alone"));
        for s in &o.skipped {
            let what = s.path.as_deref().unwrap_or(&s.id);
            out.push(TextLine::new(Tone::Warn, format!("  {what}: {}", s.reason)));
        }
    }
    out
}

/// The `?` screen, straight from the key table.
pub fn help_lines(keys: &KeyTable, read_only: bool) -> Vec<TextLine> {
    let mut out = Vec::new();
    if read_only {
        out.push(TextLine::new(
            Tone::Warn,
            "Read-only: no key deletes or repairs anything.",
        ));
        out.push(blank());
    }
    for (i, section) in keys.help().into_iter().enumerate() {
        if i > 0 {
            out.push(blank());
        }
        out.push(heading(section.title));
        for (label, help) in section.rows {
            out.push(plain(format!("  {label:<14}{help}")).hang(16));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_hangs_and_cuts_only_long_words() {
        assert_eq!(wrap("short", 10, 2), vec!["short"]);
        assert_eq!(
            wrap("aaaa bbbb cccc dddd", 10, 2),
            vec!["aaaa bbbb", "  cccc", "  dddd"]
        );
        // A hang wider than half the row would leave no room: it is dropped.
        assert_eq!(
            wrap("Size         3 GB on disk", 16, 13),
            vec!["Size         3", "GB on disk"]
        );
        let rows = wrap(
            "docker -H unix:///a/very/long/socket/path.sock builder",
            20,
            4,
        );
        assert!(rows.iter().all(|r| r.chars().count() <= 20), "{rows:?}");
        assert_eq!(
            rows.concat().replace(' ', ""),
            "docker-Hunix:///a/very/long/socket/path.sockbuilder"
        );
    }

    #[test]
    fn max_scroll_lets_the_last_line_reach_the_bottom_and_no_further() {
        let lines: Vec<TextLine> = (0..10).map(|i| plain(format!("line {i}"))).collect();
        assert_eq!(max_scroll(&lines, 40, 4), 6);
        assert_eq!(max_scroll(&lines, 40, 20), 0);
    }
}
