//! `daemon-wide-prune`: a job on a self-hosted runner that prunes the whole daemon.

use super::Rule;
use super::shell::commands;
use crate::lint::finding::{Finding, Severity};
use crate::lint::workflow::Workflow;

/// Flags that make `builder prune --all` keep what was used recently, or a budget.
const BUDGET_FLAGS: [&str; 5] = [
    "--keep-storage",
    "--reserved-space",
    "--max-used-space",
    "--min-free-space",
    "--filter",
];

/// What a docker command line prunes daemon-wide, if anything.
fn daemon_wide(words: &[&str]) -> Option<&'static str> {
    let mut w = words
        .iter()
        .copied()
        .skip_while(|w| *w == "sudo" || w.contains('=') && !w.starts_with('-'));
    let docker = w.next()?;
    if docker.rsplit('/').next() != Some("docker") {
        return None;
    }
    // Global options before the subcommand: `docker --context x builder prune`.
    let rest: Vec<&str> = w.collect();
    let mut i = 0;
    while let Some(word) = rest.get(i) {
        if !word.starts_with('-') {
            break;
        }
        i += if word.contains('=') || *word == "-D" || *word == "--debug" {
            1
        } else {
            2
        };
    }
    let sub = (rest.get(i).copied()?, rest.get(i + 1).copied()?);
    let flags = &rest[i + 2..];
    let all = flags.iter().any(|f| {
        *f == "--all"
            || f.starts_with("--all=") && !f.ends_with("=false")
            || f.starts_with('-') && !f.starts_with("--") && f.contains('a')
    });
    let budget = flags
        .iter()
        .any(|f| BUDGET_FLAGS.iter().any(|b| f.starts_with(b)));
    match sub {
        ("system", "prune") => Some("system prune"),
        ("builder", "prune") if all && !budget => Some("builder prune --all"),
        ("buildx", "prune") if all && !budget => Some("buildx prune --all"),
        _ => None,
    }
}

pub(crate) fn check(file: usize, w: &Workflow) -> Vec<Finding> {
    let mut out = Vec::new();
    for job in w.jobs.iter().filter(|j| j.self_hosted) {
        for step in &job.steps {
            let Some(run) = &step.run else {
                continue;
            };
            for cmd in commands(&run.value) {
                let words: Vec<&str> = cmd.words.iter().map(|(_, w)| w.as_str()).collect();
                let Some(what) = daemon_wide(&words) else {
                    continue;
                };
                let deletes = if what == "system prune" {
                    "stopped containers, unused networks, dangling images and build cache of \
                     every job using this machine's daemon"
                } else {
                    "every build cache record that no build holds at this moment, including \
                     the caches that concurrent and later jobs on this machine rely on"
                };
                out.push(Finding {
                    rule: Rule::DaemonWidePrune,
                    severity: Severity::Error,
                    file,
                    pos: run.pos_at(cmd.start),
                    message: format!(
                        "job `{}` runs on a self-hosted runner and runs docker {what}, which \
                         deletes {deletes}; concurrent builds lose their cache or stop",
                        job.id
                    ),
                    fix: "prune exactly and within a budget instead: docker buildx prune \
                          --max-used-space 20GB (keeps the most recently used), or cachetop \
                          prune --stale --yes"
                        .to_string(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::finding::Pos;
    use crate::lint::workflow::parse;

    fn found(runs_on: &str, script: &str) -> Vec<Pos> {
        let src = format!(
            "on: push\njobs:\n  clean:\n    runs-on: {runs_on}\n    steps:\n      - run: |\n{}",
            script
                .lines()
                .map(|l| format!("          {l}\n"))
                .collect::<String>()
        );
        check(0, &parse(&src, false).unwrap())
            .into_iter()
            .map(|f| f.pos)
            .collect()
    }

    #[test]
    fn daemon_wide_prunes_on_self_hosted_runners() {
        assert_eq!(
            found("[self-hosted]", "docker builder prune -a -f"),
            vec![Pos::new(7, 11)]
        );
        assert_eq!(
            found("[self-hosted]", "echo hi\nsudo docker system prune -af"),
            vec![Pos::new(8, 11)]
        );
        assert_eq!(
            found(
                "[self-hosted]",
                "df -h && docker buildx prune --all --force"
            ),
            vec![Pos::new(7, 20)]
        );
        assert_eq!(
            found("[self-hosted]", "docker builder prune \\\n  --all -f"),
            vec![Pos::new(7, 11)]
        );
        assert_eq!(
            found(
                "[self-hosted]",
                "/usr/bin/docker --context ci builder prune -fa"
            ),
            vec![Pos::new(7, 11)]
        );
    }

    #[test]
    fn budgeted_dangling_and_hosted_prunes_are_clean() {
        assert!(found("[self-hosted]", "docker builder prune -f").is_empty());
        assert!(
            found(
                "[self-hosted]",
                "docker buildx prune -a --max-used-space 20GB"
            )
            .is_empty()
        );
        assert!(
            found(
                "[self-hosted]",
                "docker builder prune --all --filter until=72h"
            )
            .is_empty()
        );
        assert!(found("[self-hosted]", "echo docker system prune").is_empty());
        assert!(found("[self-hosted]", "# docker system prune -af").is_empty());
        assert!(found("ubuntu-latest", "docker system prune -af").is_empty());
    }
}
