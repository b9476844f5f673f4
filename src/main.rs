//! CLI dispatch only.

use std::process::ExitCode;

use clap::Parser;

use cachetop::cli::{Cli, Command};
use cachetop::cmd::{self, Exit, UsageError};
use cachetop::config::{self, Env};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The screen draws while the worker lists, scans and deletes: give it threads.
    let mut builder = if cli.command.is_none() {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cachetop: error: cannot start the async runtime: {e}");
            return Exit::Runtime.into();
        }
    };
    let result = runtime.block_on(run(cli));
    // Content scans may still run on blocking threads: do not wait for them.
    runtime.shutdown_background();
    // No credential helper outlives cachetop, whatever was still running.
    cachetop::children::kill_all();
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            let usage = e.downcast_ref::<UsageError>().is_some()
                || e.downcast_ref::<config::ConfigError>().is_some();
            eprintln!("cachetop: error: {e:#}");
            if usage {
                Exit::Usage.into()
            } else {
                Exit::Runtime.into()
            }
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let settings = config::load(&cli.global, &Env::from_process())?;
    match &cli.command {
        Some(Command::Report(args)) => cmd::report::run(&settings, args).await,
        Some(Command::Prune(args)) => cmd::prune::run(&settings, args).await,
        Some(Command::Repair(args)) => cmd::repair::run(&settings, args).await,
        None => cachetop::tui::start(&settings).await,
    }
}
