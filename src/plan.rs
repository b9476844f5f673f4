//! The vocabulary of a destructive run, shared by prune (whole entries) and repair
//! (broken parts inside them): a plan of items and what was left alone and why, what
//! a run did, and the steps it reports as it goes. A plan is a value: the dry run and
//! the real run print the same one, and execution does only what it lists.

use std::sync::Arc;

use crate::model::{Entry, SourceRef};
use crate::units::sum_bytes;

/// One thing a plan will do to one entry.
pub trait Item {
    /// The entry, as planned.
    fn entry(&self) -> &Entry;
    /// What doing it frees.
    fn bytes(&self) -> u64;
    /// The shell commands that would do the same by hand.
    fn commands(&self) -> Vec<String>;
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan<I> {
    /// In the order they are carried out.
    pub items: Vec<I>,
    /// What was asked for and is left alone, each with why: ids no entry has first.
    pub skipped: Vec<Skip>,
}

impl<I> Default for Plan<I> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

impl<I: Item> Plan<I> {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        sum_bytes(self.items.iter().map(Item::bytes))
    }

    /// The commands that would do the same with the ecosystem's own tools.
    pub fn equivalent_commands(&self) -> Vec<String> {
        self.items.iter().flat_map(Item::commands).collect()
    }

    /// Ids asked for that no entry has.
    pub fn unknown_ids(&self) -> impl Iterator<Item = &str> {
        self.skipped
            .iter()
            .filter(|s| s.source.is_none())
            .map(|s| s.id.as_str())
    }
}

/// An entry, or one part of it, left alone, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// `None` when no entry has the id.
    pub source: Option<SourceRef>,
    pub id: String,
    /// The part, when only a part of the entry was meant.
    pub path: Option<String>,
    pub reason: String,
}

impl Skip {
    /// A whole entry left alone.
    pub fn entry(e: &Entry, reason: impl Into<String>) -> Self {
        Self {
            source: Some(e.source.clone()),
            id: e.id.clone(),
            path: None,
            reason: reason.into(),
        }
    }

    /// An id no entry has.
    pub fn unknown(id: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            source: None,
            id: id.into(),
            path: None,
            reason: reason.into(),
        }
    }

    /// The kind of source, as tables show it (`-` for an id no entry has).
    pub fn source_kind(&self) -> &'static str {
        self.source.as_ref().map_or("-", |s| s.kind.as_str())
    }
}

/// What went: an entry, or one part of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    pub source: SourceRef,
    pub id: String,
    /// The part removed, when only a part of the entry went.
    pub path: Option<String>,
    pub bytes: u64,
    /// False for what a source deleted beyond the plan (also a warning).
    pub planned: bool,
}

/// How a run went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub done: Vec<Done>,
    /// The plan's skips, then what was left alone at run time, each with why.
    pub skipped: Vec<Skip>,
    pub reclaimed_bytes: u64,
    /// Differences between what a source did and what the plan said.
    pub warnings: Vec<String>,
    /// Planned items that failed (as opposed to safety skips such as "in use now").
    pub failures: usize,
    /// Planned items sent but whose result nobody could tell: the source stopped
    /// answering. Their skip reason starts with "unknown:".
    pub unknown: usize,
}

impl Outcome {
    /// An outcome that starts from the plan's own skips.
    pub fn of<I>(plan: &Plan<I>) -> Self {
        Self {
            skipped: plan.skipped.clone(),
            ..Default::default()
        }
    }

    /// Every planned item either went or was skipped for safety, and every answer
    /// matched the plan.
    pub fn is_clean(&self) -> bool {
        self.warnings.is_empty() && self.failures == 0 && self.unknown == 0
    }

    /// How many planned items went.
    pub fn planned_done(&self) -> usize {
        self.done.iter().filter(|d| d.planned).count()
    }

    /// The skips made while executing, after the plan's own.
    pub fn late_skips<I>(&self, plan: &Plan<I>) -> &[Skip] {
        self.skipped.get(plan.skipped.len()..).unwrap_or_default()
    }
}

/// One step of a run, for progress display.
#[derive(Clone, Copy, Debug)]
pub enum Step<'a> {
    /// Reading the source again, to check the plan still holds.
    Rereading(&'a SourceRef),
    Deleting(&'a Entry),
    /// Looking into the content again, to check what is still broken.
    Rescanning(&'a Entry),
    Removing {
        entry: &'a Entry,
        path: &'a str,
    },
}

/// Told each step as a run takes it (from any thread).
pub type Progress = Arc<dyn Fn(Step<'_>) + Send + Sync>;

/// Progress nobody watches.
pub fn quietly() -> Progress {
    Arc::new(|_: Step<'_>| {})
}
