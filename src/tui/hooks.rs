//! What other parts of cachetop plug into the screen: a repair of only the broken
//! parts of one entry, run on blocking threads in the worker, never in the draw loop.

use std::fmt;
use std::sync::Arc;

use crate::model::Entry;

/// One broken part a repair removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairStep {
    /// Relative to the entry's content root.
    pub path: String,
    /// Why it goes, e.g. "crate dir without .cargo-ok".
    pub reason: String,
    pub bytes: u64,
}

/// What a repair of one entry would do: a value, shown in the confirm dialog before
/// anything happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairPlan {
    pub entry: Entry,
    pub steps: Vec<RepairStep>,
    /// Shell commands that would do the same by hand.
    pub commands: Vec<String>,
}

impl RepairPlan {
    pub fn total_bytes(&self) -> u64 {
        crate::units::sum_bytes(self.steps.iter().map(|s| s.bytes))
    }
}

/// What a repair did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairOutcome {
    /// Paths removed.
    pub removed: Vec<String>,
    /// Paths left alone, each with its reason.
    pub skipped: Vec<(String, String)>,
    pub reclaimed_bytes: u64,
}

pub type PlanRepair = dyn Fn(&Entry) -> Result<RepairPlan, String> + Send + Sync;
pub type ExecuteRepair = dyn Fn(&RepairPlan) -> Result<RepairOutcome, String> + Send + Sync;

/// The repair behind `R`. Without one, `R` is not bound at all.
#[derive(Clone)]
pub struct RepairHook {
    /// Plans the repair of one entry; `Err` says why it cannot be repaired.
    pub plan: Arc<PlanRepair>,
    /// Carries out a confirmed plan; it re-checks what it removes.
    pub execute: Arc<ExecuteRepair>,
}

impl fmt::Debug for RepairHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RepairHook")
    }
}
