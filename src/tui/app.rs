//! The screen's state and the only place it changes: keys become actions through the
//! key table, `update` applies them and returns effects (what the worker should do),
//! and worker events are applied the same way. No I/O and no clock reading here:
//! `now` is set from outside, so tests run on a fixed clock.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent};
use ratatui::layout::Rect;

use crate::model::{Entry, SourceRef};
use crate::policy::Policy;
use crate::prune::Plan;
use crate::repair::RepairPlan;
use crate::report::origins::Origins;
use crate::tui::keys::{Action, KeyTable, Mode};
use crate::tui::listing::{EntryList, EvictableJob, Key, SortColumn, key_of};
use crate::tui::live::{self, Live};
use crate::tui::message::Event;
use crate::tui::mouse::{self, MouseAction};
use crate::tui::planning::{Ask, PlanRequest, Planned};
use crate::tui::repaired::RepairMemory;
use crate::tui::text::{self, TextLine};
use crate::tui::view::layout;

/// What the worker should do next.
#[derive(Debug)]
pub enum Effect {
    Refresh,
    /// Build a plan for a destructive key (pure, but heavy: off the draw loop).
    Plan(Box<PlanRequest>),
    Prune(Plan),
    PlanRepair(Box<Entry>),
    Repair(RepairPlan),
    /// A big dialog closed: free it off the draw loop (100,000 lines take a while).
    Discard(Box<Overlay>),
    /// Count what `E` would delete in a big table (its plan, off the draw loop).
    Count(Box<EvictableJob>),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    pub read_only: bool,
    /// A repair is configured (`R` is bound).
    pub repair: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceState {
    Loading,
    Ready { summary: String },
    Failed { error: String },
}

#[derive(Clone, Debug)]
pub struct SourceView {
    pub source: SourceRef,
    pub state: SourceState,
    /// A refresh of this source is under way.
    pub loading: bool,
    /// Entries it listed last time.
    pub entries: usize,
    /// The Docker host it belongs to, once it has answered.
    pub host: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    Table,
    Details { key: Key, scroll: usize },
}

/// A destructive action waiting for y/n: a value, nothing has happened yet.
#[derive(Clone, Debug)]
pub enum Pending {
    Prune { plan: Plan },
    Repair(Box<RepairPlan>),
}

#[derive(Clone, Debug)]
pub enum Overlay {
    Help {
        lines: Vec<TextLine>,
        scroll: usize,
    },
    Confirm {
        title: String,
        pending: Box<Pending>,
        lines: Vec<TextLine>,
        scroll: usize,
    },
    Message {
        title: String,
        lines: Vec<TextLine>,
        scroll: usize,
    },
}

impl Overlay {
    pub fn lines(&self) -> &[TextLine] {
        match self {
            Overlay::Help { lines, .. }
            | Overlay::Confirm { lines, .. }
            | Overlay::Message { lines, .. } => lines,
        }
    }

    pub fn scroll(&self) -> usize {
        match self {
            Overlay::Help { scroll, .. }
            | Overlay::Confirm { scroll, .. }
            | Overlay::Message { scroll, .. } => *scroll,
        }
    }

    fn scroll_mut(&mut self) -> &mut usize {
        match self {
            Overlay::Help { scroll, .. }
            | Overlay::Confirm { scroll, .. }
            | Overlay::Message { scroll, .. } => scroll,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Busy {
    Planning,
    Pruning { step: Option<String> },
    PlanningRepair,
    Repairing,
}

pub struct App {
    pub now: DateTime<Utc>,
    pub policy: Policy,
    pub caps: Caps,
    pub keys: KeyTable,
    pub sources: Vec<SourceView>,
    pub list: EntryList,
    /// Selected row of the table, and the first row drawn.
    pub cursor: usize,
    pub offset: usize,
    pub screen: Screen,
    /// Popups, the last one in front.
    pub overlays: Vec<Overlay>,
    /// Every error until it is dismissed, oldest first.
    pub errors: VecDeque<String>,
    /// The filter as typed (the list keeps it lowercased).
    pub filter: String,
    pub editing_filter: bool,
    pub busy: Option<Busy>,
    /// Content scans: (done, total) while they run.
    pub scan: Option<(usize, usize)>,
    /// From a refresh's start until the worker says it is over.
    pub refreshing: bool,
    pub generation: u64,
    pub spinner: usize,
    /// A one-line remark in the status bar, gone at the next key.
    pub notice: Option<String>,
    pub area: Rect,
    pub quit: bool,
    quit_armed: bool,
    /// `--lint`: the Dockerfiles the details pane links cache mounts to.
    pub origins: Option<Arc<Origins>>,
    /// When the data was read, the disks, the budget, background refreshes.
    pub live: Live,
    /// What repairs removed, to judge repaired entries' sizes by.
    repairs: RepairMemory,
    /// What `E` would delete is being counted off the loop.
    counting: bool,
}

impl App {
    /// The Docker hosts of the sources that have answered, each once, in order.
    pub fn hosts(&self) -> Vec<&str> {
        crate::sources::hosts::hosts_in(self.sources.iter().map(|s| s.host.as_deref()))
    }

    pub fn new(
        sources: Vec<SourceRef>,
        policy: Policy,
        caps: Caps,
        now: DateTime<Utc>,
        area: Rect,
    ) -> Self {
        let mut list = EntryList::new();
        list.set_stale_after(policy.stale_after);
        Self {
            now,
            policy,
            caps,
            keys: KeyTable::new(caps.read_only, caps.repair),
            sources: sources
                .into_iter()
                .map(|source| SourceView {
                    source,
                    state: SourceState::Loading,
                    loading: true,
                    entries: 0,
                    host: None,
                })
                .collect(),
            list,
            cursor: 0,
            offset: 0,
            screen: Screen::Table,
            overlays: Vec::new(),
            errors: VecDeque::new(),
            filter: String::new(),
            editing_filter: false,
            busy: None,
            scan: None,
            refreshing: false,
            generation: 0,
            spinner: 0,
            notice: None,
            area,
            quit: false,
            quit_armed: false,
            origins: None,
            live: Live::default(),
            repairs: RepairMemory::default(),
            counting: false,
        }
    }

    /// Links cache mounts to the `--lint` Dockerfiles; what could not be linted is
    /// said once in the status bar (the screen runs all the same).
    pub fn set_origins(&mut self, origins: Option<Arc<Origins>>) {
        if let Some(first) = origins.as_ref().and_then(|o| o.warnings().first()) {
            let n = origins.as_ref().map_or(0, |o| o.warnings().len());
            let more = if n > 1 {
                format!(" (and {} more)", n - 1)
            } else {
                String::new()
            };
            self.notice = Some(format!("lint: {first}{more}"));
        }
        self.origins = origins;
    }

    /// What the screen asks for as soon as it is up.
    pub fn start(&self) -> Vec<Effect> {
        vec![Effect::Refresh]
    }

    /// Which part of the key table applies: the error popup first, then the front
    /// popup, then the filter line, then the screen.
    pub fn mode(&self) -> Mode {
        if !self.errors.is_empty() {
            return Mode::Error;
        }
        match self.overlays.last() {
            Some(Overlay::Help { .. }) => Mode::Help,
            Some(Overlay::Confirm { .. }) => Mode::Confirm,
            Some(Overlay::Message { .. }) => Mode::Message,
            None if self.editing_filter => Mode::Filter,
            None => match self.screen {
                Screen::Table => Mode::Table,
                Screen::Details { .. } => Mode::Details,
            },
        }
    }

    /// Work is under way: the spinner turns and the screen redraws on its tick.
    pub fn in_flight(&self) -> bool {
        self.busy.is_some()
            || self.counting
            || self.scan.is_some()
            || self.refreshing
            || self.sources.iter().any(|s| s.loading)
    }

    pub fn tick(&mut self) {
        self.spinner = self.spinner.wrapping_add(1);
    }

    pub fn resize(&mut self, width: u16, height: u16) {
        self.area = Rect::new(0, 0, width, height);
        self.clamp_cursor();
        self.clamp_scroll();
    }

    pub fn selected(&self) -> Option<&Entry> {
        self.list.row(self.cursor)
    }

    /// The entry the details pane shows, if it is still listed.
    pub fn details_entry(&self) -> Option<&Entry> {
        match &self.screen {
            Screen::Details { key, .. } => self.list.get(key),
            Screen::Table => None,
        }
    }

    pub fn details_lines(&self) -> Vec<TextLine> {
        match self.details_entry() {
            Some(e) => {
                let made_by = self.origins.as_ref().map(|o| o.of(e));
                let can = text::Can::from_keys(&self.keys);
                text::details(e, self.now, &self.policy, made_by.as_deref(), can)
            }
            None => vec![TextLine::new(
                text::Tone::Warn,
                "This entry is no longer listed (deleted, or gone at the last refresh).",
            )],
        }
    }

    /// A key press: through the key table, or typed into the filter.
    pub fn handle_key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        if ev.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.notice = None;
        let mode = self.mode();
        match self.keys.action(mode, &ev) {
            Some(action) => self.update(action),
            None => {
                if mode == Mode::Filter
                    && let KeyCode::Char(c) = ev.code
                    && !ev
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
                {
                    self.filter.push(c);
                    self.apply_filter();
                }
                // Everything else is eaten, most importantly by dialogs.
                Vec::new()
            }
        }
    }

    /// A mouse event (see `tui::mouse`); `None` when it means nothing here (a move,
    /// a click beside the rows), so nothing is redrawn for it.
    pub fn handle_mouse(&mut self, ev: MouseEvent) -> Option<Vec<Effect>> {
        let what = mouse::action(self, &ev)?;
        self.notice = None;
        Some(match what {
            MouseAction::Scroll(action, times) => {
                (0..times).flat_map(|_| self.update(action)).collect()
            }
            MouseAction::Select(row) => {
                self.cursor = row;
                self.clamp_cursor();
                Vec::new()
            }
            MouseAction::Sort(col) => {
                let (now, reversed) = self.list.sort();
                let reverse = now == col && !reversed;
                self.keep_selection(|l| l.set_sort(col, reverse));
                Vec::new()
            }
        })
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let armed = std::mem::take(&mut self.quit_armed);
        match action {
            Action::ForceQuit => {
                self.quit = true;
                return Vec::new();
            }
            Action::Quit if self.busy.is_some() && !armed => {
                // Quitting mid-prune leaves the outcome unseen: ask once more.
                self.quit_armed = true;
                self.notice = Some("work is still running: press q again to quit anyway".into());
                return Vec::new();
            }
            Action::Quit => {
                self.quit = true;
                return Vec::new();
            }
            _ => {}
        }
        match self.mode() {
            Mode::Error => {
                if action == Action::Back {
                    self.errors.pop_front();
                }
                Vec::new()
            }
            Mode::Confirm => self.update_confirm(action),
            Mode::Help | Mode::Message => match action {
                Action::Back => self.overlays.pop().and_then(discard).into_iter().collect(),
                a => {
                    self.scroll(a);
                    Vec::new()
                }
            },
            Mode::Filter => {
                match action {
                    Action::KeepFilter => self.editing_filter = false,
                    Action::ClearFilter => {
                        self.editing_filter = false;
                        self.filter.clear();
                        self.apply_filter();
                    }
                    Action::Backspace => {
                        self.filter.pop();
                        self.apply_filter();
                    }
                    Action::Up | Action::Down => self.move_cursor(action),
                    _ => {}
                }
                Vec::new()
            }
            Mode::Details => self.update_details(action),
            Mode::Table => self.update_table(action),
        }
    }

    fn update_confirm(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Confirm => {
                if self.caps.read_only {
                    // Unreachable through the key table; kept as a second lock.
                    self.overlays.pop();
                    return Vec::new();
                }
                match self.overlays.pop() {
                    Some(Overlay::Confirm {
                        title,
                        pending,
                        lines,
                        scroll,
                    }) => {
                        let effect = match *pending {
                            Pending::Prune { plan } => {
                                self.busy = Some(Busy::Pruning { step: None });
                                Effect::Prune(plan)
                            }
                            Pending::Repair(plan) => {
                                self.busy = Some(Busy::Repairing);
                                Effect::Repair(*plan)
                            }
                        };
                        let text = Overlay::Message {
                            title,
                            lines,
                            scroll,
                        };
                        std::iter::once(effect).chain(discard(text)).collect()
                    }
                    other => {
                        self.overlays.extend(other);
                        Vec::new()
                    }
                }
            }
            Action::Cancel => {
                self.notice = Some("cancelled: nothing was deleted".to_string());
                self.overlays.pop().and_then(discard).into_iter().collect()
            }
            a => {
                self.scroll(a);
                Vec::new()
            }
        }
    }

    fn update_details(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Back => {
                self.screen = Screen::Table;
                Vec::new()
            }
            Action::Delete => match self.details_entry() {
                Some(e) => {
                    let keys = vec![key_of(e)];
                    self.open_delete(keys, "selected")
                }
                None => Vec::new(),
            },
            Action::Repair => match self.details_entry().cloned() {
                Some(e) => self.request_repair(e),
                None => Vec::new(),
            },
            Action::Refresh => self.refresh(),
            Action::Help => {
                self.open_help();
                Vec::new()
            }
            a => {
                self.scroll(a);
                Vec::new()
            }
        }
    }

    fn update_table(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => self.move_cursor(action),
            Action::CycleSort => {
                let (col, _) = self.list.sort();
                let next = col.next();
                self.keep_selection(|l| l.set_sort(next, false));
            }
            Action::InvertSort => {
                let (col, rev) = self.list.sort();
                self.keep_selection(|l| l.set_sort(col, !rev));
            }
            Action::StartFilter => self.editing_filter = true,
            Action::ClearFilter => {
                self.filter.clear();
                self.apply_filter();
                self.keep_selection(|l| l.set_flag_filter(crate::tui::listing::FlagFilter::All));
            }
            Action::CycleFlagFilter => {
                let next = self.list.flag_filter().next();
                self.keep_selection(|l| l.set_flag_filter(next));
            }
            Action::ToggleMark => {
                if let Err(why) = self.list.toggle_mark_row(self.cursor) {
                    self.notice = Some(format!("not marked: {why}"));
                }
                self.move_cursor(Action::Down);
            }
            Action::MarkAll => {
                let refused = self.list.mark_all_visible();
                if refused > 0 {
                    self.notice = Some(format!(
                        "{refused} not marked: in use, shared or kept (details say why)"
                    ));
                }
            }
            Action::ClearMarks => self.list.clear_marks(),
            Action::OpenDetails => {
                if let Some(e) = self.selected() {
                    self.screen = Screen::Details {
                        key: key_of(e),
                        scroll: 0,
                    };
                }
            }
            Action::Delete => {
                let marked = self.list.marked_keys();
                if !marked.is_empty() {
                    return self.open_delete(marked, "marked");
                }
                if let Some(e) = self.selected() {
                    let keys = vec![key_of(e)];
                    return self.open_delete(keys, "selected");
                }
                self.notice = Some("nothing to delete: no row is selected".to_string());
            }
            Action::EvictStale => return self.open_evict_stale(),
            Action::EvictBudget => return self.open_budget(),
            Action::Repair => {
                if let Some(e) = self.selected().cloned() {
                    return self.request_repair(e);
                }
            }
            Action::Refresh => return self.refresh(),
            Action::Help => self.open_help(),
            _ => {}
        }
        Vec::new()
    }

    fn refresh(&mut self) -> Vec<Effect> {
        for s in &mut self.sources {
            s.loading = true;
        }
        vec![Effect::Refresh]
    }

    fn destructive_allowed(&mut self) -> bool {
        if self.caps.read_only {
            // Unreachable through the key table; kept as a second lock.
            self.notice = Some("read-only: nothing can be deleted".to_string());
            return false;
        }
        if let Some(b) = &self.busy {
            let what = match b {
                Busy::Planning => "a plan is being made",
                Busy::Pruning { .. } => "a prune",
                Busy::PlanningRepair | Busy::Repairing => "a repair",
            };
            self.notice = Some(format!("wait: {what} is still under way"));
            return false;
        }
        true
    }

    /// `d`: a plan for exactly these entries, built off the draw loop; the confirm
    /// dialog opens when it is ready.
    fn open_delete(&mut self, keys: Vec<Key>, why: &'static str) -> Vec<Effect> {
        self.request_plan(Ask::Delete { keys, why })
    }

    /// `E`: every stale entry, by the same selector as `prune --stale`.
    fn open_evict_stale(&mut self) -> Vec<Effect> {
        self.request_plan(Ask::EvictStale)
    }

    /// `B`: the config file's budget, as `prune --budget` plans it.
    fn open_budget(&mut self) -> Vec<Effect> {
        if self.live.budget.is_empty() {
            self.notice = Some(live::NO_BUDGET.to_string());
            return Vec::new();
        }
        let disks = self.live.disks.clone().unwrap_or_default();
        self.request_plan(Ask::Budget {
            budget: self.live.budget,
            disks,
        })
    }

    fn request_plan(&mut self, ask: Ask) -> Vec<Effect> {
        if !self.destructive_allowed() {
            return Vec::new();
        }
        self.busy = Some(Busy::Planning);
        vec![Effect::Plan(Box::new(PlanRequest {
            ask,
            entries: self.list.snapshot(),
            now: self.now,
        }))]
    }

    /// A plan is ready: the confirm dialog, or why there is nothing to confirm.
    fn open_plan(&mut self, planned: Planned) {
        let Planned { title, plan, lines } = planned;
        if plan.is_empty() {
            self.overlays.push(Overlay::Message {
                title: "Nothing to delete".to_string(),
                lines,
                scroll: 0,
            });
            return;
        }
        self.overlays.push(Overlay::Confirm {
            title,
            pending: Box::new(Pending::Prune { plan }),
            lines,
            scroll: 0,
        });
    }

    fn request_repair(&mut self, e: Entry) -> Vec<Effect> {
        if !self.caps.repair || !self.destructive_allowed() {
            return Vec::new();
        }
        if e.in_use {
            self.notice = Some("in use: a cache is never repaired while a build uses it".into());
            return Vec::new();
        }
        self.busy = Some(Busy::PlanningRepair);
        vec![Effect::PlanRepair(Box::new(e))]
    }

    fn open_help(&mut self) {
        self.overlays.push(Overlay::Help {
            lines: text::help_lines(&self.keys, self.caps.read_only, self.policy.stale_after),
            scroll: 0,
        });
    }

    /// A worker event: new listings, scan results, prune progress and outcomes.
    pub fn apply(&mut self, event: Event) -> Vec<Effect> {
        let mut effects = self.apply_event(event);
        // One count at a time: a data change meanwhile is counted when it answers.
        if !self.counting
            && let Some(job) = self.list.evictable_due()
        {
            self.counting = true;
            effects.push(Effect::Count(Box::new(job)));
        }
        effects
    }

    fn apply_event(&mut self, event: Event) -> Vec<Effect> {
        match event {
            Event::Counted { version, counted } => {
                self.counting = false;
                let counted = counted.unwrap_or_else(|| self.list.evictable());
                self.list.evictable_counted(version, counted);
            }
            Event::Loading {
                generation,
                sources,
            } => {
                self.generation = generation;
                self.refreshing = true;
                self.live.background = false;
                self.live.failing.clear();
                for s in sources {
                    match self.sources.iter_mut().find(|v| v.source == s) {
                        Some(v) => v.loading = true,
                        None => self.sources.push(SourceView {
                            source: s,
                            state: SourceState::Loading,
                            loading: true,
                            entries: 0,
                            host: None,
                        }),
                    }
                }
                self.scan = None;
            }
            Event::Listed {
                generation,
                status,
                mut entries,
            } => {
                if generation != self.generation {
                    return Vec::new();
                }
                if self.live.background
                    && let Some(e) = &status.error
                {
                    self.background_failure(format!("{}: {}", status.source, e));
                    return Vec::new();
                }
                self.repairs.judge(&mut entries);
                let count = entries.len();
                let state = match &status.error {
                    None => SourceState::Ready {
                        summary: status.summary.clone(),
                    },
                    Some(e) => {
                        let msg = format!("{}: {}", status.source, e);
                        if !self.errors.contains(&msg) {
                            self.errors.push_back(msg);
                        }
                        SourceState::Failed {
                            error: e.to_string(),
                        }
                    }
                };
                if let Some(v) = self.sources.iter_mut().find(|v| v.source == status.source) {
                    v.state = state;
                    v.loading = false;
                    v.entries = count;
                    v.host.clone_from(&status.host);
                }
                let now = self.now;
                // A source that failed shows none of its old entries: they may be gone.
                self.keep_selection(|l| l.replace_source(&status.source, entries, now));
            }
            Event::Updated {
                generation,
                mut entries,
            } => {
                if generation != self.generation {
                    return Vec::new();
                }
                self.repairs.judge(&mut entries);
                let now = self.now;
                self.keep_selection(|l| {
                    l.update(entries, now);
                });
            }
            Event::ScanProgress {
                generation,
                done,
                total,
            } => {
                if generation == self.generation {
                    self.scan = (done < total).then_some((done, total));
                }
            }
            Event::Refreshed { generation } => {
                if generation == self.generation {
                    self.refreshing = false;
                }
            }
            Event::LoadingQuietly { generation } => {
                self.generation = generation;
                self.live.background = true;
                self.live.failing.clear();
            }
            Event::Read { generation, at } => {
                if generation == self.generation {
                    self.live.read(at);
                    if self.live.failed.is_none()
                        && self
                            .notice
                            .as_deref()
                            .is_some_and(|n| n.starts_with(REFRESH_FAILED))
                    {
                        self.notice = None;
                    }
                }
            }
            Event::Disks { generation, disks } => {
                if generation == self.generation {
                    self.live.disks = Some(Arc::new(*disks));
                }
            }
            Event::Locked(why) => {
                self.busy = None;
                let (title, lines) = live::lock_message(&why);
                self.overlays.push(Overlay::Message {
                    title,
                    lines: lines
                        .into_iter()
                        .map(|l| TextLine::new(text::Tone::Warn, l))
                        .collect(),
                    scroll: 0,
                });
            }
            Event::Failed(message) => {
                if self.busy == Some(Busy::Planning) {
                    self.busy = None;
                }
                self.errors.push_back(message);
            }
            Event::Planned(planned) => {
                if self.busy == Some(Busy::Planning) {
                    self.busy = None;
                }
                self.open_plan(*planned);
            }
            Event::Step(step) => {
                if let Some(Busy::Pruning { step: s }) = &mut self.busy {
                    *s = Some(step);
                }
            }
            Event::Pruned { plan, outcome } => {
                self.busy = None;
                let gone: Vec<Key> = outcome
                    .done
                    .iter()
                    .map(|d| (d.source.clone(), d.id.clone()))
                    .collect();
                let now = self.now;
                self.keep_selection(|l| l.remove(&gone, now));
                self.overlays.push(Overlay::Message {
                    title: if outcome.is_clean() {
                        "Prune finished".to_string()
                    } else {
                        "Prune finished with problems".to_string()
                    },
                    lines: text::outcome_lines(&plan, &outcome),
                    scroll: 0,
                });
                return self.refresh();
            }
            Event::RepairPlanned(plan) => {
                self.busy = None;
                match plan.items.first() {
                    Some(item) if plan.part_count() == 0 => self.overlays.push(Overlay::Message {
                        title: "Nothing to repair".to_string(),
                        lines: vec![TextLine::new(
                            text::Tone::Plain,
                            format!("{} has no broken parts.", item.entry.label()),
                        )],
                        scroll: 0,
                    }),
                    Some(item) => {
                        let title = format!("Repair {}?", item.entry.label());
                        let lines = text::repair_plan_lines(&plan);
                        self.overlays.push(Overlay::Confirm {
                            title,
                            pending: Box::new(Pending::Repair(plan)),
                            lines,
                            scroll: 0,
                        });
                    }
                    None => {
                        let why = plan
                            .skipped
                            .first()
                            .map_or("nothing to repair", |r| r.reason.as_str());
                        self.errors.push_back(format!("repair: {why}"));
                    }
                }
            }
            Event::Repaired(outcome) => {
                self.busy = None;
                self.repairs.remember(&outcome, &self.list);
                if outcome.failures > 0 && outcome.done.is_empty() {
                    let why = outcome.skipped.first().map_or("", |s| s.reason.as_str());
                    self.errors.push_back(format!("repair failed: {why}"));
                } else {
                    self.overlays.push(Overlay::Message {
                        title: "Repair finished".to_string(),
                        lines: text::repair_outcome_lines(&outcome),
                        scroll: 0,
                    });
                }
                return self.refresh();
            }
        }
        Vec::new()
    }

    /// A source failed in a background refresh: its last entries stay, and the
    /// status line says so (no popup every few seconds).
    fn background_failure(&mut self, why: String) {
        self.notice = Some(format!(
            "{REFRESH_FAILED}, showing the last data read: {why}"
        ));
        self.live.failing.push(why);
    }

    /// The worker stopped: nothing more will load or delete.
    pub fn worker_gone(&mut self) {
        self.busy = None;
        self.scan = None;
        for s in &mut self.sources {
            s.loading = false;
        }
        self.errors.push_back(
            "the background worker stopped; nothing more can load or be deleted. \
             Quit with q and start cachetop again."
                .to_string(),
        );
    }

    fn apply_filter(&mut self) {
        let text = self.filter.clone();
        self.keep_selection(|l| l.set_filter(&text));
    }

    /// Changes the list and keeps the cursor on the same entry when it is still shown.
    fn keep_selection(&mut self, change: impl FnOnce(&mut EntryList)) {
        let key = self.selected().map(key_of);
        change(&mut self.list);
        if let Some(row) = key.and_then(|k| self.list.row_of(&k)) {
            self.cursor = row;
        }
        self.clamp_cursor();
    }

    pub fn table_rows(&self) -> usize {
        layout::table_rows(self.area)
    }

    fn move_cursor(&mut self, action: Action) {
        let len = self.list.visible_len();
        if len == 0 {
            return;
        }
        let page = self.table_rows().max(1);
        self.cursor = match action {
            Action::Up => self.cursor.saturating_sub(1),
            Action::Down => (self.cursor + 1).min(len - 1),
            Action::Top => 0,
            Action::Bottom => len - 1,
            Action::PageUp => self.cursor.saturating_sub(page),
            Action::PageDown => (self.cursor + page).min(len - 1),
            _ => self.cursor,
        };
        self.clamp_cursor();
    }

    fn clamp_cursor(&mut self) {
        let len = self.list.visible_len();
        let rows = self.table_rows().max(1);
        self.cursor = self.cursor.min(len.saturating_sub(1));
        if self.cursor < self.offset {
            self.offset = self.cursor;
        }
        if self.cursor >= self.offset + rows {
            self.offset = self.cursor + 1 - rows;
        }
        self.offset = self.offset.min(len.saturating_sub(rows));
    }

    fn scroll(&mut self, action: Action) {
        let (width, height) = self.scroll_body();
        let max = match self.overlays.last() {
            Some(o) => text::max_scroll(o.lines(), width, height),
            None => text::max_scroll(&self.details_lines(), width, height),
        };
        let page = height.max(1);
        let target = match self.overlays.last_mut() {
            Some(o) => o.scroll_mut(),
            None => match &mut self.screen {
                Screen::Details { scroll, .. } => scroll,
                Screen::Table => return,
            },
        };
        *target = match action {
            Action::Up => target.saturating_sub(1),
            Action::Down => *target + 1,
            Action::Top => 0,
            Action::Bottom => max,
            Action::PageUp => target.saturating_sub(page),
            Action::PageDown => *target + page,
            _ => *target,
        }
        .min(max);
    }

    fn clamp_scroll(&mut self) {
        self.scroll(Action::Confirm); // no movement, only the clamp
    }

    /// Width and height of the scrolling text in front.
    fn scroll_body(&self) -> (usize, usize) {
        let body = match self.overlays.last() {
            Some(o) => layout::popup(self.area, o.lines()).body,
            None => layout::details_body(self.area),
        };
        (body.width as usize, body.height as usize)
    }

    /// The footer's status: filter, flags, marks, work in progress.
    pub fn sort_label(&self) -> String {
        let (col, rev) = self.list.sort();
        let natural_desc = matches!(col, SortColumn::Size | SortColumn::Uses);
        let arrow = if natural_desc != rev { "▼" } else { "▲" };
        format!("{}{arrow}", col.label())
    }
}

/// How the status line starts when a background refresh failed.
const REFRESH_FAILED: &str = "refresh failed";

/// Frees a closed popup: small ones here, big ones (a plan of many thousand lines)
/// on another thread, so closing never stalls a frame.
fn discard(overlay: Overlay) -> Option<Effect> {
    (overlay.lines().len() > 2_000).then(|| Effect::Discard(Box::new(overlay)))
}
