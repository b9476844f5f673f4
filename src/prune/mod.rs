//! Pruning: selectors pick entries, a plan says what goes, execution does only that.

pub mod budget;
pub(crate) mod execute;
pub mod lock;
pub(crate) mod planner;
#[cfg(test)]
mod properties;
pub(crate) mod reclaim;
pub(crate) mod selector;

pub use budget::{Budget, BudgetOutcome, Floor};
pub use execute::execute;
pub use planner::{NO_SUCH_ID, Plan, PlannedItem, build_plan, build_plan_with};
pub use reclaim::{fill_reclaimable, stale_eviction};
pub use selector::Selector;
