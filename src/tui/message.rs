//! What the screen and its worker say to each other: commands one way, events back
//! (the worker owns every source; the screen only sends and applies these).

use chrono::{DateTime, Utc};

use crate::filesystems::Disks;
use crate::inventory::SourceStatus;
use crate::model::{Entry, SourceRef};
use crate::plan::Outcome;
use crate::prune::Plan;
use crate::prune::lock::LockError;
use crate::repair::RepairPlan;

#[derive(Debug)]
pub enum Command {
    /// List every source again and look into every entry's content (requests that
    /// pile up while one runs are merged).
    Refresh,
    /// List every source again in the background, looking only into the entries whose
    /// record changed since their last scan (what `--interval` does).
    RefreshChanged,
    /// Carry out a confirmed plan with `prune::execute`.
    Prune(Plan),
    PlanRepair(Box<Entry>),
    Repair(RepairPlan),
}

#[derive(Debug)]
pub enum Event {
    /// A refresh started; `generation` tags everything it sends.
    Loading {
        generation: u64,
        sources: Vec<SourceRef>,
    },
    /// A background refresh started: nothing spins, and a source that fails keeps
    /// what it listed last.
    LoadingQuietly {
        generation: u64,
    },
    /// Every source of this refresh answered; what is shown was read at `at`.
    Read {
        generation: u64,
        at: DateTime<Utc>,
    },
    /// The filesystems that hold what this refresh listed, with what `E` would free.
    Disks {
        generation: u64,
        disks: Box<Disks>,
    },
    /// A deletion was not started: another prune holds the machine's lock.
    Locked(Box<LockError>),
    /// One source answered (or failed), with its entries classified.
    Listed {
        generation: u64,
        status: Box<SourceStatus>,
        entries: Vec<Entry>,
    },
    /// Content scans finished for these entries (classified again).
    Updated {
        generation: u64,
        entries: Vec<Entry>,
    },
    ScanProgress {
        generation: u64,
        done: usize,
        total: usize,
    },
    /// The refresh is over: every source answered, and the content scan (if any) has
    /// announced itself, so nothing in between looks idle.
    Refreshed {
        generation: u64,
    },
    /// Something went wrong that no other event reports.
    Failed(String),
    /// A plan for `d` or `E` is ready.
    Planned(Box<crate::tui::planning::Planned>),
    /// What `E` would delete, counted off the loop for the data at `version` (none:
    /// the count failed, and the last one stays).
    Counted {
        version: u64,
        counted: Option<crate::tui::listing::Evictable>,
    },
    /// What a prune is doing now.
    Step(String),
    Pruned {
        plan: Box<Plan>,
        outcome: Box<Outcome>,
    },
    /// The repair of one entry, planned from a fresh scan (see `repair::plan_fresh`).
    RepairPlanned(Box<RepairPlan>),
    Repaired(Box<Outcome>),
}
