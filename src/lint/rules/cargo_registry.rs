//! `cargo-registry-unlocked`: a cargo registry or git cache mount with
//! `sharing=shared` (BuildKit's default) while cargo's lock is not on a shared mount.

use super::Rule;
use super::paths::{cargo_registry_home, is_cargo_home};
use crate::lint::dockerfile::{Dockerfile, Mount, Sharing};
use crate::lint::finding::{Finding, Severity};

struct Site<'a> {
    stage: usize,
    mount: &'a Mount,
    target: String,
}

fn stage_label(d: &Dockerfile, s: usize) -> String {
    match d.stages.get(s).and_then(|st| st.name.as_deref()) {
        Some(name) => format!("`{name}`"),
        None => format!("#{s}"),
    }
}

pub(crate) fn check(file: usize, d: &Dockerfile) -> Vec<Finding> {
    let mut sites = Vec::new();
    for (s, stage) in d.stages.iter().enumerate() {
        for run in &stage.runs {
            // A shared cache of the cargo home itself holds `.package-cache`: cargo's
            // lock then works across builds, and the registry under it is protected.
            let home_locked = |home: &str| {
                run.mounts.iter().any(|m| {
                    m.is_cache()
                        && m.spec.sharing != Sharing::Private
                        && m.target_abs.as_deref() == Some(home)
                        && is_cargo_home(home, run)
                })
            };
            for m in &run.mounts {
                let Some(target) = m.target_abs.as_deref() else {
                    continue;
                };
                if !m.is_cache() || m.spec.sharing != Sharing::Shared {
                    continue;
                }
                let Some(home) = cargo_registry_home(target, run) else {
                    continue;
                };
                if home_locked(&home) {
                    continue;
                }
                let written = m.spec.target.as_ref().map_or(target, |t| t.text.as_str());
                sites.push(Site {
                    stage: s,
                    mount: m,
                    target: written.to_string(),
                });
            }
        }
    }
    sites
        .iter()
        .map(|site| {
            let id = site.mount.cache_id.as_ref().map(|v| v.text.as_str());
            let rival = sites.iter().find(|o| {
                o.stage != site.stage
                    && o.mount.cache_id.as_ref().map(|v| v.text.as_str()) == id
                    && !d.depends_on(site.stage, o.stage)
                    && !d.depends_on(o.stage, site.stage)
            });
            let lock = "cargo's lock ($CARGO_HOME/.package-cache) is in each build's own \
                        cargo home, outside the mount, so builds cannot see each other's \
                        lock and unpack the same crate at once: \"failed to unpack package \
                        ... File exists (os error 17)\", and a crate left half-extracted \
                        for every later build";
            let (severity, message) = match rival {
                Some(o) => (
                    Severity::Error,
                    format!(
                        "cargo cache mount {} is shared without a lock (BuildKit's default \
                         sharing=shared) in stage {}, and stage {} (line {}) mounts it too; \
                         the two stages do not depend on each other, so BuildKit builds them \
                         at the same time; {lock}",
                        site.target,
                        stage_label(d, site.stage),
                        stage_label(d, o.stage),
                        o.mount.pos.line,
                    ),
                ),
                None => (
                    Severity::Warning,
                    format!(
                        "cargo cache mount {} is shared without a lock (BuildKit's default \
                         sharing=shared), so other builds on the same builder use it at the \
                         same time; {lock}",
                        site.target
                    ),
                ),
            };
            Finding {
                rule: Rule::CargoRegistryUnlocked,
                severity,
                file,
                pos: site.mount.pos,
                message,
                fix: format!(
                    "add sharing=locked to this mount: --mount=type=cache,target={},sharing=locked",
                    site.target
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::dockerfile::parse;
    use crate::lint::finding::Pos;

    fn found(src: &str) -> Vec<(Severity, Pos)> {
        check(0, &parse(src).unwrap())
            .into_iter()
            .map(|f| (f.severity, f.pos))
            .collect()
    }

    #[test]
    fn two_independent_stages_are_an_error() {
        let src = "FROM rust:1 AS a\n\
                   RUN --mount=type=cache,target=/usr/local/cargo/registry cargo fetch\n\
                   FROM rust:1 AS b\n\
                   RUN --mount=type=cache,target=/usr/local/cargo/registry cargo fetch\n\
                   FROM debian\n\
                   COPY --from=a /x /x\n\
                   COPY --from=b /y /y\n";
        assert_eq!(
            found(src),
            vec![
                (Severity::Error, Pos::new(2, 5)),
                (Severity::Error, Pos::new(4, 5))
            ]
        );
    }

    #[test]
    fn dependent_stages_and_single_stages_are_warnings() {
        let src = "FROM rust:1 AS a\n\
                   RUN --mount=type=cache,target=/root/.cargo/git cargo fetch\n\
                   FROM a AS b\n\
                   RUN --mount=type=cache,target=/root/.cargo/git cargo build\n";
        assert_eq!(
            found(src),
            vec![
                (Severity::Warning, Pos::new(2, 5)),
                (Severity::Warning, Pos::new(4, 5))
            ]
        );
    }

    #[test]
    fn locked_private_and_home_mounts_are_clean() {
        assert!(found("FROM rust\nRUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked x\n").is_empty());
        assert!(found("FROM rust\nRUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=private x\n").is_empty());
        assert!(found("FROM rust\nRUN --mount=type=cache,target=/usr/local/cargo --mount=type=cache,target=/usr/local/cargo/registry x\n").is_empty());
        assert!(
            found("FROM rust\nRUN --mount=type=bind,target=/usr/local/cargo/registry x\n")
                .is_empty()
        );
        assert!(found("FROM rust\nRUN --mount=type=cache,target=/cache/npm x\n").is_empty());
    }

    #[test]
    fn cargo_home_from_env_and_variables() {
        let src = "FROM rust\nENV CARGO_HOME=/opt/ch\nRUN --mount=type=cache,target=$CARGO_HOME/registry x\n";
        assert_eq!(found(src), vec![(Severity::Warning, Pos::new(3, 5))]);
        let src = "FROM rust\nRUN --mount=type=cache,target=${CARGO_HOME}/git x\n";
        assert_eq!(found(src), vec![(Severity::Warning, Pos::new(2, 5))]);
    }
}
