//! `cachetop` with no subcommand: the interactive screen on a terminal, else a hint.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use super::{Exit, UsageError, build_sources};
use crate::config::Settings;
use crate::repair;
use crate::scan::OnDisk;
use crate::tui::view::Theme;
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
