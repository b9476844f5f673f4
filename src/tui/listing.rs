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
    /// Every entry, in the current sort order.
    order: Vec<u32>,
    /// `order` narrowed by the filters: the rows of the table.
    visible: Vec<u32>,
    /// The rows of each shorter filter typed on the way to the current one, so
    /// Backspace is instant.
    narrowed_from: Vec<(String, Vec<u32>)>,
    sort: Option<SortColumn>,
    reversed: bool,
    needle: String,
    flag_filter: Option<FlagFilter>,
    totals: Totals,
    evictable: Evictable,
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

    pub fn evictable(&self) -> Evictable {
        self.evictable
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
            self.resort();
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

    pub fn set_sort(&mut self, column: SortColumn, reversed: bool) {
        if self.sort == Some(column) && self.reversed != reversed {
            // Same column, other way round: no need to compare anything again.
            self.order.reverse();
            self.reversed = reversed;
        } else {
            self.sort = Some(column);
            self.reversed = reversed;
            self.resort();
        }
        self.refilter();
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
            let finder = memchr::memmem::Finder::new(needle.as_bytes());
            let hay = &self.hay;
            let narrowed: Vec<u32> = self
                .visible
                .iter()
                .copied()
                .filter(|&i| finder.find(hay.of_entry(i)).is_some())
                .collect();
            let previous = std::mem::replace(&mut self.visible, narrowed);
            let old = std::mem::replace(&mut self.needle, needle);
            self.narrowed_from.push((old, previous));
            return;
        }
        // Backspace: the rows of a shorter filter are kept from the way in.
        while let Some((old, rows)) = self.narrowed_from.pop() {
            if old == needle {
                self.needle = needle;
                self.visible = rows;
                return;
            }
        }
        self.needle = needle;
        self.refilter();
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
        let bytes = self.entries[i].effective_bytes();
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
        self.resort();
        self.refilter();
        self.summarise(now);
    }

    fn resort(&mut self) {
        let (column, reversed) = self.sort();
        let (entries, ranks) = (&self.entries, &self.ranks);
        let mut keyed: Vec<(u64, u32, u32)> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (sort_key(column, e, ranks, i), ranks.tie[i], i as u32))
            .collect();
        keyed.sort_unstable();
        self.order = keyed.into_iter().map(|(_, _, i)| i).collect();
        // Keys are unique (the tie rank is), so reversing is the inverted sort.
        if reversed {
            self.order.reverse();
        }
    }

    fn refilter(&mut self) {
        self.narrowed_from.clear();
        let want = self.flag_filter().flag().map_or(0, bit);
        let finder = memchr::memmem::Finder::new(self.needle.as_bytes());
        let (bits, hay) = (&self.flag_bits, &self.hay);
        let all = self.needle.is_empty();
        self.visible = self
            .order
            .iter()
            .copied()
            .filter(|&i| {
                bits[i as usize] & want == want && (all || finder.find(hay.of_entry(i)).is_some())
            })
            .collect();
    }

    fn summarise(&mut self, now: DateTime<Utc>) {
        self.totals = totals(self.entries.iter());
        self.evictable = evictable(&self.entries, self.totals.stale_entries, now);
        self.ages = AgeBuckets::of(self.entries.iter(), now, self.age_edges);
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
        Ranks {
            tie: rank_by(
                &|a, b| a.id.cmp(&b.id).then_with(|| a.source.cmp(&b.source)),
                false,
            ),
            kind: rank_by(&|a, b| a.kind.cmp(&b.kind), true),
            source: rank_by(&|a, b| a.source.cmp(&b.source), true),
            label: rank_by(&|a, b| a.label().cmp(b.label()), true),
        }
    }
}

/// The order a person wants first, as a number to sort ascending: biggest, least
/// recently used, oldest, most used, then text A to Z. Unknown times sort as the
/// oldest: they are the first suspects.
fn sort_key(column: SortColumn, e: &Entry, ranks: &Ranks, i: usize) -> u64 {
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or(0, |t| {
            ((t.timestamp() as u64) ^ (1 << 63)).saturating_add(1)
        })
    };
    match column {
        SortColumn::Size => u64::MAX - e.effective_bytes(),
        SortColumn::LastUsed => time(e.last_activity()),
        SortColumn::Created => time(e.created_at),
        SortColumn::Uses => u64::MAX - e.usage_count.map_or(0, |n| n.saturating_add(1)),
        SortColumn::Type => ranks.kind[i] as u64,
        SortColumn::Source => ranks.source[i] as u64,
        SortColumn::What => ranks.label[i] as u64,
    }
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

    #[test]
    fn ages_bucket_by_last_activity() {
        let l = list();
        assert_eq!(l.ages().bytes, [10, 30, 0, 20]);
        assert_eq!(l.totals().size_bytes, 60);
    }
}
