//! `cachetop lint`: reads the files, runs the rules, prints them, and turns the result
//! into the exit code (0 clean, 3 a finding at or above --fail-level, 1 a file that
//! could not be read or a bound reached, 2 a path that is not there).

use std::io::Write;

use super::{Exit, UsageError};
use crate::cli::{FailLevel, LintArgs, LintFormat};
use crate::lint::finding::Severity;
use crate::lint::output::{json, sarif, text};
use crate::lint::{self, LintRun, discover};
use crate::terminal_text::escape;

pub fn run(args: &LintArgs) -> anyhow::Result<Exit> {
    let found = discover::discover(&args.paths).map_err(|e| UsageError(e.to_string()))?;
    let run = lint::lint(found.inputs);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.format {
        LintFormat::Text => out.write_all(text::render(&run).as_bytes())?,
        LintFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &json::document(&run))?;
            out.write_all(b"\n")?;
        }
        LintFormat::Sarif => {
            let cwd = std::env::current_dir().ok();
            serde_json::to_writer_pretty(&mut out, &sarif::document(&run, cwd.as_deref()))?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    for f in run.unreadable() {
        if let Some(e) = &f.error {
            eprintln!("cachetop: {}", escape(e));
        }
    }
    for p in &found.problems {
        eprintln!("cachetop: {}", escape(p));
    }
    let incomplete = run.unreadable().next().is_some() || !found.problems.is_empty();
    Ok(exit_code(&run, incomplete, args.fail_level))
}

fn exit_code(run: &LintRun, incomplete: bool, level: FailLevel) -> Exit {
    if incomplete {
        return Exit::Runtime;
    }
    let threshold = match level {
        FailLevel::Error => Severity::Error,
        FailLevel::Warning => Severity::Warning,
        FailLevel::Info => Severity::Info,
        FailLevel::None => return Exit::Ok,
    };
    match run.worst() {
        Some(worst) if worst >= threshold => Exit::FailOn,
        _ => Exit::Ok,
    }
}
