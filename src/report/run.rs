//! The parts every destructive run's output shares, whatever it plans (prune deletes
//! entries, repair removes parts of them): what was left alone, warnings, equivalent
//! commands, and the skeleton of its versioned JSON document.

use std::fmt::Write;

use serde::Serialize;
use serde::ser::SerializeStruct;

use crate::model::Entry;
use crate::plan::{Item, Outcome, Plan, Skip};
use crate::terminal_text::{escape, shell_command};

/// `title`, then one line per skip: `  KIND ID[ PATH]: REASON`, escaped.
pub fn render_skips(out: &mut String, title: &str, skips: &[Skip]) {
    if skips.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    for s in skips {
        let line = match &s.path {
            Some(p) => format!("{} {p}: {}", s.id, s.reason),
            None => format!("{}: {}", s.id, s.reason),
        };
        let _ = writeln!(out, "  {} {}", s.source_kind(), escape(&line));
    }
}

pub fn render_warnings(out: &mut String, warnings: &[String]) {
    for w in warnings {
        let _ = writeln!(out, "warning: {}", escape(w));
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

/// Which entry a planned item is about: the first fields of every `planned[]` item.
#[derive(Serialize)]
pub struct EntryHead<'a> {
    pub source: &'static str,
    pub source_name: &'a str,
    pub id: &'a str,
    pub kind: &'a str,
}

impl<'a> EntryHead<'a> {
    pub fn of(e: &'a Entry) -> Self {
        Self {
            source: e.source.kind.as_str(),
            source_name: &e.source.name,
            id: &e.id,
            kind: &e.kind,
        }
    }
}

/// A run's document: `schema`, `dry_run`, `planned`, what went (named by the kind of
/// run), `skipped`, `reclaimed_bytes`, `equivalent_commands`, `warnings`, in that
/// order. Every field is always present.
pub struct RunDoc<'a, P, D, S> {
    pub schema: &'static str,
    /// `deleted`, `removed`.
    pub done_key: &'static str,
    pub dry_run: bool,
    pub planned: Vec<P>,
    pub done: Vec<D>,
    pub skipped: Vec<S>,
    pub reclaimed_bytes: u64,
    pub equivalent_commands: Vec<String>,
    pub warnings: &'a [String],
    /// A field of this kind of run only, written last (prune's `budget`).
    pub extra: Option<(&'static str, serde_json::Value)>,
}

const NO_WARNINGS: &[String] = &[];

impl<'a, P, D, S> RunDoc<'a, P, D, S> {
    /// The document of `plan`, and of `outcome` when the run happened (`None`: a dry
    /// run, or nothing authorised); each piece in the shape the kind of run publishes.
    pub fn of<I: Item>(
        schema: &'static str,
        done_key: &'static str,
        plan: &'a Plan<I>,
        outcome: Option<&'a Outcome>,
        planned: impl Fn(&'a I) -> P,
        done: impl Fn(&'a crate::plan::Done) -> D,
        skipped: impl Fn(&'a Skip) -> S,
    ) -> Self {
        let skips = outcome.map_or(&plan.skipped, |o| &o.skipped);
        Self {
            schema,
            done_key,
            dry_run: outcome.is_none(),
            planned: plan.items.iter().map(planned).collect(),
            done: outcome.map_or_else(Vec::new, |o| o.done.iter().map(done).collect()),
            skipped: skips.iter().map(skipped).collect(),
            reclaimed_bytes: outcome.map_or(0, |o| o.reclaimed_bytes),
            equivalent_commands: plan.equivalent_commands(),
            warnings: outcome.map_or(NO_WARNINGS, |o| o.warnings.as_slice()),
            extra: None,
        }
    }
}

impl<P: Serialize, D: Serialize, S: Serialize> Serialize for RunDoc<'_, P, D, S> {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut doc = s.serialize_struct("RunDoc", 8 + usize::from(self.extra.is_some()))?;
        doc.serialize_field("schema", self.schema)?;
        doc.serialize_field("dry_run", &self.dry_run)?;
        doc.serialize_field("planned", &self.planned)?;
        doc.serialize_field(self.done_key, &self.done)?;
        doc.serialize_field("skipped", &self.skipped)?;
        doc.serialize_field("reclaimed_bytes", &self.reclaimed_bytes)?;
        doc.serialize_field("equivalent_commands", &self.equivalent_commands)?;
        doc.serialize_field("warnings", &self.warnings)?;
        if let Some((key, value)) = &self.extra {
            doc.serialize_field(key, value)?;
        }
        doc.end()
    }
}
