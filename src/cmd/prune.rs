//! `cachetop prune`: build the plan, show it, ask (or not), execute, report.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::Arc;

use super::confirm::{Mode, go_ahead, json_warnings, print_json, progress, show};
use super::{Exit, UsageError, build_sources, collect};
use crate::cli::PruneArgs;
use crate::config::Settings;
use crate::inventory::Scan;
use crate::model::{Entry, Flag};
use crate::plan::quietly;
use crate::prune::{Plan, build_plan, execute};
use crate::report::prune::{prune_doc, render_outcome, render_plan};
use crate::scan::OnDisk;
use crate::units::{format_size, plural};

pub async fn run(settings: &Settings, args: &PruneArgs) -> anyhow::Result<Exit> {
    let selector = args.select.selector();
    if selector.is_empty() {
        return Err(UsageError(
            "prune needs at least one selector (--id, --stale, --partial, --orphaned, --type, \
             --unused-for, --mount-target, --source, --ref); cachetop never prunes everything by \
             default"
                .to_string(),
        )
        .into());
    }
    if settings.read_only && !args.run.dry_run {
        return Err(
            UsageError("read-only mode: prune only runs with --dry-run".to_string()).into(),
        );
    }
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
    let plan = build_plan(&inv.entries, &selector, inv.generated_at);

    if !args.run.json {
        show(false, &render_plan(&plan));
    }
    if let Some(why) = refused_selection(&plan, &inv.entries) {
        if args.run.json {
            print_json(&prune_doc(&plan, None))?;
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
            print_json(&prune_doc(&plan, None))?;
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
        print_json(&prune_doc(&plan, Some(&outcome)))?;
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
