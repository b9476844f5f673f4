//! `cachetop repair ID...`: scan the named entries, show the plan of broken parts,
//! ask (or not), remove exactly those, report. Mirrors `prune`.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::sync::Arc;

use super::confirm::{Mode, go_ahead, print_json, show};
use super::report::{end_progress, scan_progress};
use super::{Exit, UsageError, build_sources, collect_naming};
use crate::cli::RepairArgs;
use crate::config::Settings;
use crate::inventory;
use crate::repair::output::{render_outcome, render_plan, repair_doc};
use crate::repair::{self, RepairStep};
use crate::terminal_text::escape;
use crate::units::{format_size, plural};

pub async fn run(settings: &Settings, args: &RepairArgs) -> anyhow::Result<Exit> {
    if settings.read_only && !args.dry_run {
        return Err(
            UsageError("read-only mode: repair only runs with --dry-run".to_string()).into(),
        );
    }
    // Only the named entries are scanned, below.
    let sources = build_sources(settings, false)?;
    let mode = Mode::of(args.dry_run, args.yes);

    let mut inv = collect_naming(&sources, &settings.policy, &args.ids).await;
    super::report::print_source_failures(&inv);
    if inv.failed_sources().count() == inv.sources.len() {
        return Ok(Exit::Runtime);
    }
    let wanted: HashSet<String> = args.ids.iter().cloned().collect();
    let show_progress = !args.json && std::io::stderr().is_terminal();
    inventory::scan(
        &mut inv,
        move |e| wanted.contains(&e.id),
        scan_progress(show_progress),
    )
    .await;
    end_progress(show_progress);
    let plan = repair::plan(&inv.entries, &args.ids);

    show(args.json, &render_plan(&plan));
    let unknown = plan.unknown_ids().next().is_some();
    let question = format!(
        "Remove {} ({})?",
        plural(plan.part_count(), "broken part", "broken parts"),
        format_size(plan.total_bytes())
    );
    if !go_ahead(mode, plan.is_empty(), args.json, &question)? {
        if args.json {
            print_json(&repair_doc(&plan, None))?;
        }
        return Ok(if unknown { Exit::Runtime } else { Exit::Ok });
    }

    let progress = Arc::new(|step: &RepairStep| match step {
        RepairStep::Rereading(s) => eprintln!("re-reading {} ...", escape(&s.to_string())),
        RepairStep::Rescanning { id, .. } => eprintln!("re-scanning {} ...", escape(id)),
        RepairStep::Removing { id, path } => {
            eprintln!("removing {} from {} ...", escape(path), escape(id))
        }
    });
    let outcome = repair::execute(&plan, &sources, progress).await;
    show(args.json, &render_outcome(&plan, &outcome));
    if args.json {
        print_json(&repair_doc(&plan, Some(&outcome)))?;
    }
    Ok(if outcome.is_clean() && !unknown {
        Exit::Ok
    } else {
        Exit::Runtime
    })
}
