//! `cachetop report`: every entry as a table or as the versioned JSON document.

use std::io::Write;

use chrono::Utc;

use super::{Exit, build_sources, terminal_width};
use crate::cli::ReportArgs;
use crate::config::Settings;
use crate::inventory::{Inventory, collect};
use crate::report::{json, table};

pub async fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<Exit> {
    let sources = build_sources(settings)?;
    let inv = collect(&sources, &settings.policy, Utc::now()).await;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        serde_json::to_writer(&mut out, &json::report_doc(&inv))?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(table::render_report(&inv, inv.generated_at, terminal_width()).as_bytes())?;
    }
    out.flush()?;
    for s in inv.failed_sources() {
        if let Some(e) = &s.error {
            eprintln!("cachetop: {}: {}", s.source, e);
        }
    }
    Ok(exit_code(&inv, args))
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
