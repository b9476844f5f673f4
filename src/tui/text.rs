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
use crate::tui::keys::{Action, KeyTable};
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
/// by `hang` (at most half the row). Words longer than a row are cut.
pub fn wrap(text: &str, width: usize, hang: usize) -> Vec<String> {
    let width = width.max(1);
    if text.chars().count() <= width {
        return vec![text.to_string()];
    }
    // A hang wider than half the row would leave too little room: it shrinks, but a
    // continuation row never falls back to column 0.
    let hang = hang.min(width / 2);
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
        // Longer than a row: cut after a `/` where one fits, so a path breaks between
        // its components; only a component longer than a row is cut inside.
        let mut rest: Vec<char> = piece.trim_start_matches(' ').chars().collect();
        while !rest.is_empty() {
            let room = width.saturating_sub(len).max(1);
            if rest.len() <= room {
                row.extend(rest.iter());
                len += rest.len();
                break;
            }
            let cut = rest[..room]
                .iter()
                .rposition(|c| *c == '/')
                .map_or(room, |i| i + 1);
            row.extend(rest[..cut].iter());
            rest.drain(..cut);
            len = next_row(&mut rows, &mut row);
            start = hang;
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

/// The label column of the details pane: as wide as the longest label plus a gap, so
/// a value never runs into its label (`tracked_items377`). A label wider than
/// [`LABEL_MAX`] (a key from outside) gets a line of its own.
#[derive(Clone, Copy)]
struct Labels {
    width: usize,
}

const LABEL_MIN: usize = 14;
const LABEL_MAX: usize = 24;

impl Labels {
    fn for_entry(e: &Entry) -> Self {
        let longest = e
            .details
            .keys()
            .map(|k| escape(k).chars().count())
            .filter(|n| *n + 2 <= LABEL_MAX)
            .max()
            .unwrap_or(0);
        Self {
            width: (longest + 2).clamp(LABEL_MIN, LABEL_MAX),
        }
    }

    /// `label` padded to the column, then `value`; wrapped rows start under the value.
    fn field(self, tone: Tone, label: &str, value: impl AsRef<str>) -> Vec<TextLine> {
        let label = escape(label);
        let value = value.as_ref();
        if label.chars().count() + 2 > self.width {
            return vec![
                TextLine::new(tone, label.into_owned()),
                TextLine::new(tone, format!("{:w$}{value}", "", w = self.width)).hang(self.width),
            ];
        }
        vec![TextLine::new(tone, format!("{label:<w$}{value}", w = self.width)).hang(self.width)]
    }

    fn plain(self, label: &str, value: impl AsRef<str>) -> Vec<TextLine> {
        self.field(Tone::Plain, label, value)
    }
}

/// The Description line says something the mount lines do not: it is neither the
/// command itself nor exactly `cached mount <target> from exec <command>`.
fn description_adds(e: &Entry) -> bool {
    let Some(m) = &e.mount else {
        return true;
    };
    if e.description == m.command {
        return false;
    }
    crate::sources::docker::description::parse_cache_mount(&e.description).as_ref() != Some(m)
}

/// What the screen lets the user do now, read from the key table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Can {
    pub delete: bool,
    pub repair: bool,
}

impl Can {
    pub fn from_keys(keys: &KeyTable) -> Self {
        let has = |a: Action| keys.rows().iter().any(|b| b.action == a);
        Self {
            delete: has(Action::Delete),
            repair: has(Action::Repair),
        }
    }
}

/// Why cachetop never deletes this entry, if it does not.
fn kept_because(e: &Entry) -> Option<String> {
    if let Some(r) = e.origin.delete_refusal() {
        return Some(r.message.clone());
    }
    crate::sources::never_delete(e)
}

/// The next step for the entry's state: the key that does it on this screen (when it
/// is bound), and the command that does the same from a shell.
pub fn next_steps(e: &Entry, can: Can) -> Vec<String> {
    if e.in_use {
        return vec![
            "none now: a build is using it, and cachetop never deletes or repairs what is \
             in use. Look again when the build is over."
                .to_string(),
        ];
    }
    let mut out = repair_steps(e, can);
    if e.has(Flag::Stale) {
        match kept_because(e) {
            Some(why) => out.push(format!("stale, but kept: {why}")),
            None => {
                if can.delete {
                    out.push(
                        "press d to delete this entry, or E to evict every stale entry \
                         (each after a confirm)"
                            .to_string(),
                    );
                }
                let id = crate::sources::shell_quote(&e.id);
                out.push(format!("from a shell: cachetop prune --id {id}"));
            }
        }
    }
    if out.is_empty() && e.has(Flag::SizeMismatch) {
        out.push(
            "nothing to fix: the size shown is the one measured on disk; the source's \
             figure is out of date"
                .to_string(),
        );
    }
    if out.is_empty() {
        out.push("nothing to do: nothing is wrong with it".to_string());
    }
    out
}

/// What fixes the findings, when there are any and no build uses the entry.
fn repair_steps(e: &Entry, can: Can) -> Vec<String> {
    if e.findings.is_empty() || e.in_use {
        return Vec::new();
    }
    let parts = plural(e.findings.len(), "broken part", "broken parts");
    let freed = format_size(crate::units::sum_bytes(e.findings.iter().map(|f| f.bytes)));
    let id = crate::sources::shell_quote(&e.id);
    vec![
        if can.repair {
            format!(
                "press R to remove the broken parts ({parts}, {freed}); the rest of the \
                 cache stays"
            )
        } else {
            format!("remove the broken parts ({parts}, {freed}); the rest of the cache stays")
        },
        format!("from a shell: cachetop repair {id}"),
    ]
}

/// Everything known about one entry, for the details pane. `made_by` is there with
/// `--lint`: the linted `RUN`s that mount this cache. `can` says which keys the next
/// steps may offer.
pub fn details(
    e: &Entry,
    now: DateTime<Utc>,
    policy: &Policy,
    made_by: Option<&[RunOrigin]>,
    can: Can,
) -> Vec<TextLine> {
    let l = Labels::for_entry(e);
    let mut out = Vec::new();
    out.extend(l.plain("ID", &e.id));
    out.extend(l.plain("Source", e.source.to_string()));
    out.extend(l.plain("Type", &e.kind));
    if let Some(m) = &e.mount {
        out.extend(l.plain("Mount target", &m.target));
        out.extend(l.plain("Command", &m.command));
        if let Some(c) = &m.cache_id {
            out.extend(l.plain("Cache id", c));
        }
        if let Some(made_by) = made_by {
            out.extend(made_by_fields(made_by, l));
        }
    }
    if description_adds(e) {
        out.extend(l.plain(
            "Description",
            if e.description.is_empty() {
                "-"
            } else {
                &e.description
            },
        ));
    }
    // What is wrong and what to do about it come first, where they are seen without
    // scrolling on a small terminal.
    if e.flags.is_empty() {
        out.extend(l.plain(
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
            out.push(
                TextLine::new(
                    tone,
                    format!("{name:<w$}{:<8} {why}", f.badge(), w = l.width),
                )
                .hang(l.width + 9),
            );
        }
    }
    for (i, step) in next_steps(e, can).iter().enumerate() {
        let name = if i == 0 { "Next step" } else { "" };
        out.extend(l.field(Tone::Good, name, step));
    }
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
    out.extend(l.plain("Size", size));
    out.extend(l.plain("Created", when(e.created_at, now)));
    out.extend(l.plain("Last used", when(e.last_used_at, now)));
    out.extend(l.plain(
        "Uses",
        e.usage_count.map_or("-".to_string(), |n| n.to_string()),
    ));
    out.extend(l.plain(
        "In use",
        format!(
            "{}   shared: {}",
            if e.in_use { "yes" } else { "no" },
            if e.shared { "yes" } else { "no" }
        ),
    ));
    for (k, v) in &e.details {
        out.extend(l.plain(k, v));
    }
    out.push(blank());
    match &e.content {
        None => out.extend(l.plain("Content", "not scanned")),
        Some(c) => {
            let files = c.files.map_or(String::new(), |n| {
                format!("  ({})", plural(n as usize, "file", "files"))
            });
            out.extend(l.plain("Content", format!("{}{files}", c.path)));
            if let Some(err) = &c.error {
                out.extend(l.field(Tone::Bad, "", err));
            }
            if !c.largest.is_empty() {
                out.push(heading("Largest subdirectories"));
                for d in &c.largest {
                    out.push(plain(format!("  {:>10}  {}", format_size(d.bytes), d.path)).hang(14));
                }
            }
        }
    }
    out.push(blank());
    if e.findings.is_empty() {
        out.extend(l.plain("Findings", "none"));
    } else {
        let freed = crate::units::sum_bytes(e.findings.iter().map(|f| f.bytes));
        out.push(heading(format!(
            "Findings: {}, removing them frees {}",
            e.findings.len(),
            format_size(freed)
        )));
        for f in &e.findings {
            out.push(
                TextLine::new(
                    Tone::Bad,
                    format!("  {}  {}  (frees {})", f.kind, f.path, format_size(f.bytes)),
                )
                .hang(4),
            );
            if !f.detail.is_empty() {
                // Cargo findings read as what happened, then what builds do, then the fix.
                for part in crate::scan::cargo_behaviour::detail_parts(&f.detail) {
                    out.push(TextLine::new(Tone::Dim, format!("      {part}")).hang(6));
                }
            }
        }
        for step in repair_steps(e, can) {
            out.push(TextLine::new(Tone::Good, format!("  → {step}")).hang(4));
        }
    }
    if let Some(made_by) = made_by.filter(|m| m.iter().any(|o| !o.rules.is_empty())) {
        out.push(blank());
        out.extend(made_by_rules(made_by));
    }
    out
}

/// "Made by docker/Dockerfile:14:1  cargo-registry-unlocked", one line a `RUN`.
fn made_by_fields(made_by: &[RunOrigin], l: Labels) -> Vec<TextLine> {
    if made_by.is_empty() {
        return l.plain("Made by", "no RUN of the linted Dockerfiles mounts it");
    }
    made_by
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let ids: Vec<&str> = o.rules.iter().map(|r| r.id).collect();
            let name = if i == 0 { "Made by" } else { "" };
            let line = format!("{name:<w$}{}  {}", o.place(), ids.join(" "), w = l.width);
            let tone = if ids.is_empty() {
                Tone::Plain
            } else {
                Tone::Warn
            };
            TextLine::new(tone, line.trim_end()).hang(l.width)
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
            let label = planned_label(plan, Some(&d.source), &d.id);
            out.push(
                TextLine::new(
                    Tone::Good,
                    format!(
                        "{} {}  {}{label}",
                        d.source.kind,
                        d.id,
                        format_size(d.bytes)
                    ),
                )
                .hang(4),
            );
        }
    }
    let late = outcome.late_skips(plan);
    if !late.is_empty() {
        out.push(blank());
        out.push(heading("Not deleted"));
        for s in late {
            let label = planned_label(plan, s.source.as_ref(), &s.id);
            out.push(
                TextLine::new(
                    Tone::Warn,
                    format!("{} {}{label}: {}", s.source_kind(), s.id, s.reason),
                )
                .hang(4),
            );
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

/// "  /usr/local/cargo/registry": what names a planned entry for a person (its mount
/// target, else its description), or nothing when that is its id.
fn planned_label(plan: &Plan, source: Option<&crate::model::SourceRef>, id: &str) -> String {
    plan.items
        .iter()
        .map(|it| &it.entry)
        .find(|e| e.id == id && source.is_none_or(|s| *s == e.source))
        .map(Entry::label)
        .filter(|l| *l != id)
        .map_or(String::new(), |l| format!("  {l}"))
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
            // The path alone on its line: copied whole, or broken only at a `/`.
            out.push(plain(f.path.as_str()).hang(4));
            out.push(
                TextLine::new(
                    Tone::Dim,
                    format!(
                        "    {}, because: {}: {}",
                        format_size(f.bytes),
                        f.kind,
                        f.detail
                    ),
                )
                .hang(6),
            );
        }
    }
    let commands = plan.equivalent_commands();
    if !commands.is_empty() {
        out.push(blank());
        out.push(heading("Equivalent commands"));
        for c in &commands {
            out.push(TextLine::new(Tone::Dim, shell_command(c)).hang(4));
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

/// What each badge of the FLAGS column means, by its text (badges other parts of the
/// screen add are listed here too).
pub const BADGES: &[(&str, &str)] = &[
    (
        "STALE",
        "not used for --stale-after: E evicts it, d deletes it",
    ),
    (
        "PARTIAL",
        "its content holds broken parts (a half-extracted crate, a cut-off download): \
         R removes just those",
    ),
    (
        "IN USE",
        "a build is using it now: never deleted or repaired",
    ),
    (
        "SHARED",
        "shared with an image: the daemon keeps it, deleting it frees nothing",
    ),
    (
        "SIZE?",
        "measured and reported sizes differ; SIZE shows the measured one, with a *",
    ),
    ("ORPHAN", "nothing references it any more"),
];

/// The legend under the keys: badges, marks, columns and the chart.
fn legend(stale_after: std::time::Duration) -> Vec<TextLine> {
    let row = |label: &str, text: String| plain(format!("  {label:<14}{text}")).hang(16);
    let mut out = vec![blank(), heading("Badges (FLAGS column)")];
    for (badge, meaning) in BADGES {
        out.push(row(badge, meaning.to_string()));
    }
    out.push(blank());
    out.push(heading("Marks and columns"));
    let rows: [(&str, String); 7] = [
        (
            "*",
            "before a row: marked (Space); d deletes every marked row".into(),
        ),
        (
            "SIZE",
            "measured on disk when the content was scanned, else as the source reports; \
             a * after it: the two differ (SIZE?)"
                .into(),
        ),
        (
            "LAST USED",
            "when a build last used it (else when it was made)".into(),
        ),
        (
            "USES",
            "how many builds used it, as the source counts".into(),
        ),
        (
            "TYPE / SOURCE",
            "the kind of record, and what listed it".into(),
        ),
        (
            "MOUNT / DESC…",
            "the cache mount's target and the command that made it, else the description".into(),
        ),
        (
            "sorting",
            "s cycles the column, S inverts; ▼▲ marks it".into(),
        ),
    ];
    for (label, text) in rows {
        out.push(row(label, text));
    }
    let labels = crate::tui::chart::AgeEdges::new(stale_after).labels();
    out.push(blank());
    out.push(heading("The chart (top right)"));
    out.push(row(
        "idle …",
        format!(
            "bytes by time since last use: {}; from {} on (--stale-after {}) it is stale",
            labels.join(", "),
            format_duration(stale_after),
            format_duration(stale_after)
        ),
    ));
    out
}

/// The `?` screen, straight from the key table, then the legend.
pub fn help_lines(
    keys: &KeyTable,
    read_only: bool,
    stale_after: std::time::Duration,
) -> Vec<TextLine> {
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
    out.extend(legend(stale_after));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{Content, Finding, FindingKind, Mount, SourceKind, SourceRef};
    use crate::plan::Done;
    use crate::prune::PlannedItem;
    use crate::repair::RepairItem;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    const REG: &str = "registry/src/index.crates.io-1949cf8c6b5b557f";

    fn partial_mount() -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///var/run/docker.sock"),
            "ufkdtw3x1lkysw5eit7oc8i9m",
            "exec.cachemount",
        );
        e.mount = Some(Mount {
            target: "/usr/local/cargo/registry".into(),
            cache_id: None,
            command: "/bin/sh -c cargo build --release --locked".into(),
        });
        e.description =
            "cached mount /usr/local/cargo/registry from exec /bin/sh -c cargo build --release --locked"
                .into();
        e.content = Some(Content {
            path: "/var/lib/docker/overlay2/ufkdtw3x1lkysw5eit7oc8i9m/diff".into(),
            files: Some(12),
            ..Default::default()
        });
        for name in ["http-1.4.1", "serde_derive-1.0.228", "windows-sys-0.59.0"] {
            e.findings.push(Finding {
                kind: FindingKind::CargoPartialExtraction,
                path: format!("{REG}/{name}"),
                detail: "crate dir without .cargo-ok: extraction was interrupted".into(),
                bytes: 412_000,
            });
        }
        e.last_used_at = Some(now() - chrono::Duration::days(12));
        crate::policy::classify_entry(&mut e, &Policy::default(), now());
        e
    }

    /// Every break between two rows falls at a space of `text` or right after a `/`:
    /// no word and no path component is cut, so a path copied from the screen is whole.
    fn breaks_only_at_spaces_or_slashes(text: &str, rows: &[String]) -> Result<(), String> {
        for pair in rows.windows(2) {
            let (before, after) = (pair[0].trim_end(), pair[1].trim_start());
            if before.ends_with('/') || before.is_empty() || after.is_empty() {
                continue;
            }
            let last = before.rsplit(' ').next().unwrap_or(before);
            let first = after.split(' ').next().unwrap_or(after);
            if !text.contains(&format!("{last} {first}")) {
                return Err(format!("{last:?} | {first:?} cut inside a word: {rows:#?}"));
            }
        }
        Ok(())
    }

    #[test]
    fn wrap_breaks_paths_only_between_components_at_every_width() {
        let plan = crate::repair::RepairPlan {
            items: vec![RepairItem {
                parts: partial_mount().findings.clone(),
                entry: partial_mount(),
            }],
            skipped: Vec::new(),
        };
        let lines = repair_plan_lines(&plan);
        // The widest component (with the hang) fits from 54 columns on: from there no
        // component may be cut. Popups are at most 116 columns wide inside.
        for width in 54..=116 {
            for l in &lines {
                let rows = wrap(&l.text, width, l.hang);
                assert!(rows.iter().all(|r| r.chars().count() <= width), "{rows:?}");
                if let Err(why) = breaks_only_at_spaces_or_slashes(&l.text, &rows) {
                    panic!("width {width}: {why}");
                }
            }
        }
        // Narrower, a component longer than a row is cut (nothing else can be done),
        // and still nothing is lost.
        let rows = wrap(&lines[2].text, 20, lines[2].hang);
        assert_eq!(
            rows.concat().replace(' ', ""),
            lines[2].text.replace(' ', "")
        );
    }

    #[test]
    fn the_repair_dialog_shows_each_part_path_on_its_own_line() {
        let e = partial_mount();
        let plan = crate::repair::RepairPlan {
            items: vec![RepairItem {
                parts: e.findings.clone(),
                entry: e,
            }],
            skipped: Vec::new(),
        };
        let lines = repair_plan_lines(&plan);
        for name in ["http-1.4.1", "serde_derive-1.0.228"] {
            let path = format!("{REG}/{name}");
            assert!(lines.iter().any(|l| l.text == path), "{lines:#?}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.text.starts_with("rm -rf -- /var/lib/docker/overlay2/")),
            "{lines:#?}"
        );
    }

    fn texts(lines: &[TextLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn details_align_labels_and_say_the_next_step() {
        let mut e = partial_mount();
        e.details.insert("tracked_items".into(), "377".into());
        e.details
            .insert("a_very_long_key_from_a_source".into(), "1".into());
        let can = Can {
            delete: true,
            repair: true,
        };
        let lines = details(&e, now(), &Policy::default(), None, can);
        let t = texts(&lines);
        // Every label is followed by at least two spaces: never `tracked_items377`.
        assert!(t.contains(&"tracked_items  377"), "{t:#?}");
        assert!(
            t.iter().any(|l| l.starts_with("ID             ufkd")),
            "{t:#?}"
        );
        // A label too long for the column stands on its own line.
        let long = t
            .iter()
            .position(|l| *l == "a_very_long_key_from_a_source")
            .expect("long label alone");
        assert_eq!(t[long + 1].trim(), "1");
        // The command is shown once: the description says nothing more.
        assert!(!t.iter().any(|l| l.starts_with("Description")), "{t:#?}");
        assert!(t.iter().any(|l| l.starts_with("Command")));
        // The next steps: the key, and what the tool itself would run.
        let all = t.join("\n");
        assert!(all.contains("press R to remove the broken parts"), "{all}");
        assert!(
            all.contains("cachetop repair ufkdtw3x1lkysw5eit7oc8i9m"),
            "{all}"
        );
        assert!(all.contains("press d to delete this entry, or E"), "{all}");
        assert!(
            all.contains("cachetop prune --id ufkdtw3x1lkysw5eit7oc8i9m"),
            "{all}"
        );
        // Without the keys (read-only), no key is promised; the commands stay.
        let ro = details(&e, now(), &Policy::default(), None, Can::default());
        let all = texts(&ro).join("\n");
        assert!(
            !all.contains("press R") && !all.contains("press d"),
            "{all}"
        );
        assert!(all.contains("cachetop repair ufkd"), "{all}");
        // Wrapped rows start under the value, never at column 0.
        for l in &lines {
            for row in wrap(&l.text, 60, l.hang).iter().skip(1) {
                assert!(row.starts_with("  "), "{row:?} of {:?}", l.text);
            }
        }
    }

    #[test]
    fn in_use_entries_have_no_step_and_other_descriptions_are_kept() {
        let mut e = partial_mount();
        e.in_use = true;
        e.description = "something else".into();
        crate::policy::classify_entry(&mut e, &Policy::default(), now());
        let can = Can {
            delete: true,
            repair: true,
        };
        let steps = next_steps(&e, can);
        assert_eq!(steps.len(), 1);
        assert!(steps[0].starts_with("none now: a build is using it"));
        let t = details(&e, now(), &Policy::default(), None, can);
        assert!(
            texts(&t)
                .iter()
                .any(|l| l.starts_with("Description   something else"))
        );
        let mut shared = partial_mount();
        shared.findings.clear();
        shared.shared = true;
        crate::policy::classify_entry(&mut shared, &Policy::default(), now());
        let steps = next_steps(&shared, can);
        assert!(
            steps[0].starts_with("stale, but kept: shared with an image"),
            "{steps:?}"
        );
    }

    #[test]
    fn the_prune_result_names_each_deleted_entry_by_its_mount_target() {
        let e = partial_mount();
        let mut layer = Entry::new(e.source.clone(), "qd5dmn0t4ugvjm6xqxlpw3bmb", "regular");
        layer.size_bytes = 5;
        let mut npm = e.clone();
        npm.id = "t5y8u1i4o7p0a3s6d9f2g5h8j".into();
        npm.mount.as_mut().unwrap().target = "/root/.npm".into();
        let plan = Plan {
            items: vec![
                PlannedItem {
                    entry: e.clone(),
                    reasons: vec!["stale".into()],
                },
                PlannedItem {
                    entry: layer.clone(),
                    reasons: vec!["stale".into()],
                },
                PlannedItem {
                    entry: npm.clone(),
                    reasons: vec!["stale".into()],
                },
            ],
            skipped: Vec::new(),
        };
        let done = |x: &Entry| Done {
            source: x.source.clone(),
            id: x.id.clone(),
            path: None,
            bytes: x.size_bytes,
            planned: true,
        };
        let outcome = Outcome {
            done: vec![done(&e), done(&layer)],
            skipped: vec![crate::plan::Skip::entry(
                &npm,
                "used since the plan was made",
            )],
            reclaimed_bytes: 5,
            ..Default::default()
        };
        let t = texts(&outcome_lines(&plan, &outcome)).join("\n");
        assert!(
            t.contains("docker ufkdtw3x1lkysw5eit7oc8i9m  0 B  /usr/local/cargo/registry"),
            "{t}"
        );
        assert!(
            t.contains(
                "docker t5y8u1i4o7p0a3s6d9f2g5h8j  /root/.npm: used since the plan was made"
            ),
            "{t}"
        );
        // An entry with nothing but its id is not named twice.
        assert!(
            t.contains("docker qd5dmn0t4ugvjm6xqxlpw3bmb  5 B\n") || t.ends_with("5 B"),
            "{t}"
        );
    }

    #[test]
    fn help_explains_every_badge_the_marks_the_columns_and_the_chart() {
        let keys = KeyTable::new(false, true);
        let t = texts(&help_lines(
            &keys,
            false,
            std::time::Duration::from_secs(36 * 3_600),
        ))
        .join("\n");
        for f in Flag::ALL {
            assert!(
                BADGES.iter().any(|(b, _)| *b == f.badge()),
                "{} has no legend",
                f.badge()
            );
            assert!(t.contains(&format!("  {:<14}", f.badge())), "{t}");
        }
        assert!(t.contains("  SHARED"), "{t}");
        assert!(t.contains("before a row: marked (Space)"), "{t}");
        assert!(t.contains("mark or unmark the row, then move down"), "{t}");
        assert!(t.contains("clear a kept filter"), "{t}");
        assert!(t.contains("<5h, 5h-36h, 36h-6d, ≥6d"), "{t}");
        assert!(t.contains("(--stale-after 36h)"), "{t}");
    }

    #[test]
    fn wrap_breaks_at_spaces_hangs_and_cuts_only_long_words() {
        assert_eq!(wrap("short", 10, 2), vec!["short"]);
        assert_eq!(
            wrap("aaaa bbbb cccc dddd", 10, 2),
            vec!["aaaa bbbb", "  cccc", "  dddd"]
        );
        // A hang wider than half the row shrinks to half, never to column 0.
        assert_eq!(
            wrap("Size         3 GB on disk", 16, 13),
            vec!["Size         3", "        GB on", "        disk"]
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
