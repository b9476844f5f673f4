//! The confirm flow `prune` and `repair` share: how the run is authorised, where text
//! for people goes, asking y/N, the steps as they are taken, and the JSON document at
//! the end.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use serde::Serialize;

use crate::plan::{Outcome, Plan, Progress, Skip, Step};
use crate::terminal_text::escape;

/// How a destructive run was authorised.
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

impl Mode {
    /// Asking needs a person at a terminal on both stdin and stderr.
    pub fn of(dry_run: bool, yes: bool) -> Mode {
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        Mode::decide(dry_run, yes, interactive)
    }

    pub fn decide(dry_run: bool, yes: bool, interactive: bool) -> Mode {
        if dry_run {
            Mode::DryRun
        } else if yes {
            Mode::Confirmed
        } else if interactive {
            Mode::Ask
        } else {
            Mode::NotAuthorised
        }
    }
}

/// Text for people: stdout, or stderr when stdout carries the JSON document.
pub fn show(json: bool, text: &str) {
    if json {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
}

/// Whether a plan is carried out. Asks `question` in `Mode::Ask`; says why nothing is
/// deleted otherwise. An empty plan is never carried out, nor asked about.
pub fn go_ahead(mode: Mode, empty: bool, json: bool, question: &str) -> std::io::Result<bool> {
    let go = match mode {
        Mode::DryRun => false,
        Mode::Confirmed => true,
        Mode::Ask => !empty && ask(question)?,
        Mode::NotAuthorised => {
            if !empty {
                show(json, "Not a terminal and no --yes: nothing deleted.\n");
            }
            false
        }
    };
    // With --json the document says so (`dry_run`); stderr is for warnings and errors.
    if mode == Mode::DryRun && !json {
        show(json, "Dry run: nothing deleted.\n");
    }
    Ok(go && !empty)
}

/// Anything but `y` or `yes` is no.
fn ask(question: &str) -> std::io::Result<bool> {
    eprint!("{} [y/N] ", escape(question));
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if !yes {
        eprintln!("Nothing deleted.");
    }
    Ok(yes)
}

/// Each step of a run on stderr, as it is taken.
pub fn progress() -> Progress {
    Arc::new(|step: Step<'_>| match step {
        Step::Rereading(s) => eprintln!("re-reading {} ...", escape(&s.to_string())),
        Step::Deleting(e) => eprintln!("deleting {} {} ...", e.source.kind, escape(&e.id)),
        Step::Rescanning(e) => eprintln!("re-scanning {} ...", escape(&e.id)),
        Step::Removing { entry, path } => {
            eprintln!("removing {} from {} ...", escape(path), escape(&entry.id))
        }
    })
}

/// With `--json`, stderr carries only warnings and errors (the document holds the
/// plan): ids that named nothing, what was left alone or failed at run time, and the
/// run's warnings, one line each, escaped.
pub fn json_warnings<I>(plan: &Plan<I>, outcome: Option<&Outcome>) {
    let skip_line = |s: &Skip| match (&s.source, &s.path) {
        (None, _) => format!("{}: {}", s.id, s.reason),
        (Some(_), Some(p)) => format!("{} {} {p}: {}", s.source_kind(), s.id, s.reason),
        (Some(_), None) => format!("{} {}: {}", s.source_kind(), s.id, s.reason),
    };
    let unknown = plan.skipped.iter().filter(|s| s.source.is_none());
    let late = outcome.map_or(&[][..], |o| o.late_skips(plan));
    let lines = unknown
        .chain(late)
        .map(skip_line)
        .chain(outcome.into_iter().flat_map(|o| o.warnings.iter().cloned()));
    for line in lines {
        eprintln!("cachetop: warning: {}", escape(&line));
    }
}

/// One JSON document on stdout.
pub fn print_json(doc: &impl Serialize) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    crate::report::json::write_json(&mut out, doc)?;
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_wins_then_yes_then_a_terminal() {
        assert_eq!(Mode::decide(true, true, true), Mode::DryRun);
        assert_eq!(Mode::decide(false, true, false), Mode::Confirmed);
        assert_eq!(Mode::decide(false, false, true), Mode::Ask);
        assert_eq!(Mode::decide(false, false, false), Mode::NotAuthorised);
    }

    #[test]
    fn nothing_goes_without_authority_or_with_an_empty_plan() {
        assert!(!go_ahead(Mode::DryRun, false, true, "?").unwrap());
        assert!(!go_ahead(Mode::NotAuthorised, false, true, "?").unwrap());
        assert!(!go_ahead(Mode::Confirmed, true, true, "?").unwrap());
        assert!(go_ahead(Mode::Confirmed, false, true, "?").unwrap());
    }
}
