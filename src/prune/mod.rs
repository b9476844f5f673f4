//! Pruning: selectors pick entries, a plan says what goes, execution does only that.

pub mod execute;
pub mod plan;
#[cfg(test)]
mod properties;
pub mod selector;

pub use execute::{Deleted, Outcome, Step, execute};
pub use plan::{Plan, PlannedItem, Skip, build_plan, build_plan_with};
pub use selector::Selector;
