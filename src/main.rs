//! CLI dispatch only.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use cachetop::cli::{Cli, Command};
use cachetop::cmd::{self, Exit, UsageError};
use cachetop::config::{self, Env};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cachetop: error: cannot start the async runtime: {e}");
            return Exit::Runtime.into();
        }
    };
    match runtime.block_on(run(cli)) {
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
        None => {
            if !std::io::stdout().is_terminal() {
                return Err(UsageError(
                    "stdout is not a terminal: use `cachetop report` (or `cachetop report --json`) \
                     for output a program can read"
                        .to_string(),
                )
                .into());
            }
            Err(UsageError(
                "the interactive screen is not built yet: use `cachetop report`".to_string(),
            )
            .into())
        }
    }
}
