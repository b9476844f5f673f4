//! `apt-cache-unlocked` and `apt-cache-docker-clean`.

use super::Rule;
use super::paths::apt_dir;
use crate::lint::dockerfile::{Dockerfile, Run, Sharing};
use crate::lint::finding::{Finding, Severity};

pub(crate) fn check_unlocked(file: usize, d: &Dockerfile) -> Vec<Finding> {
    let mut out = Vec::new();
    for run in d.stages.iter().flat_map(|s| &s.runs) {
        for m in &run.mounts {
            let Some(target) = m.target_abs.as_deref() else {
                continue;
            };
            let Some(dir) = apt_dir(target) else {
                continue;
            };
            if !m.is_cache() || m.spec.sharing != Sharing::Shared {
                continue;
            }
            out.push(Finding {
                rule: Rule::AptCacheUnlocked,
                severity: Severity::Warning,
                file,
                pos: m.pos,
                message: format!(
                    "apt cache mount {target} is shared without a lock (BuildKit's default \
                     sharing=shared): apt locks {dir} exclusively, and a build that finds \
                     the lock held by another build on this builder fails (\"Could not get \
                     lock\") instead of waiting"
                ),
                fix: format!(
                    "add sharing=locked to this mount: --mount=type=cache,target={target},sharing=locked"
                ),
            });
        }
    }
    out
}

/// Whether a command removes or empties docker-clean.
fn drops_docker_clean(command: &str) -> bool {
    command.contains("docker-clean")
        && (command.contains("rm ") || command.contains("mv ") || command.contains('>'))
}

/// Official images built on Debian or Ubuntu (their Alpine variants have no apt).
fn debian_based(image: &str) -> bool {
    let image = image.to_ascii_lowercase();
    let name_tag = image.rsplit('/').next().unwrap_or(&image);
    let (name, tag) = name_tag.split_once(':').unwrap_or((name_tag, ""));
    let name = name.split('@').next().unwrap_or(name);
    const DEBIAN: [&str; 12] = [
        "debian",
        "ubuntu",
        "buildpack-deps",
        "rust",
        "python",
        "node",
        "golang",
        "ruby",
        "php",
        "perl",
        "gcc",
        "eclipse-temurin",
    ];
    DEBIAN.contains(&name) && !tag.contains("alpine")
}

pub(crate) fn check_docker_clean(file: usize, d: &Dockerfile) -> Vec<Finding> {
    let mut out = Vec::new();
    for (s, stage) in d.stages.iter().enumerate() {
        let chain = d.ancestry(s);
        let root_image = chain
            .last()
            .and_then(|&r| d.stages.get(r))
            .map_or("", |st| st.image.as_str());
        // RUNs of the base stages, then this stage's up to and with the mount's RUN.
        let earlier: Vec<&Run> = chain[1..]
            .iter()
            .rev()
            .filter_map(|&a| d.stages.get(a))
            .flat_map(|st| &st.runs)
            .collect();
        for (i, run) in stage.runs.iter().enumerate() {
            let Some(m) = run.mounts.iter().find(|m| {
                m.is_cache()
                    && m.target_abs
                        .as_deref()
                        .and_then(apt_dir)
                        .is_some_and(|dir| dir == "/var/cache/apt")
            }) else {
                continue;
            };
            let cleaned = earlier
                .iter()
                .copied()
                .chain(stage.runs[..=i].iter())
                .any(|r| drops_docker_clean(&r.command));
            if cleaned {
                continue;
            }
            let target = m.target_abs.as_deref().unwrap_or("/var/cache/apt");
            let (severity, image_says) = if debian_based(root_image) {
                (
                    Severity::Warning,
                    format!("the base image {root_image} ships /etc/apt/apt.conf.d/docker-clean"),
                )
            } else {
                (
                    Severity::Info,
                    format!(
                        "if the base image {root_image} ships /etc/apt/apt.conf.d/docker-clean, \
                         as Debian and Ubuntu images do"
                    ),
                )
            };
            out.push(Finding {
                rule: Rule::AptCacheDockerClean,
                severity,
                file,
                pos: m.pos,
                message: format!(
                    "apt cache mount {target} stays empty: {image_says}, which deletes \
                     downloaded packages after every install, and no RUN before this one \
                     removes it, so every build downloads them again"
                ),
                fix: "remove docker-clean and keep downloaded packages before this RUN: RUN rm \
                      -f /etc/apt/apt.conf.d/docker-clean; echo \
                      'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > \
                      /etc/apt/apt.conf.d/keep-cache"
                    .to_string(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::dockerfile::parse;
    use crate::lint::finding::Pos;

    fn unlocked(src: &str) -> Vec<Pos> {
        check_unlocked(0, &parse(src).unwrap())
            .into_iter()
            .map(|f| f.pos)
            .collect()
    }

    fn clean(src: &str) -> Vec<(Severity, Pos)> {
        check_docker_clean(0, &parse(src).unwrap())
            .into_iter()
            .map(|f| (f.severity, f.pos))
            .collect()
    }

    #[test]
    fn apt_mounts_need_a_lock() {
        let src = "FROM debian\nRUN --mount=type=cache,target=/var/cache/apt \\\n    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \\\n    apt-get update\n";
        assert_eq!(unlocked(src), vec![Pos::new(2, 5)]);
        assert!(
            unlocked("FROM debian\nRUN --mount=type=cache,target=/var/lib/apt,sharing=private x\n")
                .is_empty()
        );
    }

    #[test]
    fn docker_clean_still_active() {
        let base =
            "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get install -y gcc\n";
        assert_eq!(
            clean(&format!("FROM debian:bookworm\n{base}")),
            vec![(Severity::Warning, Pos::new(2, 5))]
        );
        assert_eq!(
            clean(&format!(
                "FROM docker.io/library/rust:1.80-slim AS b\n{base}"
            )),
            vec![(Severity::Warning, Pos::new(2, 5))]
        );
        assert_eq!(
            clean(&format!("FROM registry.example.com/base\n{base}")),
            vec![(Severity::Info, Pos::new(2, 5))]
        );
    }

    #[test]
    fn docker_clean_removed_before_or_in_a_base_stage() {
        let rm = "RUN rm -f /etc/apt/apt.conf.d/docker-clean\n";
        let mount =
            "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked apt-get install -y gcc\n";
        assert!(clean(&format!("FROM debian\n{rm}{mount}")).is_empty());
        assert!(clean(&format!("FROM debian AS base\n{rm}FROM base\n{mount}")).is_empty());
        // Removed only after the install: too late.
        assert_eq!(clean(&format!("FROM debian\n{mount}{rm}")).len(), 1);
        // In the same RUN, before apt runs.
        let same = "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked rm -f /etc/apt/apt.conf.d/docker-clean && apt-get install -y gcc\n";
        assert!(clean(&format!("FROM debian\n{same}")).is_empty());
    }
}
