//! `cachetop prune`: build the plan, show it, ask (or not), execute, report.

use std::io::{BufRead, IsTerminal, Write};

use chrono::Utc;

use super::{Exit, UsageError, build_sources, collect_naming};
use crate::cli::PruneArgs;
use crate::config::Settings;
use crate::inventory;
use crate::model::Flag;
use crate::prune::{Outcome, Plan, Step, build_plan, execute};
use crate::report::{json, table};
use crate::units::{format_size, plural};

/// How the run was authorised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    DryRun,
    /// `--yes`.
    Confirmed,
    /// Ask on the terminal.
    Ask,
    /// No terminal and no `--yes`: show the plan, delete nothing.
    NotAuthorised,
}

pub fn mode(args: &PruneArgs, interactive: bool) -> Mode {
    if args.dry_run {
        Mode::DryRun
    } else if args.yes {
        Mode::Confirmed
    } else if interactive {
        Mode::Ask
    } else {
        Mode::NotAuthorised
    }
}

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
    if settings.read_only && !args.dry_run {
        return Err(
            UsageError("read-only mode: prune only runs with --dry-run".to_string()).into(),
        );
    }
    // Only a look inside shows what is half-written.
    let scan = selector.flags.contains(&Flag::Partial);
    let sources = build_sources(settings, scan)?;
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let mode = mode(args, interactive);

    let mut inv = collect_naming(&sources, &settings.policy, &selector.ids).await;
    if scan {
        let show = !args.json && interactive;
        inventory::scan(&mut inv, |_| true, super::report::scan_progress(show)).await;
        super::report::end_progress(show);
    }
    for s in inv.failed_sources() {
        if let Some(e) = &s.error {
            eprintln!("cachetop: {}: {}", s.source, e);
        }
    }
    if inv.failed_sources().count() == inv.sources.len() {
        return Ok(Exit::Runtime);
    }
    let plan = build_plan(&inv.entries, &selector, inv.generated_at);

    // Text goes to stdout, unless stdout carries the JSON document.
    let show = |text: &str| {
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    };
    show(&table::render_plan(&plan));

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
        return Ok(if plan.unknown_ids.is_empty() {
            Exit::Ok
        } else {
            Exit::Runtime
        });
    }

    let progress = |step: Step<'_>| match step {
        Step::Rereading(s) => eprintln!("re-reading {s} ..."),
        Step::Deleting(e) => eprintln!("deleting {} {} ...", e.source.kind, e.id),
    };
    let outcome = execute(&plan, &sources, &settings.policy, Utc::now(), &progress).await;
    show(&table::render_outcome(&plan, &outcome));
    if args.json {
        print_json(&plan, Some(&outcome))?;
    }
    Ok(if outcome.is_clean() && plan.unknown_ids.is_empty() {
        Exit::Ok
    } else {
        Exit::Runtime
    })
}

fn ask(plan: &Plan) -> anyhow::Result<bool> {
    eprint!(
        "Delete {} ({})? [y/N] ",
        plural(plan.items.len(), "entry", "entries"),
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

fn print_json(plan: &Plan, outcome: Option<&Outcome>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer(&mut out, &json::prune_doc(plan, outcome))?;
    out.write_all(b"\n")?;
    Ok(())
}
