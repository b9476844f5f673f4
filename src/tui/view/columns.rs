//! The table's columns: which show at a width, how wide each is, and in which words.
//! [`place`] is the one geometry; `layout::columns` applies it to the screen, and
//! both drawing and hit-testing (a click on a heading or a row) read that answer, so
//! they cannot disagree.
//!
//! Priority, most needed first: SIZE, MOUNT / DESCRIPTION (the mount target is what
//! names a cache), LAST USED, FLAGS, TYPE, USES, CREATED, SOURCE, ID. Columns are
//! taken in that order at their narrowest form (short type names, short badges, a
//! cut id) while they fit beside a few columns of mount and description; the width
//! left then widens them, in the same order; the mount and description take the rest.
//! A number is never cut: SIZE, USES and the ages are as wide as the widest value on
//! screen, or the column is not shown at all.

use crate::model::{Entry, Flag};
use crate::report::table::size_cell;
use crate::terminal_text::escape;
use crate::tui::listing::SortColumn;
use crate::units::format_age;
use chrono::{DateTime, Utc};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    Mark,
    Source,
    /// Only when more than one Docker host is read.
    Host,
    Type,
    Id,
    Size,
    LastUsed,
    Created,
    Uses,
    Flags,
    What,
}

use Column as C;

impl Column {
    /// Left to right.
    pub const ORDER: [Column; 11] = [
        C::Mark,
        C::Source,
        C::Host,
        C::Type,
        C::Id,
        C::Size,
        C::LastUsed,
        C::Created,
        C::Uses,
        C::Flags,
        C::What,
    ];

    /// Most needed first: the order columns are taken and widened in (the mark is
    /// always there).
    pub const PRIORITY: [Column; 10] = [
        C::Size,
        C::What,
        C::LastUsed,
        C::Flags,
        // With many hosts, which one an entry lives on matters more than its type.
        C::Host,
        C::Type,
        C::Uses,
        C::Created,
        C::Source,
        C::Id,
    ];

    /// The sort a click on the heading (and its arrow) stands for.
    pub fn sort(self) -> Option<SortColumn> {
        Some(match self {
            C::Source => SortColumn::Source,
            C::Type => SortColumn::Type,
            C::Size => SortColumn::Size,
            C::LastUsed => SortColumn::LastUsed,
            C::Created => SortColumn::Created,
            C::Uses => SortColumn::Uses,
            C::What => SortColumn::What,
            C::Mark | C::Host | C::Id | C::Flags => return None,
        })
    }

    /// Headings, longest first: the longest that fits is shown.
    pub fn heads(self) -> &'static [&'static str] {
        match self {
            C::Mark => &[""],
            C::Source => &["SOURCE", "SRC"],
            C::Host => &["HOST"],
            C::Type => &["TYPE"],
            C::Id => &["ID"],
            C::Size => &["SIZE"],
            C::LastUsed => &["LAST USED", "USED"],
            C::Created => &["CREATED"],
            C::Uses => &["USES"],
            C::Flags => &["FLAGS"],
            C::What => &["MOUNT / DESCRIPTION", "MOUNT / DESCR", "MOUNT"],
        }
    }

    /// Numbers line up on the right.
    pub fn right_aligned(self) -> bool {
        matches!(self, C::Size | C::Uses)
    }

    fn index(self) -> usize {
        Column::ORDER.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// A column on screen: where it starts, how wide it is, and which of its forms it
/// shows (0 is the narrowest: short type names and badges, a cut id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub column: Column,
    pub x: u16,
    pub width: u16,
    pub form: usize,
}

/// Space between columns.
pub const SPACING: u16 = 1;

/// What the rows on screen need: each wanted column's width at each of its forms,
/// narrowest first, and how much of the mount or description must stay in view
/// before lower columns are shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    forms: [Vec<u16>; 11],
    pub what_floor: u16,
}

/// The fewest columns the mount or description keeps while others can give way, and
/// the most it asks for before they show (a long mount target still shows whole at 80
/// columns).
const WHAT_MIN: u16 = 8;
const WHAT_WANT: u16 = 24;
/// A cut id keeps this many characters (and a `…`).
const ID_CUT: u16 = 13;
/// Text from outside can be any length: no column but the mount or description
/// grows past these.
const TYPE_MAX: u16 = 24;
const ID_MAX: u16 = 72;
const FLAGS_MAX: u16 = 40;

impl Needs {
    /// `widths`: the column's width at each form, narrowest first. Unset columns are
    /// not shown.
    pub fn set(&mut self, column: Column, widths: &[u16]) {
        let mut w = widths.to_vec();
        w.sort_unstable();
        w.dedup();
        self.forms[column.index()] = w;
    }

    pub fn forms(&self, column: Column) -> &[u16] {
        &self.forms[column.index()]
    }

    /// The needs of these rows. `sorted` gets room for its arrow; `source` says whether
    /// the source column is wanted.
    pub fn measure<'a>(
        rows: impl Iterator<Item = &'a Entry>,
        now: DateTime<Utc>,
        sorted: SortColumn,
        source: bool,
    ) -> Needs {
        let head = |c: Column, i: usize| {
            let heads = c.heads();
            let h = heads[i.min(heads.len() - 1)].chars().count() as u16;
            h + u16::from(c.sort() == Some(sorted))
        };
        let mut size = 0;
        let mut last_used = 0;
        let mut created = 0;
        let mut uses = 0;
        let mut kind = [0u16; 3];
        let mut flags = [0u16; 3];
        let mut src = 0;
        let mut id = 0;
        let mut what = 0;
        let len = |s: &str| s.chars().count().min(u16::MAX as usize) as u16;
        for e in rows {
            size = size.max(len(&size_cell(e)));
            last_used = last_used.max(len(&format_age(e.last_used_at, now)));
            created = created.max(len(&format_age(e.created_at, now)));
            uses = uses.max(len(&uses_text(e)));
            for (form, w) in kind.iter_mut().enumerate() {
                *w = (*w).max(len(&type_word(&e.kind, form)));
            }
            let b = badges(e);
            for (form, w) in flags.iter_mut().enumerate() {
                *w = (*w).max(badges_width(&b, form));
            }
            src = src.max(len(e.source.kind.as_str()));
            id = id.max(len(&escape(&e.id)));
            let target = match &e.mount {
                Some(m) => len(&escape(&m.target)),
                None => len(&escape(e.label())),
            };
            what = what.max(target);
        }
        let mut n = Needs {
            what_floor: what.clamp(WHAT_MIN, WHAT_WANT),
            ..Needs::default()
        };
        n.set(C::Mark, &[1]);
        n.set(C::Size, &[size.max(head(C::Size, 0))]);
        n.set(
            C::LastUsed,
            &[
                last_used.max(head(C::LastUsed, 1)),
                last_used.max(head(C::LastUsed, 0)),
            ],
        );
        n.set(C::Created, &[created.max(head(C::Created, 0))]);
        n.set(C::Uses, &[uses.max(head(C::Uses, 0))]);
        let t = head(C::Type, 0);
        n.set(C::Type, &kind.map(|w| w.clamp(t, TYPE_MAX.max(t))));
        let f = head(C::Flags, 0);
        n.set(C::Flags, &flags.map(|w| w.clamp(f, FLAGS_MAX)));
        if source {
            n.set(
                C::Source,
                &[src.max(head(C::Source, 1)), src.max(head(C::Source, 0))],
            );
        }
        let id = id.clamp(head(C::Id, 0), ID_MAX);
        n.set(C::Id, &[id.min(ID_CUT), id]);
        n
    }
}

/// How much of the mount or description stays in view before lower columns show:
/// what the rows need, but at most two fifths of a narrow screen, so the last use
/// still shows at 40 columns.
pub fn what_floor(width: u16, needs: &Needs) -> u16 {
    needs.what_floor.min(WHAT_MIN.max(width / 5 * 2))
}

/// Places the columns on a table `width` wide, by [`Column::PRIORITY`]: first every
/// column that fits at its narrowest (SIZE always, whatever the width), keeping
/// `what_floor` for the mount or description; then each widened as far as the width
/// allows, in the same order. The mount or description is last and takes the rest.
/// Pure: the same needs and width always give the same columns.
pub fn place(width: u16, needs: &Needs) -> Vec<Placed> {
    let floor = u32::from(what_floor(width, needs));
    let width = u32::from(width);
    let mut form: [Option<usize>; 11] = [None; 11];
    let cost = |c: Column, f: usize| u32::from(needs.forms(c)[f]) + u32::from(SPACING);
    let mut used = 0u32;
    for c in std::iter::once(C::Mark).chain(Column::PRIORITY) {
        if c == C::What || needs.forms(c).is_empty() {
            continue;
        }
        let always = matches!(c, C::Mark | C::Size);
        if always || used + cost(c, 0) + floor <= width {
            form[c.index()] = Some(0);
            used += cost(c, 0);
        }
    }
    for c in Column::PRIORITY {
        let Some(now) = form[c.index()] else {
            continue;
        };
        let wider = (now + 1..needs.forms(c).len())
            .rev()
            .find(|&f| used - cost(c, now) + cost(c, f) + floor <= width);
        if let Some(f) = wider {
            used = used - cost(c, now) + cost(c, f);
            form[c.index()] = Some(f);
        }
    }
    let mut out = Vec::new();
    let mut x = 0u32;
    for c in Column::ORDER {
        if c == C::What {
            let w = width.saturating_sub(x);
            out.push(Placed {
                column: c,
                x: x.min(u32::from(u16::MAX)) as u16,
                width: w as u16,
                form: 0,
            });
            continue;
        }
        if let Some(f) = form[c.index()] {
            let w = u32::from(needs.forms(c)[f]);
            out.push(Placed {
                column: c,
                x: x.min(u32::from(u16::MAX)) as u16,
                width: w.min(width.saturating_sub(x)) as u16,
                form: f,
            });
            x += w + u32::from(SPACING);
        }
    }
    out
}

/// The HOST column's forms (14, 18, 24 columns, or as wide as the longest label in
/// view): shown only when more than one Docker host is read.
pub fn host_forms<'a>(rows: impl Iterator<Item = &'a Entry>) -> Vec<u16> {
    let longest = rows
        .filter_map(|e| e.host.as_deref())
        .map(|h| host_label(h, usize::MAX).chars().count())
        .max()
        .unwrap_or(0)
        .min(u16::MAX as usize) as u16;
    [14, 18, 24].map(|w: u16| w.min(longest.max(4))).to_vec()
}

/// A host in `width` characters: without `unix://` or `tcp://`, and when still too
/// long its end, which tells sockets of one directory tree apart (`…-b/docker.sock`).
pub fn host_label(host: &str, width: usize) -> String {
    let short = ["unix://", "tcp://"]
        .iter()
        .find_map(|p| host.strip_prefix(p))
        .unwrap_or(host);
    let short = escape(short);
    let n = short.chars().count();
    if n <= width {
        return short.into_owned();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = short.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

/// `-` when the source does not count uses.
pub fn uses_text(e: &Entry) -> String {
    e.usage_count.map_or("-".to_string(), |n| n.to_string())
}

/// A record type in `form` words: 0 the shortest (`mount`), 1 without its family
/// (`cachemount`), 2 as the source names it (`exec.cachemount`). Escaped.
pub fn type_word(kind: &str, form: usize) -> String {
    let short = match kind {
        "exec.cachemount" => Some("mount"),
        "source.git.checkout" => Some("git"),
        _ => None,
    };
    let word = match form {
        0 => short.unwrap_or_else(|| last_part(kind)),
        1 => last_part(kind),
        _ => kind,
    };
    escape(word).into_owned()
}

fn last_part(kind: &str) -> &str {
    kind.rsplit('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(kind)
}

/// What a row is marked with, most pressing first: a flag, or `Shared` (Docker's
/// `Shared` records, which `docker system df -v` shows in a SHARED column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Badge {
    Partial,
    InUse,
    Shared,
    Stale,
    SizeMismatch,
    Orphaned,
}

impl Badge {
    /// The word, readable without colour: `short` for narrow screens.
    pub fn word(self, short: bool) -> &'static str {
        match (self, short) {
            (Badge::Partial, false) => "PARTIAL",
            (Badge::Partial, true) => "PART",
            (Badge::InUse, false) => "IN USE",
            (Badge::InUse, true) => "INUSE",
            (Badge::Shared, false) => "SHARED",
            (Badge::Shared, true) => "SHRD",
            (Badge::Stale, _) => "STALE",
            (Badge::SizeMismatch, _) => "SIZE?",
            (Badge::Orphaned, false) => "ORPHAN",
            (Badge::Orphaned, true) => "ORPH",
        }
    }

    /// The flag it shows, if it is one (shared is a fact of the record, not a flag).
    pub fn flag(self) -> Option<Flag> {
        match self {
            Badge::Partial => Some(Flag::Partial),
            Badge::InUse => Some(Flag::InUse),
            Badge::Shared => None,
            Badge::Stale => Some(Flag::Stale),
            Badge::SizeMismatch => Some(Flag::SizeMismatch),
            Badge::Orphaned => Some(Flag::Orphaned),
        }
    }
}

/// An entry's badges, most pressing first.
pub fn badges(e: &Entry) -> Vec<Badge> {
    let mut out = Vec::new();
    for b in [
        Badge::Partial,
        Badge::InUse,
        Badge::Shared,
        Badge::Stale,
        Badge::SizeMismatch,
        Badge::Orphaned,
    ] {
        let on = match b.flag() {
            Some(f) => e.has(f),
            None => e.shared,
        };
        if on {
            out.push(b);
        }
    }
    out
}

/// The words of `badges` in `form`: 0 the first short word and `+N` for the rest,
/// 1 every short word, 2 every whole word.
pub fn badge_words(badges: &[Badge], form: usize) -> (Vec<(Badge, &'static str)>, usize) {
    match form {
        0 => (
            badges.iter().take(1).map(|b| (*b, b.word(true))).collect(),
            badges.len().saturating_sub(1),
        ),
        f => (badges.iter().map(|b| (*b, b.word(f == 1))).collect(), 0),
    }
}

/// The width of words one space apart, and `+N` after them when `more` are left out.
pub fn words_width(words: &[(Badge, &str)], more: usize) -> usize {
    let mut w = words.iter().map(|(_, s)| s.len()).sum::<usize>() + words.len().saturating_sub(1);
    if more > 0 {
        w += usize::from(!words.is_empty()) + format!("+{more}").len();
    }
    w
}

fn badges_width(badges: &[Badge], form: usize) -> u16 {
    let (words, more) = badge_words(badges, form);
    words_width(&words, more).min(u16::MAX as usize) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs like the sample screen's: sizes up to `999.99 MB*`, ages up to
    /// `just now`, two-digit uses, every badge form, 25-character ids.
    fn needs(source: bool) -> Needs {
        let mut n = Needs {
            what_floor: 24,
            ..Needs::default()
        };
        n.set(C::Mark, &[1]);
        n.set(C::Size, &[10]);
        n.set(C::LastUsed, &[8, 9]);
        n.set(C::Created, &[7]);
        n.set(C::Uses, &[4]);
        n.set(C::Type, &[7, 10, 15]);
        n.set(C::Flags, &[7, 16, 19]);
        if source {
            n.set(C::Source, &[6]);
        }
        n.set(C::Id, &[13, 25]);
        n
    }

    fn names(p: &[Placed]) -> Vec<Column> {
        p.iter().map(|p| p.column).collect()
    }

    fn of(p: &[Placed], c: Column) -> Option<Placed> {
        p.iter().copied().find(|p| p.column == c)
    }

    #[test]
    fn many_hosts_put_a_host_column_after_the_source_that_gives_way_after_the_flags() {
        let mut n = needs(true);
        n.set(C::Host, &[14, 18, 24]);
        let wide = names(&place(200, &n));
        assert_eq!(wide[..4], [C::Mark, C::Source, C::Host, C::Type]);
        assert_eq!(of(&place(200, &n), C::Host).map(|p| p.width), Some(24));
        // Narrow: it gives way like any other column, in its place of the priority.
        assert!(!names(&place(40, &n)).contains(&C::Host));
        for w in 0..=300u16 {
            let shown = names(&place(w, &n));
            if shown.contains(&C::Host) {
                for above in [C::Size, C::LastUsed, C::Flags] {
                    assert!(shown.contains(&above), "{w}: host shows before {above:?}");
                }
            }
        }
        // One host: no column.
        assert!(!names(&place(200, &needs(true))).contains(&C::Host));
    }

    #[test]
    fn a_host_label_keeps_the_end_that_tells_hosts_apart() {
        assert_eq!(host_label("tcp://10.0.0.2:2375", 14), "10.0.0.2:2375");
        assert_eq!(
            host_label("unix:///tmp/cachetop-testd-bk/docker.sock", 14),
            "…k/docker.sock"
        );
        assert_eq!(host_label("unix:///a\x1b.sock", 20), "/a\\x1b.sock");
        assert_eq!(host_label("ssh://ci@runner-2", 40), "ssh://ci@runner-2");
        assert_eq!(host_label("unix:///abc", 0), "");
    }

    #[test]
    fn columns_give_way_in_priority_order() {
        let n = needs(true);
        assert_eq!(
            names(&place(40, &n)),
            [C::Mark, C::Size, C::LastUsed, C::What]
        );
        // TYPE does not fit beside the mount; USES, narrower, does.
        assert_eq!(
            names(&place(60, &n)),
            [C::Mark, C::Size, C::LastUsed, C::Uses, C::Flags, C::What]
        );
        assert_eq!(
            names(&place(80, &n)),
            [
                C::Mark,
                C::Type,
                C::Size,
                C::LastUsed,
                C::Created,
                C::Uses,
                C::Flags,
                C::What
            ]
        );
        assert_eq!(
            names(&place(120, &n)),
            [
                C::Mark,
                C::Source,
                C::Type,
                C::Id,
                C::Size,
                C::LastUsed,
                C::Created,
                C::Uses,
                C::Flags,
                C::What
            ]
        );
        // Whatever the width, a column shows only if every column above it does, or
        // it is narrower than the one that gave way.
        for w in 0..=300u16 {
            let p = place(w, &n);
            let shown: Vec<Column> = names(&p);
            for (i, c) in Column::PRIORITY.iter().enumerate() {
                if shown.contains(c) || *c == C::What || n.forms(*c).is_empty() {
                    continue;
                }
                for lower in &Column::PRIORITY[i + 1..] {
                    if shown.contains(lower) {
                        assert!(
                            n.forms(*lower)[0] < n.forms(*c)[0],
                            "{w}: {lower:?} shows while {c:?} does not"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn columns_tile_the_width_and_size_is_never_narrowed() {
        let n = needs(false);
        for w in 0..=300u16 {
            let p = place(w, &n);
            let size = of(&p, C::Size).expect("SIZE always shows");
            if w >= 12 {
                assert_eq!(size.width, 10, "{w}");
            }
            if w < 14 {
                continue; // not even SIZE and a column of text fit: nothing more to hold
            }
            // Left to right, one space apart, the last column ending at the edge.
            for pair in p.windows(2) {
                assert_eq!(pair[1].x, pair[0].x + pair[0].width + SPACING, "{w}: {p:?}");
            }
            let last = p.last().unwrap();
            assert_eq!(last.column, C::What);
            if w >= 12 {
                assert_eq!(last.x + last.width, w, "{w}");
            }
            if w >= 40 {
                assert!(last.width >= what_floor(w, &n), "{w}: {p:?}");
            }
        }
    }

    #[test]
    fn wide_screens_show_the_full_id_and_whole_words() {
        let p = place(250, &needs(true));
        assert_eq!(of(&p, C::Id).unwrap().width, 25, "the whole id");
        assert_eq!(of(&p, C::Type).unwrap().form, 2, "exec.cachemount");
        assert_eq!(of(&p, C::Flags).unwrap().form, 2, "whole badges");
        let p = place(80, &needs(true));
        assert!(of(&p, C::Type).unwrap().form < 2, "mount or cachemount");
        assert!(of(&p, C::Id).is_none());
    }

    #[test]
    fn words_for_narrow_screens() {
        assert_eq!(type_word("exec.cachemount", 0), "mount");
        assert_eq!(type_word("exec.cachemount", 1), "cachemount");
        assert_eq!(type_word("exec.cachemount", 2), "exec.cachemount");
        assert_eq!(type_word("source.local", 0), "local");
        assert_eq!(type_word("regular", 0), "regular");
        assert_eq!(type_word("odd.", 0), "odd.");
        assert_eq!(type_word("a\u{1b}b", 2), "a\\x1bb", "escaped");
        let mut e = Entry::new(
            crate::model::SourceRef::new(crate::model::SourceKind::Docker, "d"),
            "x",
            "regular",
        );
        e.flags.insert(Flag::Stale);
        e.flags.insert(Flag::Partial);
        e.shared = true;
        let b = badges(&e);
        assert_eq!(b, [Badge::Partial, Badge::Shared, Badge::Stale]);
        assert_eq!(badge_words(&b, 0), (vec![(Badge::Partial, "PART")], 2));
        assert_eq!(badges_width(&b, 0), 7, "PART +2");
        let words: Vec<&str> = badge_words(&b, 2).0.iter().map(|(_, w)| *w).collect();
        assert_eq!(words, ["PARTIAL", "SHARED", "STALE"]);
    }
}
