//! The entries on screen, with everything a frame needs already worked out: the
//! sort order, the filtered rows, marks and totals. Sorting and filtering happen when
//! the data, the sort or the filter change, never per frame, so a frame of 100,000
//! entries only touches the rows it shows.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::inventory::{Totals, totals};
use crate::model::{Entry, Flag, SourceRef};
use crate::prune::planner::never_delete;
use crate::prune::{build_plan, stale_eviction};

/// What identifies an entry across refreshes.
pub type Key = (SourceRef, String);

pub fn key_of(e: &Entry) -> Key {
    (e.source.clone(), e.id.clone())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    Size,
    LastUsed,
    Created,
    Uses,
    Type,
    Source,
    What,
}

impl SortColumn {
    /// The order `s` cycles through.
    pub const CYCLE: [SortColumn; 7] = [
        SortColumn::Size,
        SortColumn::LastUsed,
        SortColumn::Created,
        SortColumn::Uses,
        SortColumn::Type,
        SortColumn::Source,
        SortColumn::What,
    ];

    pub fn next(self) -> Self {
        let i = Self::CYCLE.iter().position(|c| *c == self).unwrap_or(0);
        Self::CYCLE[(i + 1) % Self::CYCLE.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            SortColumn::Size => "size",
            SortColumn::LastUsed => "last used",
            SortColumn::Created => "created",
            SortColumn::Uses => "uses",
            SortColumn::Type => "type",
            SortColumn::Source => "source",
            SortColumn::What => "mount/description",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagFilter {
    All,
    Stale,
    Partial,
    InUse,
}

impl FlagFilter {
    pub fn next(self) -> Self {
        match self {
            FlagFilter::All => FlagFilter::Stale,
            FlagFilter::Stale => FlagFilter::Partial,
            FlagFilter::Partial => FlagFilter::InUse,
            FlagFilter::InUse => FlagFilter::All,
        }
    }

    pub fn flag(self) -> Option<Flag> {
        match self {
            FlagFilter::All => None,
            FlagFilter::Stale => Some(Flag::Stale),
            FlagFilter::Partial => Some(Flag::Partial),
            FlagFilter::InUse => Some(Flag::InUse),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FlagFilter::All => "all",
            FlagFilter::Stale => "stale",
            FlagFilter::Partial => "partial",
            FlagFilter::InUse => "in use",
        }
    }
}

/// The chart's buckets live with the chart; the list keeps them up to date.
pub use crate::tui::chart::{AgeBuckets, AgeEdges};

/// What the stale eviction (`E`, `prune --stale`) would delete now: the plan's own
/// count, so nothing shared, in use or kept for any other reason is promised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evictable {
    pub entries: usize,
    pub bytes: u64,
    /// Stale, but the plan keeps them (in use, shared, a child that stays, ...).
    pub kept: usize,
}

#[derive(Debug, Default)]
pub struct EntryList {
    /// Shared with a plan being built off the draw loop; written only through
    /// `Arc::make_mut`, which copies only if such a plan still holds it.
    entries: Arc<Vec<Entry>>,
    /// What `/` searches, lowercased, for every entry in one buffer, so a filter
    /// keystroke is a substring scan over contiguous memory.
    hay: Haystack,
    /// Each entry's flags as bits, for the flag filter.
    flag_bits: Vec<u8>,
    /// Each entry's sizes, times and uses side by side, so sorting and marking read
    /// a small array instead of every entry.
    numbers: Vec<Numbers>,
    index: HashMap<Key, u32>,
    marks: Vec<bool>,
    /// Entries no plan would ever delete (in use, shared, kept by their source):
    /// they cannot be marked.
    blocked: Vec<bool>,
    marked: usize,
    marked_bytes: u64,
    /// Rank of each entry by (id, source), by type, by source and by label: text sorts
    /// are done once when the data changes, so `s` only sorts numbers.
    ranks: Ranks,
    /// Every entry in each column's ascending order, made the first time it is
    /// needed and kept until the data changes, so cycling `s` back is a lookup.
    orders: [Option<Vec<u32>>; SortColumn::CYCLE.len()],
    /// The entries that pass the filters, in the current sort order: the rows of the
    /// table.
    visible: Vec<u32>,
    /// The rows of each shorter filter typed on the way to the current one, and the
    /// sort they were in, so Backspace is instant (they are put in the current order
    /// only when they come back).
    narrowed_from: Vec<Narrowed>,
    /// One flag per entry, reused between keys (matches, or rows kept).
    scratch: Vec<bool>,
    sort: Option<SortColumn>,
    reversed: bool,
    needle: String,
    flag_filter: Option<FlagFilter>,
    totals: Totals,
    /// The last count of what `E` would delete, and the data version it was made
    /// for (none: not counted yet).
    evictable: Evictable,
    evictable_for: Option<u64>,
    /// Bumped on every change of the data, so a count made off the loop is known to
    /// be current or not.
    version: u64,
    /// The time the data was last classified with (what a count uses).
    summarised_at: Option<DateTime<Utc>>,
    ages: AgeBuckets,
    /// From `--stale-after` (see [`EntryList::set_stale_after`]).
    age_edges: AgeEdges,
}

impl EntryList {
    pub fn new() -> Self {
        Self {
            sort: Some(SortColumn::Size),
            flag_filter: Some(FlagFilter::All),
            ..Default::default()
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Every entry, shared without copying (for planning on another thread).
    pub fn snapshot(&self) -> Arc<Vec<Entry>> {
        self.entries.clone()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn visible_len(&self) -> usize {
        self.visible.len()
    }

    /// The entry on row `row` of the table.
    pub fn row(&self, row: usize) -> Option<&Entry> {
        self.visible.get(row).map(|&i| &self.entries[i as usize])
    }

    /// Rows `start..start+len` with their marks: all a frame needs.
    pub fn rows(&self, start: usize, len: usize) -> impl Iterator<Item = (&Entry, bool)> {
        let end = (start + len).min(self.visible.len());
        let start = start.min(end);
        self.visible[start..end]
            .iter()
            .map(|&i| (&self.entries[i as usize], self.marks[i as usize]))
    }

    pub fn get(&self, key: &Key) -> Option<&Entry> {
        self.index.get(key).map(|&i| &self.entries[i as usize])
    }

    /// The table row showing `key`, if it is shown.
    pub fn row_of(&self, key: &Key) -> Option<usize> {
        let i = *self.index.get(key)?;
        self.visible.iter().position(|&v| v == i)
    }

    pub fn sort(&self) -> (SortColumn, bool) {
        (self.sort.unwrap_or(SortColumn::Size), self.reversed)
    }

    pub fn flag_filter(&self) -> FlagFilter {
        self.flag_filter.unwrap_or(FlagFilter::All)
    }

    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The last count of what `E` would delete (see [`EntryList::evictable_due`]).
    pub fn evictable(&self) -> Evictable {
        self.evictable
    }

    /// Whether anything was counted yet.
    pub fn evictable_known(&self) -> bool {
        self.evictable_for.is_some()
    }

    /// Whether the count is of the data shown now.
    pub fn evictable_is_current(&self) -> bool {
        self.evictable_for == Some(self.version)
    }

    /// The count to make off the draw loop, when the data changed since the last
    /// one: building E's plan over 100,000 entries takes most of a second.
    pub fn evictable_due(&self) -> Option<EvictableJob> {
        if self.evictable_is_current() {
            return None;
        }
        Some(EvictableJob {
            version: self.version,
            entries: self.entries.clone(),
            stale: self.totals.stale_entries,
            now: self.summarised_at?,
        })
    }

    /// A count made off the loop for data `version`: shown until a newer one comes.
    pub fn evictable_counted(&mut self, version: u64, counted: Evictable) {
        if self.evictable_for.is_none_or(|v| v <= version) {
            self.evictable = counted;
            self.evictable_for = Some(version);
        }
    }

    pub fn ages(&self) -> &AgeBuckets {
        &self.ages
    }

    /// The chart's buckets follow `--stale-after`.
    pub fn set_stale_after(&mut self, stale_after: std::time::Duration) {
        self.age_edges = AgeEdges::new(stale_after);
        self.ages.edges = self.age_edges;
    }

    pub fn marked(&self) -> (usize, u64) {
        (self.marked, self.marked_bytes)
    }

    pub fn is_marked(&self, key: &Key) -> bool {
        self.index.get(key).is_some_and(|&i| self.marks[i as usize])
    }

    pub fn marked_keys(&self) -> Vec<Key> {
        self.entries
            .iter()
            .zip(&self.marks)
            .filter(|(_, m)| **m)
            .map(|(e, _)| key_of(e))
            .collect()
    }

    /// Replaces everything one source listed. Marks stay on entries that are still there.
    pub fn replace_source(&mut self, source: &SourceRef, fresh: Vec<Entry>, now: DateTime<Utc>) {
        let marked = self.marked_keys();
        let entries = Arc::make_mut(&mut self.entries);
        entries.retain(|e| &e.source != source);
        if entries.is_empty() {
            *entries = fresh; // no copy of a large listing
        } else {
            entries.extend(fresh);
        }
        self.rebuild(now, &marked);
    }

    /// Puts in newer versions of entries already listed (e.g. after a content scan).
    /// Entries no longer listed are ignored.
    pub fn update(&mut self, updated: Vec<Entry>, now: DateTime<Utc>) -> usize {
        let mut applied = 0;
        let mut text_changed = false;
        for e in updated {
            if let Some(&i) = self.index.get(&key_of(&e)) {
                let i = i as usize;
                let old = &self.entries[i];
                text_changed |= old.kind != e.kind || old.label() != e.label();
                if self.marks[i] {
                    self.marked_bytes = self
                        .marked_bytes
                        .saturating_sub(self.entries[i].effective_bytes())
                        + e.effective_bytes();
                }
                self.flag_bits[i] = flag_bits(&e);
                self.numbers[i] = Numbers::of(&e);
                self.blocked[i] = never_delete(&e).is_some();
                Arc::make_mut(&mut self.entries)[i] = e;
                if self.blocked[i] {
                    // In use since it was marked: the mark no longer counts.
                    self.set_mark(i, false);
                }
                applied += 1;
            }
        }
        if applied > 0 {
            if text_changed {
                self.ranks = Ranks::of(&self.entries);
                self.hay = Haystack::of(&self.entries);
            }
            self.orders = Default::default();
            self.refilter();
            self.summarise(now);
        }
        applied
    }

    pub fn remove(&mut self, keys: &[Key], now: DateTime<Utc>) {
        if keys.is_empty() {
            return;
        }
        let marked = self.marked_keys();
        let gone: std::collections::HashSet<&Key> = keys.iter().collect();
        Arc::make_mut(&mut self.entries).retain(|e| !gone.contains(&key_of(e)));
        self.rebuild(now, &marked);
    }

    /// Sorts the rows shown. The filters do not change, so only the rows already
    /// shown are put in the new order; shorter filters' rows are sorted when
    /// Backspace brings them back.
    pub fn set_sort(&mut self, column: SortColumn, reversed: bool) {
        if self.sort == Some(column) && self.reversed == reversed {
            return;
        }
        let same_column = self.sort == Some(column);
        self.sort = Some(column);
        self.reversed = reversed;
        if same_column {
            // Other way round: keys are unique, so reversing is the inverted sort.
            self.visible.reverse();
        } else {
            let rows = std::mem::take(&mut self.visible);
            self.visible = self.in_order(rows);
        }
    }

    pub fn set_flag_filter(&mut self, f: FlagFilter) {
        self.flag_filter = Some(f);
        self.refilter();
    }

    pub fn filter_text(&self) -> &str {
        &self.needle
    }

    /// Sets the text filter. Typing one more character only narrows the rows already
    /// shown, so it never re-reads the whole list.
    pub fn set_filter(&mut self, text: &str) {
        let needle = text.to_lowercase();
        if needle == self.needle {
            return;
        }
        if needle.starts_with(&self.needle) {
            let previous = std::mem::take(&mut self.visible);
            self.visible = self.matching(&needle, &previous);
            let old = std::mem::replace(&mut self.needle, needle);
            self.narrowed_from.push(Narrowed {
                needle: old,
                rows: previous,
                sorted: self.sort(),
            });
            return;
        }
        // Backspace: the rows of a shorter filter are kept from the way in.
        while let Some(n) = self.narrowed_from.pop() {
            if n.needle == needle {
                self.needle = needle;
                self.visible = if n.sorted == self.sort() {
                    n.rows
                } else if n.sorted.0 == self.sort().0 {
                    let mut rows = n.rows;
                    rows.reverse();
                    rows
                } else {
                    self.in_order(n.rows)
                };
                return;
            }
        }
        self.needle = needle;
        self.refilter();
    }

    /// The rows among `rows` whose text contains `needle`, in the same order.
    fn matching(&mut self, needle: &str, rows: &[u32]) -> Vec<u32> {
        let finder = memchr::memmem::Finder::new(needle.as_bytes());
        if rows.len() < self.entries.len() / 4 {
            // Few rows: search each one's text.
            let hay = &self.hay;
            return rows
                .iter()
                .copied()
                .filter(|&i| finder.find(hay.of_entry(i)).is_some())
                .collect();
        }
        // Many rows: one pass over the whole text is much faster than a search per
        // entry (short texts cannot use the vectorised search).
        self.hay.mark_matches(&finder, &mut self.scratch);
        let hit = &self.scratch;
        rows.iter().copied().filter(|&i| hit[i as usize]).collect()
    }

    /// `rows` (any order) in the current sort order.
    fn in_order(&mut self, mut rows: Vec<u32>) -> Vec<u32> {
        let (column, reversed) = self.sort();
        let cached = self.orders[column_slot(column)].is_some();
        if rows.len() == self.entries.len() {
            // Every entry is shown (no filter): the whole order as it is.
            self.ensure_order(column);
            rows.clear();
            let order = self.order(column);
            if reversed {
                rows.extend(order.iter().rev());
            } else {
                rows.extend_from_slice(order);
            }
            return rows;
        }
        if cached || rows.len() >= self.entries.len() / 8 {
            // Many rows, or the order is known: pick them out of the whole order.
            self.scratch.clear();
            self.scratch.resize(self.entries.len(), false);
            for &i in &rows {
                self.scratch[i as usize] = true;
            }
            self.ensure_order(column);
            let (order, keep) = (self.order(column), &self.scratch);
            rows.clear();
            if reversed {
                rows.extend(order.iter().rev().filter(|&&i| keep[i as usize]));
            } else {
                rows.extend(order.iter().filter(|&&i| keep[i as usize]));
            }
            return rows;
        }
        // A few rows of a narrow filter: sort only them.
        let (numbers, ranks) = (&self.numbers, &self.ranks);
        rows.sort_unstable_by_key(|&i| {
            let i = i as usize;
            (sort_key(column, &numbers[i], ranks, i), ranks.tie[i])
        });
        if reversed {
            rows.reverse();
        }
        rows
    }

    /// Sorts every entry by `column` unless that order is already known.
    fn ensure_order(&mut self, column: SortColumn) {
        let slot = column_slot(column);
        let (numbers, ranks) = (&self.numbers, &self.ranks);
        self.orders[slot].get_or_insert_with(|| {
            let keys: Vec<u64> = numbers
                .iter()
                .enumerate()
                .map(|(i, n)| sort_key(column, n, ranks, i))
                .collect();
            radix_order(&keys, &ranks.by_tie)
        });
    }

    /// Every entry in `column`'s ascending order (empty unless ensured).
    fn order(&self, column: SortColumn) -> &[u32] {
        self.orders[column_slot(column)]
            .as_deref()
            .unwrap_or_default()
    }

    /// Marks or unmarks a row. An entry no plan would delete is not marked: the
    /// error says why (in use, shared, kept by its source), so the marked count and
    /// size promise only what `d` can delete.
    pub fn toggle_mark_row(&mut self, row: usize) -> Result<(), String> {
        let Some(&i) = self.visible.get(row) else {
            return Ok(());
        };
        let i = i as usize;
        if !self.marks[i] && self.blocked[i] {
            let why = never_delete(&self.entries[i]).unwrap_or_default();
            return Err(why);
        }
        self.set_mark(i, !self.marks[i]);
        Ok(())
    }

    /// Marks every row shown that a plan could delete; returns how many it left.
    pub fn mark_all_visible(&mut self) -> usize {
        let mut refused = 0;
        for k in 0..self.visible.len() {
            let i = self.visible[k] as usize;
            if self.blocked[i] {
                refused += 1;
            } else {
                self.set_mark(i, true);
            }
        }
        refused
    }

    pub fn clear_marks(&mut self) {
        self.marks.iter_mut().for_each(|m| *m = false);
        self.marked = 0;
        self.marked_bytes = 0;
    }

    fn set_mark(&mut self, i: usize, on: bool) {
        if self.marks[i] == on {
            return;
        }
        self.marks[i] = on;
        let bytes = self.numbers[i].bytes;
        if on {
            self.marked += 1;
            self.marked_bytes = self.marked_bytes.saturating_add(bytes);
        } else {
            self.marked -= 1;
            self.marked_bytes = self.marked_bytes.saturating_sub(bytes);
        }
    }

    fn rebuild(&mut self, now: DateTime<Utc>, marked: &[Key]) {
        self.hay = Haystack::of(&self.entries);
        self.flag_bits = self.entries.iter().map(flag_bits).collect();
        self.numbers = self.entries.iter().map(Numbers::of).collect();
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (key_of(e), i as u32))
            .collect();
        self.ranks = Ranks::of(&self.entries);
        self.marks = vec![false; self.entries.len()];
        self.blocked = self
            .entries
            .iter()
            .map(|e| never_delete(e).is_some())
            .collect();
        self.marked = 0;
        self.marked_bytes = 0;
        for k in marked {
            if let Some(&i) = self.index.get(k)
                && !self.blocked[i as usize]
            {
                self.set_mark(i as usize, true);
            }
        }
        self.orders = Default::default();
        self.refilter();
        self.summarise(now);
    }

    /// The rows from scratch: the whole order, through both filters.
    fn refilter(&mut self) {
        self.narrowed_from.clear();
        let (column, reversed) = self.sort();
        let want = self.flag_filter().flag().map_or(0, bit);
        if !self.needle.is_empty() {
            let finder = memchr::memmem::Finder::new(self.needle.as_bytes());
            self.hay.mark_matches(&finder, &mut self.scratch);
        }
        let mut rows = std::mem::take(&mut self.visible);
        rows.clear();
        let all = self.needle.is_empty();
        self.ensure_order(column);
        let (order, bits, hit) = (self.order(column), &self.flag_bits, &self.scratch);
        let pass = |&&i: &&u32| bits[i as usize] & want == want && (all || hit[i as usize]);
        if reversed {
            rows.extend(order.iter().rev().filter(pass));
        } else {
            rows.extend(order.iter().filter(pass));
        }
        self.visible = rows;
    }

    fn summarise(&mut self, now: DateTime<Utc>) {
        self.version += 1;
        self.summarised_at = Some(now);
        self.totals = totals(self.entries.iter());
        if self.entries.len() <= COUNT_NOW_MAX || self.totals.stale_entries == 0 {
            self.evictable = evictable(&self.entries, self.totals.stale_entries, now);
            self.evictable_for = Some(self.version);
        }
        self.ages = AgeBuckets::of(self.entries.iter(), now, self.age_edges);
    }
}

/// Up to this many entries E's plan is counted at once on the loop (a few
/// milliseconds); more are counted off it (see [`EntryList::evictable_due`]).
pub const COUNT_NOW_MAX: usize = 2_000;

/// Counting what `E` would delete in a snapshot of the data, off the draw loop.
#[derive(Debug)]
pub struct EvictableJob {
    pub version: u64,
    pub entries: Arc<Vec<Entry>>,
    pub stale: usize,
    pub now: DateTime<Utc>,
}

impl EvictableJob {
    pub fn count(&self) -> Evictable {
        evictable(&self.entries, self.stale, self.now)
    }
}

/// What `E` would delete, from the plan `E` builds (the same selector and rules).
pub fn evictable(entries: &[Entry], stale: usize, now: DateTime<Utc>) -> Evictable {
    if stale == 0 {
        return Evictable::default();
    }
    let plan = build_plan(entries, &stale_eviction(), now);
    Evictable {
        entries: plan.items.len(),
        bytes: plan.total_bytes(),
        kept: stale.saturating_sub(plan.items.len()),
    }
}

/// Text columns as numbers: the position of each entry's text in sorted order.
#[derive(Debug, Default)]
struct Ranks {
    /// By id then source: unique, so it also breaks every tie.
    tie: Vec<u32>,
    /// The entries in `tie` order.
    by_tie: Vec<u32>,
    kind: Vec<u32>,
    source: Vec<u32>,
    label: Vec<u32>,
}

impl Ranks {
    fn of(entries: &[Entry]) -> Self {
        let n = entries.len();
        let rank_by = |cmp: &dyn Fn(&Entry, &Entry) -> Ordering, dense: bool| -> Vec<u32> {
            let mut idx: Vec<u32> = (0..n as u32).collect();
            idx.sort_unstable_by(|&a, &b| cmp(&entries[a as usize], &entries[b as usize]));
            let mut rank = vec![0u32; n];
            let mut r = 0u32;
            for (pos, &i) in idx.iter().enumerate() {
                if pos > 0 {
                    let prev = &entries[idx[pos - 1] as usize];
                    if !dense || cmp(prev, &entries[i as usize]) != Ordering::Equal {
                        r += 1;
                    }
                }
                rank[i as usize] = r;
            }
            rank
        };
        let tie = rank_by(
            &|a, b| a.id.cmp(&b.id).then_with(|| a.source.cmp(&b.source)),
            false,
        );
        let mut by_tie = vec![0u32; n];
        for (i, &r) in tie.iter().enumerate() {
            by_tie[r as usize] = i as u32;
        }
        Ranks {
            tie,
            by_tie,
            kind: rank_by(&|a, b| a.kind.cmp(&b.kind), true),
            source: rank_by(&|a, b| a.source.cmp(&b.source), true),
            label: rank_by(&|a, b| a.label().cmp(b.label()), true),
        }
    }
}

/// The order a person wants first, as a number to sort ascending: biggest, least
/// recently used, oldest, most used, then text A to Z. Unknown times sort as the
/// oldest: they are the first suspects.
fn sort_key(column: SortColumn, n: &Numbers, ranks: &Ranks, i: usize) -> u64 {
    match column {
        SortColumn::Size => u64::MAX - n.bytes,
        SortColumn::LastUsed => n.last_used,
        SortColumn::Created => n.created,
        SortColumn::Uses => u64::MAX - n.uses,
        SortColumn::Type => ranks.kind[i] as u64,
        SortColumn::Source => ranks.source[i] as u64,
        SortColumn::What => ranks.label[i] as u64,
    }
}

/// An entry's numbers as the sort keys want them.
#[derive(Clone, Copy, Debug, Default)]
struct Numbers {
    bytes: u64,
    /// Times as numbers that keep their order, 0 when unknown.
    last_used: u64,
    created: u64,
    /// Uses plus one, 0 when unknown.
    uses: u64,
}

impl Numbers {
    fn of(e: &Entry) -> Self {
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or(0, |t| {
                ((t.timestamp() as u64) ^ (1 << 63)).saturating_add(1)
            })
        };
        Numbers {
            bytes: e.effective_bytes(),
            last_used: time(e.last_activity()),
            created: time(e.created_at),
            uses: e.usage_count.map_or(0, |n| n.saturating_add(1)),
        }
    }
}

fn column_slot(column: SortColumn) -> usize {
    SortColumn::CYCLE
        .iter()
        .position(|c| *c == column)
        .unwrap_or(0)
}

/// The rows of a shorter filter, as they were when a longer one was typed.
#[derive(Debug)]
struct Narrowed {
    needle: String,
    rows: Vec<u32>,
    /// The sort they are in.
    sorted: (SortColumn, bool),
}

/// The entries in ascending `(keys[i], tie rank)` order, given the entries in tie
/// order: a stable radix sort by the key's bytes, least significant first, skipping
/// bytes every key shares. A few passes over the data instead of a comparison sort.
fn radix_order(keys: &[u64], by_tie: &[u32]) -> Vec<u32> {
    let (mut all_or, mut all_and) = (0u64, u64::MAX);
    for &k in keys {
        all_or |= k;
        all_and &= k;
    }
    let varying = all_or ^ all_and;
    let mut src: Vec<(u64, u32)> = by_tie.iter().map(|&i| (keys[i as usize], i)).collect();
    let mut dst = vec![(0u64, 0u32); src.len()];
    for shift in (0..64).step_by(8) {
        if (varying >> shift) & 0xff == 0 {
            continue;
        }
        let mut start = [0usize; 256];
        for &(k, _) in &src {
            start[((k >> shift) & 0xff) as usize] += 1;
        }
        let mut sum = 0;
        for s in &mut start {
            let count = *s;
            *s = sum;
            sum += count;
        }
        for &(k, i) in &src {
            let b = ((k >> shift) & 0xff) as usize;
            dst[start[b]] = (k, i);
            start[b] += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    src.into_iter().map(|(_, i)| i).collect()
}

fn bit(f: Flag) -> u8 {
    1 << (Flag::ALL.iter().position(|x| *x == f).unwrap_or(0) as u8)
}

fn flag_bits(e: &Entry) -> u8 {
    e.flags.iter().fold(0, |acc, f| acc | bit(*f))
}

/// What `/` searches: id, type, mount target (and cache id) and description,
/// lowercased, every entry's text one after the other.
#[derive(Debug, Default)]
struct Haystack {
    text: Vec<u8>,
    /// Where entry i's text starts; the last element is the end.
    starts: Vec<u32>,
}

impl Haystack {
    fn of(entries: &[Entry]) -> Self {
        let mut h = Haystack {
            text: Vec::with_capacity(entries.len() * 96),
            starts: Vec::with_capacity(entries.len() + 1),
        };
        for e in entries {
            h.starts.push(h.text.len() as u32);
            let mut push = |s: &str| {
                h.text.extend(s.to_lowercase().bytes());
                // A separator no typed filter contains, so matches never span fields.
                h.text.push(0);
            };
            push(&e.id);
            push(&e.kind);
            if let Some(m) = &e.mount {
                push(&m.target);
                if let Some(c) = &m.cache_id {
                    push(c);
                }
            }
            push(&e.description);
        }
        h.starts.push(h.text.len() as u32);
        h
    }

    /// Sets `hit[i]` for each entry whose text contains the finder's needle, in one
    /// pass over all the text (a needle without the separator never matches across
    /// two entries).
    fn mark_matches(&self, finder: &memchr::memmem::Finder<'_>, hit: &mut Vec<bool>) {
        let n = self.starts.len().saturating_sub(1);
        hit.clear();
        hit.resize(n, false);
        if finder.needle().contains(&0) {
            // Could span two entries' texts: search each one on its own.
            for (i, h) in hit.iter_mut().enumerate() {
                *h = finder.find(self.of_entry(i as u32)).is_some();
            }
            return;
        }
        let mut pos = 0;
        let mut entry = 0;
        while let Some(found) = finder.find(&self.text[pos..]) {
            let at = pos + found;
            // The entry holding `at`: the last one starting at or before it.
            while entry + 1 < n && self.starts[entry + 1] as usize <= at {
                entry += 1;
            }
            if entry >= n {
                break;
            }
            hit[entry] = true;
            // One match is enough: go on from the next entry.
            pos = self.starts[entry + 1] as usize;
        }
    }

    fn of_entry(&self, i: u32) -> &[u8] {
        let i = i as usize;
        &self.text[self.starts[i] as usize..self.starts[i + 1] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SourceKind;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn src() -> SourceRef {
        SourceRef::new(SourceKind::Docker, "unix:///d")
    }

    fn e(id: &str, size: u64, days: i64, desc: &str) -> Entry {
        let mut e = Entry::new(src(), id, "regular");
        e.size_bytes = size;
        e.description = desc.to_string();
        e.last_used_at = Some(now() - chrono::Duration::days(days));
        e
    }

    fn ids(l: &EntryList) -> Vec<&str> {
        l.rows(0, usize::MAX).map(|(e, _)| e.id.as_str()).collect()
    }

    fn list() -> EntryList {
        let mut l = EntryList::new();
        l.replace_source(
            &src(),
            vec![
                e("a", 10, 0, "Alpha step"),
                e("b", 30, 3, "beta"),
                e("c", 20, 40, "gamma alpha"),
            ],
            now(),
        );
        l
    }

    #[test]
    fn sorts_by_size_then_cycles_and_inverts() {
        let mut l = list();
        assert_eq!(ids(&l), ["b", "c", "a"]);
        l.set_sort(SortColumn::LastUsed, false);
        assert_eq!(ids(&l), ["c", "b", "a"], "least recently used first");
        l.set_sort(SortColumn::LastUsed, true);
        assert_eq!(ids(&l), ["a", "b", "c"]);
    }

    #[test]
    fn filter_narrows_widens_and_ignores_case() {
        let mut l = list();
        l.set_filter("alp");
        assert_eq!(ids(&l), ["c", "a"]);
        l.set_filter("alpha s");
        assert_eq!(ids(&l), ["a"]);
        l.set_filter("");
        assert_eq!(ids(&l), ["b", "c", "a"]);
        l.set_filter("BETA");
        assert_eq!(ids(&l), ["b"]);
    }

    #[test]
    fn marks_survive_a_relisting_and_count_bytes() {
        let mut l = list();
        l.toggle_mark_row(0).unwrap(); // b
        l.toggle_mark_row(2).unwrap(); // a
        assert_eq!(l.marked(), (2, 40));
        l.replace_source(&src(), vec![e("a", 11, 0, ""), e("z", 5, 0, "")], now());
        assert_eq!(l.marked(), (1, 11), "b went away, a stayed marked");
        l.clear_marks();
        assert_eq!(l.marked(), (0, 0));
    }

    /// a: stale, deletable; b: stale and in use; c: stale and shared; d: fresh.
    fn mixed() -> EntryList {
        let stale = |id: &str, size| {
            let mut x = e(id, size, 30, "");
            x.flags.insert(Flag::Stale);
            x
        };
        let mut busy = stale("b", 200);
        busy.in_use = true;
        busy.flags.insert(Flag::InUse);
        let mut shared = stale("c", 400);
        shared.shared = true;
        let mut l = EntryList::new();
        l.replace_source(
            &src(),
            vec![stale("a", 100), busy, shared, e("d", 800, 0, "")],
            now(),
        );
        l
    }

    #[test]
    fn stale_counts_only_what_the_eviction_plan_deletes() {
        let l = mixed();
        assert_eq!(
            l.totals().stale_entries,
            3,
            "the flag, as the report counts it"
        );
        assert_eq!(
            l.evictable(),
            Evictable {
                entries: 1,
                bytes: 100,
                kept: 2
            }
        );
        let plan = build_plan(l.entries(), &stale_eviction(), now());
        assert_eq!(plan.items.len(), l.evictable().entries, "E's own plan");
        assert_eq!(plan.total_bytes(), l.evictable().bytes);
        assert_eq!(EntryList::new().evictable(), Evictable::default());
    }

    #[test]
    fn a_big_table_is_counted_off_the_loop_and_a_late_count_never_wins() {
        let stale = |i: usize| {
            let mut x = e(&format!("s{i:05}"), 10, 30, "");
            x.flags.insert(Flag::Stale);
            x
        };
        let n = COUNT_NOW_MAX + 10;
        let mut many: Vec<Entry> = (0..n).map(stale).collect();
        many[0].in_use = true;
        many[0].flags.insert(Flag::InUse);
        many.push(e("fresh", 5, 0, ""));
        let mut l = EntryList::new();
        l.replace_source(&src(), many, now());
        assert!(!l.evictable_known(), "counted on the loop");
        let first = l.evictable_due().expect("no count asked for");
        let counted = first.count();
        let plan = build_plan(l.entries(), &stale_eviction(), now());
        assert_eq!(
            counted,
            Evictable {
                entries: plan.items.len(),
                bytes: plan.total_bytes(),
                kept: 1
            }
        );
        assert_eq!(counted.entries, n - 1);

        // The data changes before the count answers: the count shows, but is not
        // current, and a new one is due.
        l.remove(&[(src(), "s00001".to_string())], now());
        l.evictable_counted(first.version, counted);
        assert_eq!(l.evictable(), counted);
        assert!(!l.evictable_is_current());
        let second = l.evictable_due().expect("no new count asked for");
        assert!(second.version > first.version);
        let recounted = second.count();
        assert_eq!(recounted.entries, n - 2);
        l.evictable_counted(second.version, recounted);
        // An older count arriving late changes nothing.
        l.evictable_counted(first.version, counted);
        assert_eq!(l.evictable(), recounted);
        assert!(l.evictable_is_current() && l.evictable_due().is_none());
    }

    #[test]
    fn what_cannot_be_deleted_is_not_marked_and_says_why() {
        let mut l = mixed();
        assert_eq!(ids(&l), ["d", "c", "b", "a"]);
        let why = l.toggle_mark_row(2).unwrap_err();
        assert_eq!(why, "in use");
        let why = l.toggle_mark_row(1).unwrap_err();
        assert!(why.starts_with("shared"), "{why}");
        assert_eq!(l.marked(), (0, 0), "nothing counted");
        assert_eq!(l.mark_all_visible(), 2, "two left unmarked");
        assert_eq!(l.marked(), (2, 900));
        // a comes into use after it was marked: its mark no longer counts.
        let mut a = l.get(&(src(), "a".to_string())).unwrap().clone();
        a.in_use = true;
        l.update(vec![a], now());
        assert_eq!(l.marked(), (1, 800));
        assert!(l.toggle_mark_row(0).is_ok(), "unmarking is always allowed");
        assert_eq!(l.marked(), (0, 0));
    }

    /// Many entries with spread sizes, times, uses, types and texts (and equal keys,
    /// so the tie order matters), enough for both the whole-order and the few-rows
    /// paths.
    fn many(n: usize, seed: u64) -> Vec<Entry> {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..n)
            .map(|i| {
                let r = next();
                let mut x = e(
                    &format!("{:x}{i}", r % 4096),
                    r % 50,
                    (r % 90) as i64,
                    &format!("step {} of project-{}", i % 13, r % 37),
                );
                x.kind = ["regular", "exec.cachemount", "source.local"][(r % 3) as usize].into();
                x.usage_count = (r % 4 != 0).then_some(r % 6);
                x.created_at =
                    (r % 5 != 0).then(|| now() - chrono::Duration::hours((r % 70) as i64));
                if r % 4 == 0 {
                    x.flags.insert(Flag::Stale);
                }
                x
            })
            .collect()
    }

    /// The rows worked out from nothing: every entry whose text holds the filter and
    /// whose flags pass, by (sort key, tie rank), the other way round if reversed.
    fn expected(l: &EntryList) -> Vec<u32> {
        let (column, reversed) = l.sort();
        let want = l.flag_filter().flag().map_or(0, bit);
        let mut rows: Vec<u32> = (0..l.len() as u32)
            .filter(|&i| {
                let e = &l.entries()[i as usize];
                let mut text = String::new();
                for field in [Some(&e.id), Some(&e.kind)]
                    .into_iter()
                    .chain([e.mount.as_ref().map(|m| &m.target)])
                    .chain([e.mount.as_ref().and_then(|m| m.cache_id.as_ref())])
                    .chain([Some(&e.description)])
                    .flatten()
                {
                    text.push_str(&field.to_lowercase());
                    text.push('\0');
                }
                flag_bits(e) & want == want && text.contains(l.filter_text())
            })
            .collect();
        rows.sort_by_key(|&i| {
            let i = i as usize;
            let numbers = Numbers::of(&l.entries()[i]);
            (sort_key(column, &numbers, &l.ranks, i), l.ranks.tie[i])
        });
        if reversed {
            rows.reverse();
        }
        rows
    }

    #[track_caller]
    fn check(l: &EntryList, when: &str) {
        assert_eq!(l.visible, expected(l), "{when}");
    }

    fn big() -> EntryList {
        let mut l = EntryList::new();
        l.replace_source(&src(), many(400, 0x9e37_79b9_7f4a_7c15), now());
        l
    }

    #[test]
    fn radix_order_is_the_key_then_tie_order() {
        let mut l = big();
        for column in SortColumn::CYCLE {
            l.set_sort(column, false);
            check(&l, column.label());
            assert!(l.orders[column_slot(column)].is_some(), "kept");
        }
        assert!(radix_order(&[], &[]).is_empty());
        assert_eq!(
            radix_order(&[7, 7, 7], &[2, 0, 1]),
            [2, 0, 1],
            "equal keys keep the tie order"
        );
        assert_eq!(
            radix_order(&[1 << 60, 3, 1 << 20, 3], &[3, 2, 1, 0]),
            [3, 1, 2, 0]
        );
    }

    #[test]
    fn sorting_a_kept_filter_sorts_its_rows_as_a_fresh_sort_would() {
        for needle in ["project-1", "step", "e"] {
            let mut l = big();
            l.set_filter(needle);
            check(&l, needle);
            for column in SortColumn::CYCLE.iter().rev() {
                for reversed in [false, true, false] {
                    l.set_sort(*column, reversed);
                    check(&l, &format!("{needle} by {} {reversed}", column.label()));
                }
            }
            // Back to columns whose order is already known.
            for column in SortColumn::CYCLE {
                l.set_sort(column, true);
                check(&l, &format!("{needle} again by {}", column.label()));
            }
        }
    }

    #[test]
    fn widening_and_backspace_after_a_sort_or_a_reversal() {
        let mut l = big();
        for typed in ["p", "pr", "project-", "project-1"] {
            l.set_filter(typed);
        }
        l.set_sort(SortColumn::Created, false);
        check(&l, "sorted while narrowed");
        l.set_filter("project-");
        check(&l, "Backspace after a sort");
        l.set_sort(SortColumn::Created, true);
        l.set_filter("pr");
        check(&l, "Backspace after a reversal");
        l.set_sort(SortColumn::Type, false);
        l.set_filter("p");
        check(&l, "Backspace to a wide filter after a sort");
        l.set_filter("");
        check(&l, "filter cleared");
        l.set_filter("step 1");
        l.set_filter("step 12");
        l.set_sort(SortColumn::Uses, false);
        l.set_filter("step");
        check(&l, "widened past what was typed");
        l.set_flag_filter(FlagFilter::Stale);
        check(&l, "flag filter after all that");
    }

    #[test]
    fn data_replaced_while_a_filter_is_kept_is_sorted_afresh() {
        let mut l = big();
        l.set_filter("project-2");
        l.set_sort(SortColumn::LastUsed, false);
        l.set_sort(SortColumn::Size, false);
        // New sizes and times: the known orders are stale.
        l.replace_source(&src(), many(400, 0x1234_5678_9abc_def1), now());
        check(&l, "relisted");
        l.set_sort(SortColumn::LastUsed, false);
        check(&l, "a column sorted before the relisting");
        l.set_filter("project-");
        check(&l, "widened after the relisting");
        // A content scan changes one size: sorted again, filter kept.
        let first = l.row(0).unwrap().clone();
        let mut bigger = first.clone();
        bigger.size_bytes = 1 << 40;
        l.set_sort(SortColumn::Size, true);
        l.update(vec![bigger], now());
        check(&l, "updated");
        assert_eq!(l.filter_text(), "project-");
        assert_eq!(l.row(l.visible_len() - 1).map(|e| &e.id), Some(&first.id));
        l.remove(&[key_of(&first)], now());
        check(&l, "removed");
    }

    #[test]
    fn a_filter_never_matches_across_two_entries() {
        let mut l = EntryList::new();
        l.replace_source(
            &src(),
            vec![e("x1", 1, 0, "ends with q"), e("z2", 2, 0, "other")],
            now(),
        );
        l.set_filter("q\0z");
        assert!(ids(&l).is_empty(), "{:?}", ids(&l));
        l.set_filter("q\0");
        assert_eq!(ids(&l), ["x1"]);
        l.set_filter("");
        l.set_filter("q");
        l.set_filter("q\0z");
        assert!(ids(&l).is_empty(), "narrowed: {:?}", ids(&l));
    }

    #[test]
    fn ages_bucket_by_last_activity() {
        let l = list();
        assert_eq!(l.ages().bytes, [10, 30, 0, 20]);
        assert_eq!(l.totals().size_bytes, 60);
    }
}
