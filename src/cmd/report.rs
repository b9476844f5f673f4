//! `cachetop report`: every entry as a table or as the versioned JSON document.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use super::{Exit, build_sources, collect, terminal_width};
use crate::cli::ReportArgs;
use crate::config::Settings;
use crate::inventory::{Inventory, Scan};
use crate::report::origins::{Origins, render_origins};
use crate::report::{json, table};
use crate::scan::OnDisk;
use crate::terminal_text::escape;

pub async fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<Exit> {
    let sources = build_sources(settings, !args.no_scan).await?;
    let scan = (!args.no_scan).then(|| Scan::all(Arc::new(OnDisk)));
    let show = !args.json && std::io::stderr().is_terminal();
    let inv = collect(&sources, &settings.policy, scan, &[], show).await;
    let origins = lint_origins(settings);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        json::write_json(&mut out, &json::report_doc_with(&inv, origins.as_ref()))?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(table::render_report(&inv, inv.generated_at, terminal_width()).as_bytes())?;
        if let Some(o) = &origins {
            out.write_all(render_origins(&inv.entries, o).as_bytes())?;
        }
    }
    out.flush()?;
    print_source_failures(&inv);
    for w in origins.iter().flat_map(|o| o.warnings()) {
        eprintln!("cachetop: lint: {}", escape(w));
    }
    Ok(exit_code(&inv, args))
}

/// The linted Dockerfiles of `--lint` (or `lint_paths`), when any are named. What
/// cannot be read or parsed is a warning: the report runs all the same.
pub fn lint_origins(settings: &Settings) -> Option<Origins> {
    (!settings.lint_paths.is_empty()).then(|| Origins::lint(&settings.lint_paths))
}

/// One line on stderr for each source that failed, its error escaped: error bodies
/// come from outside.
pub fn print_source_failures(inv: &Inventory) {
    for s in inv.failed_sources() {
        if let Some(e) = &s.error {
            eprintln!("cachetop: {}", escape(&format!("{}: {}", s.source, e)));
        }
    }
}

/// A failed source makes the report incomplete (1); otherwise `--fail-on` decides (3).
pub fn exit_code(inv: &Inventory, args: &ReportArgs) -> Exit {
    if inv.failed_sources().next().is_some() {
        return Exit::Runtime;
    }
    let matched = inv
        .entries
        .iter()
        .any(|e| args.fail_on.iter().any(|f| e.has(*f)));
    if matched { Exit::FailOn } else { Exit::Ok }
}
