//! `cachetop completions SHELL` and `cachetop man`: generated from the clap
//! definitions, never written by hand, so they cannot drift from the CLI.

use std::io::Write;

use clap::CommandFactory;

use super::{Exit, UsageError};
use crate::cli::{Cli, CompletionsArgs, ManArgs};

const BIN: &str = "cachetop";

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Exit> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), BIN, &mut out);
    write_stdout(&out)
}

pub fn man(args: &ManArgs) -> anyhow::Result<Exit> {
    write_stdout(&man_page(args.subcommand.as_deref())?)
}

/// The roff of `cachetop(1)`, or of `cachetop-SUBCOMMAND(1)`.
pub fn man_page(subcommand: Option<&str>) -> Result<Vec<u8>, UsageError> {
    let mut cli = Cli::command();
    // Built, so each subcommand carries the global options it accepts.
    cli.build();
    let page = match subcommand {
        None => cli,
        Some(name) => {
            let names: Vec<String> = cli
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            let Some(sub) = cli.find_subcommand(name) else {
                return Err(UsageError(format!(
                    "no subcommand {name:?}; man pages: {}",
                    names.join(", ")
                )));
            };
            // The page's title and synopsis name the whole command, as `cachetop prune`.
            let full = format!("{BIN}-{}", sub.get_name());
            sub.clone()
                .name(full)
                .bin_name(format!("{BIN} {}", sub.get_name()))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| UsageError(format!("cannot render the man page: {e}")))?;
    Ok(out)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<Exit> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_names_every_subcommand_and_a_subcommand_has_its_own() {
        let main = String::from_utf8(man_page(None).unwrap()).unwrap();
        assert!(main.starts_with(".ie"), "{main}");
        assert!(main.contains(".TH cachetop 1"), "{main}");
        for sub in ["report", "prune", "repair", "lint", "completions", "man"] {
            assert!(main.contains(sub), "{sub}");
        }
        let prune = String::from_utf8(man_page(Some("prune")).unwrap()).unwrap();
        assert!(prune.contains(".TH cachetop-prune 1"), "{prune}");
        assert!(prune.contains("\\-\\-stale"), "{prune}");
        assert!(prune.contains("\\-\\-host"), "global options too: {prune}");
        assert!(man_page(Some("nope")).is_err());
    }
}
