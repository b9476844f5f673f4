//! `cachetop` with no subcommand: the interactive screen on a terminal, else a hint.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use super::{Exit, UsageError, build_sources};
use crate::config::Settings;
use crate::inventory::Inventory;
use crate::prune::lock::lock_dirs_here;
use crate::repair;
use crate::scan::OnDisk;
use crate::tui::view::Theme;
use crate::tui::worker::LiveOptions;
use crate::tui::{self, Ending, Options};

pub async fn run(settings: &Settings) -> anyhow::Result<Exit> {
    if !std::io::stdout().is_terminal() {
        return Err(UsageError(
            "stdout is not a terminal: use `cachetop report` (or `cachetop report --json`) \
             for output a program can read"
                .to_string(),
        )
        .into());
    }
    let sources = build_sources(settings, true).await?;
    let options = Options {
        read_only: settings.read_only,
        theme: Theme::from_env(std::env::var_os("NO_COLOR").as_deref()),
        scanner: Some(Arc::new(OnDisk)),
        repair: Some(Arc::new(repair::OnDisk)),
        origins: super::report::lint_origins(settings).map(Arc::new),
        live: LiveOptions {
            interval: settings.interval,
            // Screen deletions are prunes too: one per machine at a time.
            lock_dirs: Some(lock_dirs_here()),
            disks: Some(Arc::new(|inv: Inventory| {
                Box::pin(async move { super::report::disk_context(&inv).await })
            })),
        },
        budget: settings.budget,
        mouse: settings.mouse,
    };
    match tui::run(sources, settings.policy.clone(), options).await? {
        Ending::Quit | Ending::InputClosed => Ok(Exit::Ok),
        Ending::Signal(name) => {
            // Not eprintln!: after SIGHUP stderr may be gone, and that must not panic.
            let _ = writeln!(
                std::io::stderr(),
                "cachetop: stopped by {name}; the terminal was restored"
            );
            Ok(Exit::Runtime)
        }
    }
}
