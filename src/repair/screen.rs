//! The screen's hook (`tui::hooks`): the `R` key's repair, on the planner and
//! executor `repair` uses.

use std::sync::Arc;

use tokio::runtime::Handle;

use super::{RepairItem, RepairPlan, RepairStep as Step, execute, plan};
use crate::model::Entry;
use crate::scan;
use crate::sources::SharedSource;
use crate::tui::hooks::{self, RepairHook};

/// The repair behind `R`. `handle` drives the re-read and removal from the blocking
/// thread the screen's worker runs the hook on.
pub fn hook(sources: Vec<SharedSource>, handle: Handle) -> RepairHook {
    RepairHook {
        plan: Arc::new(plan_one),
        execute: Arc::new(move |p: &hooks::RepairPlan| execute_one(p, &sources, &handle)),
    }
}

/// Plans from a fresh scan of the entry, so the dialog shows what is broken now.
fn plan_one(entry: &Entry) -> Result<hooks::RepairPlan, String> {
    let mut fresh = entry.clone();
    if let Some(outcome) = scan::scan_entry(&fresh) {
        scan::apply(&mut fresh, outcome);
    }
    let p = plan(
        std::slice::from_ref(&fresh),
        std::slice::from_ref(&fresh.id),
    );
    let commands = p.equivalent_commands();
    match p.items.into_iter().next() {
        Some(item) => Ok(hooks::RepairPlan {
            steps: item
                .parts
                .iter()
                .map(|f| hooks::RepairStep {
                    path: f.path.clone(),
                    reason: format!("{}: {}", f.kind, f.detail),
                    bytes: f.bytes,
                })
                .collect(),
            commands,
            entry: item.entry,
        }),
        None if fresh.findings.is_empty() && !fresh.in_use && fresh.content.is_some() => {
            let scanned = fresh.content.as_ref().is_some_and(|c| c.files.is_some());
            if scanned {
                Ok(hooks::RepairPlan {
                    entry: fresh,
                    steps: Vec::new(),
                    commands: Vec::new(),
                })
            } else {
                Err(refusal(&p.refused))
            }
        }
        None => Err(refusal(&p.refused)),
    }
}

fn refusal(refused: &[super::Refusal]) -> String {
    refused
        .first()
        .map_or_else(|| "nothing to repair".to_string(), |r| r.reason.clone())
}

/// Removes exactly the confirmed steps (the executor re-reads, refuses what is in
/// use, re-scans and removes only what is still broken).
fn execute_one(
    p: &hooks::RepairPlan,
    sources: &[SharedSource],
    handle: &Handle,
) -> Result<hooks::RepairOutcome, String> {
    let parts = p
        .entry
        .findings
        .iter()
        .filter(|f| p.steps.iter().any(|s| s.path == f.path))
        .cloned()
        .collect();
    let plan = RepairPlan {
        items: vec![RepairItem {
            entry: p.entry.clone(),
            parts,
        }],
        refused: Vec::new(),
    };
    let outcome = handle.block_on(execute(&plan, sources, Arc::new(|_: &Step| {})));
    if outcome.failures > 0 && outcome.removed.is_empty() {
        let why = outcome.skipped.first().map_or("", |s| s.reason.as_str());
        return Err(why.to_string());
    }
    Ok(hooks::RepairOutcome {
        removed: outcome.removed.iter().map(|r| r.path.clone()).collect(),
        skipped: outcome
            .skipped
            .iter()
            .map(|s| {
                (
                    s.path.clone().unwrap_or_else(|| s.id.clone()),
                    s.reason.clone(),
                )
            })
            .collect(),
        reclaimed_bytes: outcome.reclaimed_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::dir::DirSource;
    use std::fs;

    const REG: &str = "registry/src/index.crates.io-1949cf8c6b5b557f";

    #[test]
    fn r_plans_from_a_fresh_scan_and_removes_only_the_confirmed_steps() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("plain");
        let reg = home.join("mnt").join(REG);
        fs::create_dir_all(reg.join("half-1.0.0")).unwrap();
        fs::write(reg.join("half-1.0.0/lib.rs"), b"x").unwrap();
        fs::create_dir_all(reg.join("torn-1.0.0")).unwrap();
        fs::write(reg.join("torn-1.0.0/.cargo-ok"), b"ok").unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let source: SharedSource = Arc::new(DirSource::new(home.clone()));
        let listed = rt.block_on(source.list()).unwrap().entries;
        let hook = hook(vec![source], rt.handle().clone());
        // The listed entry was never scanned: the plan scans it.
        let mut p = (hook.plan)(&listed[0]).unwrap();
        assert_eq!(p.steps.len(), 2);
        assert_eq!(p.total_bytes(), 1 + 2);
        // Confirm only the torn one.
        p.steps.retain(|s| s.path.ends_with("torn-1.0.0"));
        let out = rt
            .block_on(async {
                let exec = hook.execute.clone();
                tokio::task::spawn_blocking(move || exec(&p)).await
            })
            .unwrap()
            .unwrap();
        assert_eq!(out.removed.len(), 1);
        assert!(!reg.join("torn-1.0.0").exists());
        assert!(reg.join("half-1.0.0/lib.rs").exists());
        // Nothing broken left but the other one; a clean directory plans no steps.
        fs::remove_dir_all(reg.join("half-1.0.0")).unwrap();
        let p = (hook.plan)(&listed[0]).unwrap();
        assert!(p.steps.is_empty());
    }
}
