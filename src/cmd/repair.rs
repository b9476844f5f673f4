//! `cachetop repair ID...`: scan the named entries, show the plan of broken parts,
//! ask (or not), remove exactly those, report. Mirrors `prune`.

use std::collections::HashSet;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use super::prune::Mode;
use super::report::{end_progress, scan_progress};
use super::{Exit, UsageError, build_sources, collect_naming};
use crate::cli::RepairArgs;
use crate::config::Settings;
use crate::inventory;
use crate::repair::output::{render_outcome, render_plan, repair_doc};
use crate::repair::{self, RepairOutcome, RepairPlan, RepairStep};
use crate::units::format_size;

pub async fn run(settings: &Settings, args: &RepairArgs) -> anyhow::Result<Exit> {
    if settings.read_only && !args.dry_run {
        return Err(
            UsageError("read-only mode: repair only runs with --dry-run".to_string()).into(),
        );
    }
    // Only the named entries are scanned, below.
    let sources = build_sources(settings, false)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mode = if args.dry_run {
        Mode::DryRun
    } else if args.yes {
        Mode::Confirmed
    } else if interactive {
        Mode::Ask
    } else {
        Mode::NotAuthorised
    };

    let mut inv = collect_naming(&sources, &settings.policy, &args.ids).await;
    for s in inv.failed_sources() {
        if let Some(e) = &s.error {
            eprintln!("cachetop: {}: {}", s.source, e);
        }
    }
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

    // Text goes to stdout, unless stdout carries the JSON document.
    let show = |text: &str| {
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    };
    show(&render_plan(&plan));
    let unknown = plan.unknown_ids().next().is_some();

    let go = match mode {
        Mode::DryRun => false,
        Mode::Confirmed => true,
        Mode::Ask => !plan.is_empty() && ask(&plan)?,
        Mode::NotAuthorised => {
            if !plan.is_empty() {
                show("Not a terminal and no --yes: nothing deleted.\n");
            }
            false
        }
    };
    if !go || plan.is_empty() {
        if mode == Mode::DryRun {
            show("Dry run: nothing deleted.\n");
        }
        if args.json {
            print_json(&plan, None)?;
        }
        return Ok(if unknown { Exit::Runtime } else { Exit::Ok });
    }

    let progress = Arc::new(|step: &RepairStep| match step {
        RepairStep::Rereading(s) => eprintln!("re-reading {s} ..."),
        RepairStep::Rescanning { id, .. } => eprintln!("re-scanning {id} ..."),
        RepairStep::Removing { id, path } => eprintln!("removing {path} from {id} ..."),
    });
    let outcome = repair::execute(&plan, &sources, progress).await;
    show(&render_outcome(&plan, &outcome));
    if args.json {
        print_json(&plan, Some(&outcome))?;
    }
    Ok(if outcome.is_clean() && !unknown {
        Exit::Ok
    } else {
        Exit::Runtime
    })
}

fn ask(plan: &RepairPlan) -> anyhow::Result<bool> {
    eprint!(
        "Remove {} {} ({})? [y/N] ",
        plan.part_count(),
        if plan.part_count() == 1 {
            "broken part"
        } else {
            "broken parts"
        },
        format_size(plan.total_bytes())
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        eprintln!("Nothing deleted.");
    }
    Ok(yes)
}

fn print_json(plan: &RepairPlan, outcome: Option<&RepairOutcome>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer(&mut out, &repair_doc(plan, outcome))?;
    out.write_all(b"\n")?;
    Ok(())
}
