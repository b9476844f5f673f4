//! `cachetop repair ID...`: scan the named entries, show the plan of broken parts,
//! ask (or not), remove exactly those, report. Mirrors `prune`.

use std::io::IsTerminal;
use std::sync::Arc;

use super::confirm::{Mode, go_ahead, json_warnings, print_json, progress, show};
use super::{Exit, UsageError, build_sources, collect};
use crate::cli::RepairArgs;
use crate::config::Settings;
use crate::inventory::Scan;
use crate::plan::quietly;
use crate::repair;
use crate::report::repair::{render_outcome, render_plan, repair_doc};
use crate::scan::OnDisk;
use crate::units::{format_size, plural};

pub async fn run(settings: &Settings, args: &RepairArgs) -> anyhow::Result<Exit> {
    if settings.read_only && !args.run.dry_run {
        return Err(
            UsageError("read-only mode: repair only runs with --dry-run".to_string()).into(),
        );
    }
    // Only the named entries are scanned, below.
    let sources = build_sources(settings, false).await?;
    let mode = Mode::of(args.run.dry_run, args.run.yes);

    let show_progress = !args.run.json && std::io::stderr().is_terminal();
    let scan = Scan {
        scanner: Arc::new(OnDisk),
        only: Some(args.ids.iter().cloned().collect()),
    };
    let inv = collect(
        &sources,
        &settings.policy,
        Some(scan),
        &args.ids,
        show_progress,
    )
    .await;
    super::report::print_source_failures(&inv);
    if inv.failed_sources().count() == inv.sources.len() {
        return Ok(Exit::Runtime);
    }
    let plan = repair::plan(&inv.entries, &args.ids);

    if !args.run.json {
        show(false, &render_plan(&plan));
    }
    let unknown = plan.unknown_ids().next().is_some();
    let question = format!(
        "Remove {} ({})?",
        plural(plan.part_count(), "broken part", "broken parts"),
        format_size(plan.total_bytes())
    );
    if !go_ahead(mode, plan.is_empty(), args.run.json, &question)? {
        if args.run.json {
            json_warnings(&plan, None);
            print_json(&repair_doc(&plan, None))?;
        }
        return Ok(if unknown { Exit::Runtime } else { Exit::Ok });
    }

    let outcome = if args.run.json {
        repair::execute(&plan, &sources, &quietly()).await
    } else {
        repair::execute(&plan, &sources, &progress()).await
    };
    if args.run.json {
        json_warnings(&plan, Some(&outcome));
        print_json(&repair_doc(&plan, Some(&outcome)))?;
    } else {
        show(false, &render_outcome(&plan, &outcome));
    }
    Ok(if outcome.is_clean() && !unknown {
        Exit::Ok
    } else {
        Exit::Runtime
    })
}
