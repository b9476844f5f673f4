//! `cachetop report`: every entry as a table or as the versioned JSON document.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use super::{Exit, build_sources, collect, terminal_width};
use crate::cli::ReportArgs;
use crate::config::Settings;
use crate::filesystems::{self, Disks};
use crate::inventory::{Inventory, Scan};
use crate::prune::fill_reclaimable;
use crate::report::{json, table};
use crate::scan::OnDisk;
use crate::terminal_text::escape;

pub async fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<Exit> {
    let sources = build_sources(settings, !args.no_scan).await?;
    let scan = (!args.no_scan).then(|| Scan::all(Arc::new(OnDisk)));
    let show = !args.json && std::io::stderr().is_terminal();
    let inv = collect(&sources, &settings.policy, scan, &[], show).await;
    let disks = disk_context(&inv).await;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        json::write_json(&mut out, &json::report_doc(&inv, &disks))?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(
            table::render_report(&inv, &disks, inv.generated_at, terminal_width()).as_bytes(),
        )?;
    }
    out.flush()?;
    print_source_failures(&inv);
    Ok(exit_code(&inv, args))
}

/// How long reading the filesystems may take (a hung network mount must not hang
/// the report).
const DISKS_WITHIN: Duration = Duration::from_secs(10);

/// The filesystems that hold the sources' data, with what the stale eviction would
/// free on each. Unreadable within the bound: none, with why.
pub async fn disk_context(inv: &Inventory) -> Disks {
    // Only the few paths go to the blocking thread, never a copy of the entries.
    let at = filesystems::locations(&inv.sources, &inv.entries);
    let read = tokio::task::spawn_blocking(move || Disks::read_at(at));
    let mut disks = match tokio::time::timeout(DISKS_WITHIN, read).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => Disks::unread(format!("reading filesystems failed: {e}")),
        Err(_) => Disks::unread(format!(
            "reading filesystems took longer than {}s; not shown",
            DISKS_WITHIN.as_secs()
        )),
    };
    fill_reclaimable(&mut disks, &inv.entries, inv.generated_at);
    disks
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
