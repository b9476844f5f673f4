//! `cachetop prune`: build the plan, show it, ask (or not), execute, report.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use super::confirm::{Mode, go_ahead, json_warnings, print_json, progress, show};
use super::{Exit, UsageError, build_sources, collect};
use crate::cli::PruneArgs;
use crate::config::Settings;
use crate::inventory::{Inventory, Scan};
use crate::model::{Entry, Flag};
use crate::plan::quietly;
use crate::prune::budget;
use crate::prune::lock::{PruneLock, lock_dirs_here};
use crate::prune::{Budget, BudgetOutcome, Plan, Selector, build_plan, execute};
use crate::report::prune::{prune_doc_with, render_budget, render_outcome, render_plan_on};
use crate::scan::OnDisk;
use crate::terminal_text::escape;
use crate::units::{format_duration, format_size, plural};

pub async fn run(settings: &Settings, args: &PruneArgs) -> anyhow::Result<Exit> {
    let selector = args.select.selector();
    let budget = args.budget.resolve(settings.budget);
    if args.budget.budget && budget.is_empty() {
        return Err(UsageError(
            "--budget: the config file sets no budget (max_used, keep_free)".to_string(),
        )
        .into());
    }
    if selector.is_empty() && budget.is_empty() {
        return Err(UsageError(
            "prune needs at least one selector (--id, --stale, --partial, --orphaned, --type, \
             --unused-for, --mount-target, --source, --ref) or a budget (--max-used, \
             --keep-free, --budget); cachetop never prunes everything by default"
                .to_string(),
        )
        .into());
    }
    if settings.read_only && !args.run.dry_run {
        return Err(
            UsageError("read-only mode: prune only runs with --dry-run".to_string()).into(),
        );
    }
    // Held until this prune is over: a second one plans from what this one leaves.
    let _lock = take_lock(args.lock_wait()).await?;
    // Only a look inside shows what is half-written.
    let scan = selector.flags.contains(&Flag::Partial);
    let sources = build_sources(settings, scan).await?;
    let mode = Mode::of(args.run.dry_run, args.run.yes);

    let show_progress = !args.run.json && std::io::stderr().is_terminal();
    let scan = scan.then(|| Scan::all(Arc::new(OnDisk)));
    let inv = collect(
        &sources,
        &settings.policy,
        scan,
        &selector.ids,
        show_progress,
    )
    .await;
    super::report::print_source_failures(&inv);
    if inv.failed_sources().count() == inv.sources.len() {
        return Ok(Exit::Runtime);
    }
    let mut plan = build_plan(&inv.entries, &selector, inv.generated_at);
    let mut budgeted = None;
    if !budget.is_empty() {
        let (narrowed, outcome) = apply_budget(plan, &inv, &selector, budget).await;
        plan = narrowed;
        budgeted = Some(outcome);
    }
    let budgeted = budgeted.as_ref();

    let hosts = inv.hosts_of();
    let mut text = render_plan_on(&plan, hosts.as_ref());
    if let Some(b) = budgeted {
        text.push_str(&render_budget(b));
    }
    if !args.run.json {
        show(false, &text);
    }
    // A budget alone picks among every entry: what a source refuses is kept, not an
    // error in what was asked for.
    let refused = (!selector.is_empty())
        .then(|| refused_selection(&plan, &inv.entries))
        .flatten();
    if let Some(why) = refused {
        if args.run.json {
            print_json(&prune_doc_with(&plan, None, budgeted, hosts.as_ref()))?;
        }
        return Err(UsageError(why).into());
    }
    let question = format!(
        "Delete {} ({})?",
        plural(plan.items.len(), "entry", "entries"),
        format_size(plan.total_bytes())
    );
    if !go_ahead(mode, plan.is_empty(), args.run.json, &question)? {
        if args.run.json {
            json_warnings(&plan, None);
            print_json(&prune_doc_with(&plan, None, budgeted, hosts.as_ref()))?;
        }
        return Ok(if plan.unknown_ids().next().is_none() {
            Exit::Ok
        } else {
            Exit::Runtime
        });
    }

    let outcome = if args.run.json {
        execute(&plan, &sources, &quietly()).await
    } else {
        execute(&plan, &sources, &progress()).await
    };
    if args.run.json {
        json_warnings(&plan, Some(&outcome));
        print_json(&prune_doc_with(
            &plan,
            Some(&outcome),
            budgeted,
            hosts.as_ref(),
        ))?;
    } else {
        show(false, &render_outcome(&plan, &outcome));
    }
    Ok(
        if outcome.is_clean() && plan.unknown_ids().next().is_none() {
            Exit::Ok
        } else {
            Exit::Runtime
        },
    )
}

/// Takes the machine's prune lock, saying on stderr when it has to wait.
async fn take_lock(wait: Duration) -> anyhow::Result<PruneLock> {
    let dirs = lock_dirs_here();
    let taken = tokio::task::spawn_blocking(move || {
        PruneLock::acquire(&dirs, wait, |path, holder| {
            let who = holder.map_or(String::new(), |p| format!(" (pid {p})"));
            eprintln!(
                "cachetop: another cachetop prune is running on this machine{who}; waiting up \
                 to {} for it to finish (--no-wait: fail instead). Lock: {}",
                format_duration(wait),
                escape(&path.to_string_lossy())
            );
        })
    })
    .await?;
    Ok(taken?)
}

/// Narrows the selectors' plan to what the budget needs, judged against the
/// filesystems read now.
async fn apply_budget(
    plan: Plan,
    inv: &Inventory,
    selector: &Selector,
    budget: Budget,
) -> (Plan, BudgetOutcome) {
    let disks = super::report::disk_context(inv).await;
    for why in &disks.errors {
        eprintln!("cachetop: {}", escape(why));
    }
    budget::narrow(
        plan,
        &inv.entries,
        selector,
        budget,
        &disks,
        inv.generated_at,
    )
}

/// A selected entry its source refuses to delete (a path through a link, `/`, a
/// system directory...) is a usage mistake: the whole run deletes nothing, dry run
/// or not, and exits 2 with what was refused and why.
fn refused_selection(plan: &Plan, entries: &[Entry]) -> Option<String> {
    let skipped: BTreeSet<(&str, &str)> = plan
        .skipped
        .iter()
        .filter_map(|s| Some((s.source.as_ref()?.name.as_str(), s.id.as_str())))
        .collect();
    let why: BTreeSet<&str> = entries
        .iter()
        .filter(|e| skipped.contains(&(e.source.name.as_str(), e.id.as_str())))
        .filter_map(|e| e.origin.delete_refusal())
        .map(|r| r.message.as_str())
        .collect();
    match why.len() {
        0 => None,
        1 => why.first().map(|w| format!("{w}; nothing was deleted")),
        _ => Some(format!(
            "nothing was deleted: {}",
            why.into_iter().collect::<Vec<_>>().join("; ")
        )),
    }
}
