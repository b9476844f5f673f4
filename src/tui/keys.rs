//! The one key table. Key handling, the footer hints and the `?` help are all read
//! from it, so they cannot disagree; `--read-only` drops the destructive rows and
//! with them every way to reach a deletion.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the keys mean depends on what is in front.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Table,
    /// Typing a `/` filter.
    Filter,
    Details,
    Help,
    /// A destructive action waits for y/n. Eats every other key.
    Confirm,
    /// A result or notice.
    Message,
    /// An error popup. Eats every other key.
    Error,
}

impl Mode {
    pub const ALL: [Mode; 7] = [
        Mode::Table,
        Mode::Filter,
        Mode::Details,
        Mode::Help,
        Mode::Confirm,
        Mode::Message,
        Mode::Error,
    ];
}

/// What a key asks for. Typed filter characters are not in the table (any printable
/// character types in the filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    CycleSort,
    InvertSort,
    StartFilter,
    CycleFlagFilter,
    ToggleMark,
    MarkAll,
    ClearMarks,
    OpenDetails,
    Delete,
    EvictStale,
    /// `B`: the config file's budget, planned.
    EvictBudget,
    Repair,
    Refresh,
    Help,
    /// Ctrl-c: quit now, whatever is in front or under way.
    ForceQuit,
    /// Close what is in front: details, help, a message, an error.
    Back,
    Quit,
    Confirm,
    Cancel,
    KeepFilter,
    ClearFilter,
    Backspace,
}

/// Destructive rows vanish with `--read-only`; repair rows also vanish when no repair
/// is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Normal,
    Destructive,
    Repair,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

impl Key {
    const fn ch(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: false,
        }
    }
    const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            ctrl: true,
        }
    }
    const fn code(code: KeyCode) -> Key {
        Key { code, ctrl: false }
    }

    /// Shift is part of the character ('S' is shift-s), so it is not compared.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let alt = ev.modifiers.contains(KeyModifiers::ALT);
        !alt && ctrl == self.ctrl && ev.code == self.code
    }
}

pub struct Binding {
    pub modes: &'static [Mode],
    pub keys: &'static [Key],
    pub action: Action,
    /// The keys as the footer and help show them.
    pub label: &'static str,
    pub help: &'static str,
    /// The short footer hint; `None` keeps the row out of the footer.
    pub footer: Option<&'static str>,
    pub class: Class,
}

use Action as A;
use Class::{Destructive, Normal};
use KeyCode as K;
use Mode as M;

const BROWSE: &[Mode] = &[M::Table, M::Details];
const SCROLLING: &[Mode] = &[M::Details, M::Help, M::Confirm, M::Message];

const fn b(
    modes: &'static [Mode],
    keys: &'static [Key],
    action: Action,
    label: &'static str,
    help: &'static str,
    footer: Option<&'static str>,
    class: Class,
) -> Binding {
    Binding {
        modes,
        keys,
        action,
        label,
        help,
        footer,
        class,
    }
}

/// Every binding. The order is the order of footer hints (most useful first) and help.
#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    // The dialogs first: they eat every key they do not list.
    b(M::ALL.as_slice(), &[Key::ctrl('c')], A::ForceQuit, "Ctrl-c", "quit, from anywhere", None, Normal),
    b(&[M::Error], &[Key::code(K::Enter), Key::code(K::Esc)], A::Back, "Enter/Esc", "dismiss the error", Some("dismiss"), Normal),
    b(&[M::Confirm], &[Key::ch('y'), Key::code(K::Enter)], A::Confirm, "y/Enter", "confirm: carry out the plan shown", Some("yes, do it"), Destructive),
    b(&[M::Confirm], &[Key::ch('n'), Key::code(K::Esc)], A::Cancel, "n/Esc", "cancel: discard the plan", Some("no, cancel"), Normal),
    b(&[M::Message], &[Key::code(K::Enter), Key::code(K::Esc), Key::ch('q')], A::Back, "Enter/Esc", "close the message", Some("close"), Normal),
    b(&[M::Filter], &[Key::code(K::Enter)], A::KeepFilter, "Enter", "keep the filter, back to the table", Some("keep"), Normal),
    b(&[M::Filter], &[Key::code(K::Esc)], A::ClearFilter, "Esc", "clear the filter", Some("clear"), Normal),
    b(&[M::Filter], &[Key::code(K::Backspace)], A::Backspace, "Backspace", "delete a character", None, Normal),
    b(&[M::Filter], &[Key::code(K::Up)], A::Up, "↑", "move up while typing", None, Normal),
    b(&[M::Filter], &[Key::code(K::Down)], A::Down, "↓", "move down while typing", None, Normal),
    b(&[M::Help], &[Key::code(K::Esc), Key::ch('?'), Key::ch('q'), Key::code(K::F(1))], A::Back, "Esc/?", "close help", Some("close"), Normal),
    b(&[M::Details], &[Key::code(K::Esc), Key::code(K::Enter), Key::code(K::Backspace)], A::Back, "Esc/Enter", "back to the table", Some("back"), Normal),
    // The table.
    b(&[M::Table], &[Key::ch('j'), Key::code(K::Down)], A::Down, "j/↓", "move down", None, Normal),
    b(&[M::Table], &[Key::ch('k'), Key::code(K::Up)], A::Up, "k/↑", "move up", None, Normal),
    b(SCROLLING, &[Key::ch('j'), Key::code(K::Down)], A::Down, "j/↓", "scroll down", None, Normal),
    b(SCROLLING, &[Key::ch('k'), Key::code(K::Up)], A::Up, "k/↑", "scroll up", None, Normal),
    b(&[M::Table, M::Details, M::Help, M::Confirm, M::Message], &[Key::ch('g'), Key::code(K::Home)], A::Top, "g/Home", "go to the top", None, Normal),
    b(&[M::Table, M::Details, M::Help, M::Confirm, M::Message], &[Key::ch('G'), Key::code(K::End)], A::Bottom, "G/End", "go to the bottom", None, Normal),
    b(&[M::Table, M::Details, M::Help, M::Confirm, M::Message], &[Key::code(K::PageUp), Key::ctrl('u')], A::PageUp, "PgUp/Ctrl-u", "one page up", None, Normal),
    b(&[M::Table, M::Details, M::Help, M::Confirm, M::Message], &[Key::code(K::PageDown), Key::ctrl('d')], A::PageDown, "PgDn/Ctrl-d", "one page down", None, Normal),
    b(BROWSE, &[Key::ch('?'), Key::code(K::F(1))], A::Help, "?", "this help", Some("help"), Normal),
    b(&[M::Table], &[Key::ch('/')], A::StartFilter, "/", "filter on id, type, mount, description", Some("filter"), Normal),
    b(&[M::Table], &[Key::ch(' ')], A::ToggleMark, "Space", "mark or unmark the row, then move down", Some("mark"), Normal),
    b(BROWSE, &[Key::ch('d'), Key::code(K::Delete)], A::Delete, "d", "delete the marked rows (or the selected one), after a confirm", Some("delete"), Destructive),
    b(&[M::Table], &[Key::ch('E')], A::EvictStale, "E", "evict every stale entry, after a confirm", Some("evict stale"), Destructive),
    b(&[M::Table], &[Key::ch('B')], A::EvictBudget, "B", "evict least recently used entries to meet the budget", None, Destructive),
    b(BROWSE, &[Key::ch('R')], A::Repair, "R", "repair the broken parts of the selected entry, after a confirm", Some("repair"), Class::Repair),
    b(&[M::Table], &[Key::code(K::Enter)], A::OpenDetails, "Enter", "details of the selected entry", Some("details"), Normal),
    b(&[M::Table], &[Key::code(K::Esc)], A::ClearFilter, "Esc", "clear a kept filter (/ text and f flags)", None, Normal),
    b(&[M::Table], &[Key::ch('f')], A::CycleFlagFilter, "f", "show: all, stale, partial, in use", Some("flags"), Normal),
    b(&[M::Table], &[Key::ch('s')], A::CycleSort, "s", "sort by the next column", Some("sort"), Normal),
    b(&[M::Table], &[Key::ch('S')], A::InvertSort, "S", "invert the sort", None, Normal),
    b(&[M::Table], &[Key::ch('a')], A::MarkAll, "a", "mark every row shown", None, Normal),
    b(&[M::Table], &[Key::ch('A'), Key::ctrl('\\')], A::ClearMarks, "A", "clear all marks", None, Normal),
    b(BROWSE, &[Key::ch('r'), Key::ctrl('r')], A::Refresh, "r/Ctrl-r", "refresh every source", Some("refresh"), Normal),
    b(BROWSE, &[Key::ch('q')], A::Quit, "q", "quit", Some("quit"), Normal),
];

/// The bindings in force for one run.
#[derive(Clone, Debug)]
pub struct KeyTable {
    rows: Vec<&'static Binding>,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.label, self.action)
    }
}

/// One section of the help screen.
pub struct HelpSection {
    pub title: &'static str,
    pub rows: Vec<(&'static str, &'static str)>,
}

impl KeyTable {
    pub fn new(read_only: bool, repair: bool) -> Self {
        let rows = BINDINGS
            .iter()
            .filter(|b| match b.class {
                Normal => true,
                Destructive => !read_only,
                Class::Repair => repair && !read_only,
            })
            .collect();
        Self { rows }
    }

    pub fn rows(&self) -> &[&'static Binding] {
        &self.rows
    }

    /// The action a key press asks for in `mode`, if any. Releases never count.
    pub fn action(&self, mode: Mode, ev: &KeyEvent) -> Option<Action> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        self.rows
            .iter()
            .find(|b| b.modes.contains(&mode) && b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.action)
    }

    /// Footer hints for `mode`: (keys, what), most useful first. `full` shows every
    /// key of a binding ("y/Enter"), else only the first.
    pub fn footer(&self, mode: Mode, full: bool) -> Vec<(&'static str, &'static str)> {
        self.rows
            .iter()
            .filter(|b| b.modes.contains(&mode))
            .filter_map(|b| {
                b.footer
                    .map(|f| (if full { b.label } else { short_label(b) }, f))
            })
            .collect()
    }

    /// The help screen, one section per mode, each binding once.
    pub fn help(&self) -> Vec<HelpSection> {
        let sections: [(&[Mode], &'static str); 5] = [
            (&[M::Table], "Table"),
            (&[M::Details], "Details"),
            (&[M::Filter], "Filter (after /)"),
            (&[M::Confirm], "Confirm dialog (eats every other key)"),
            (
                &[M::Help, M::Message, M::Error],
                "Help, messages and errors",
            ),
        ];
        let mut seen: Vec<*const Binding> = Vec::new();
        let mut out = Vec::new();
        for (modes, title) in sections {
            let mut rows = Vec::new();
            for b in self
                .rows
                .iter()
                .filter(|b| modes.iter().any(|m| b.modes.contains(m)))
            {
                let p: *const Binding = *b;
                // Shared bindings (Ctrl-c, scrolling) are listed once, where first seen.
                if seen.contains(&p) {
                    continue;
                }
                seen.push(p);
                rows.push((b.label, b.help));
            }
            if !rows.is_empty() {
                out.push(HelpSection { title, rows });
            }
        }
        out
    }
}

/// The first key of a binding, for the narrow footer.
fn short_label(b: &Binding) -> &'static str {
    match b.label.split_once('/') {
        Some((first, _)) if !first.is_empty() => first,
        _ => b.label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn shift_letters_and_ctrl_are_told_apart() {
        let t = KeyTable::new(false, false);
        let s = KeyEvent::new(KeyCode::Char('S'), KeyModifiers::SHIFT);
        assert_eq!(t.action(M::Table, &s), Some(A::InvertSort));
        assert_eq!(t.action(M::Table, &press(K::Char('s'))), Some(A::CycleSort));
        let ctrl_r = KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL);
        assert_eq!(t.action(M::Table, &ctrl_r), Some(A::Refresh));
    }

    #[test]
    fn no_key_is_bound_twice_in_one_mode() {
        let t = KeyTable::new(false, true);
        for mode in M::ALL {
            let rows: Vec<_> = t.rows.iter().filter(|b| b.modes.contains(&mode)).collect();
            for (i, a) in rows.iter().enumerate() {
                for bb in &rows[i + 1..] {
                    for k in a.keys {
                        assert!(!bb.keys.contains(k), "{mode:?}: {k:?} is bound twice");
                    }
                }
            }
        }
    }

    #[test]
    fn read_only_and_no_repair_remove_rows_everywhere() {
        let full = KeyTable::new(false, true);
        assert!(
            full.footer(M::Table, false)
                .iter()
                .any(|(_, f)| *f == "repair")
        );
        let no_repair = KeyTable::new(false, false);
        assert!(no_repair.rows().iter().all(|b| b.action != A::Repair));
        let ro = KeyTable::new(true, true);
        assert!(ro.rows().iter().all(|b| b.class == Normal));
        assert_eq!(ro.action(M::Table, &press(K::Char('d'))), None);
    }
}
