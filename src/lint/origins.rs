//! Where a live cache mount came from: the `RUN` lines of the linted Dockerfiles that
//! mount a given target (and id), with the rules found on them. This is what `report`
//! and the screen attach to a cache-mount entry as its origins.

use std::path::PathBuf;

use super::dockerfile::{Run, clean_path};
use super::finding::{Finding, Severity};
use super::rules::Rule;
use super::{LintRun, Parsed};

/// One `RUN` that mounts the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    pub path: PathBuf,
    /// The file as the lint output names it.
    pub display: String,
    /// The `RUN` instruction's first line and column.
    pub line: usize,
    pub column: usize,
    /// Rules found on that `RUN` that concern this mount, each once, in id order.
    pub rules: Vec<OriginRule>,
}

/// A rule found where the cache is mounted: the worst finding of that rule there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OriginRule {
    pub rule: Rule,
    pub severity: Severity,
    /// The finding's own message and fix, which name the mount and the stages.
    pub message: String,
    pub fix: String,
}

/// Ids compare without leading slashes: BuildKit records a cache id with its namespace
/// prefix (`/` + id), and a default id is the target path itself.
fn trim_id(id: &str) -> &str {
    id.trim_start_matches('/')
}

/// `pattern` is an id as the file writes it after substitution, where `${NAME}` is a
/// build argument the file leaves open: it matches any text there.
fn id_matches(pattern: &str, id: &str) -> bool {
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        parts.push(&rest[..start]);
        rest = &rest[start + len + 1..];
    }
    parts.push(rest);
    if parts.len() == 1 {
        return pattern == id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first)
        || !id[first.len()..].ends_with(last)
        || id.len() < first.len() + last.len()
    {
        return false;
    }
    let mut at = first.len();
    let end = id.len() - last.len();
    for middle in &parts[1..parts.len() - 1] {
        match id[at..end].find(middle) {
            Some(i) => at += i + middle.len(),
            None => return false,
        }
    }
    true
}

/// Whether a mount of a linted `RUN` is this cache: the same target, and the same id
/// when both are known.
fn mount_matches(m: &super::dockerfile::Mount, target: &str, cache_id: Option<&str>) -> bool {
    m.is_cache()
        && m.target_abs.as_deref() == Some(target)
        && match (cache_id, &m.cache_id) {
            (Some(want), Some(have)) => id_matches(trim_id(&have.text), trim_id(want)),
            _ => true,
        }
}

/// The findings of file `file` on `r` that concern the matching mounts: every finding
/// on the `RUN`'s lines except those placed on one of its other mounts (a finding
/// about the git mount is not about the registry mount beside it). Each rule once,
/// at its worst severity, in id order.
fn rules_on(findings: &[Finding], file: usize, r: &Run, matching: &[bool]) -> Vec<OriginRule> {
    let others: Vec<_> = r
        .mounts
        .iter()
        .zip(matching)
        .filter(|(_, m)| !**m)
        .map(|(mount, _)| mount.pos)
        .collect();
    let mut rules: Vec<OriginRule> = Vec::new();
    for f in findings.iter().filter(|f| {
        f.file == file
            && (r.pos.line..=r.end_line).contains(&f.pos.line)
            && !others.contains(&f.pos)
    }) {
        match rules.iter_mut().find(|o| o.rule == f.rule) {
            Some(o) if f.severity > o.severity => {
                o.severity = f.severity;
                o.message.clone_from(&f.message);
                o.fix.clone_from(&f.fix);
            }
            Some(_) => {}
            None => rules.push(OriginRule {
                rule: f.rule,
                severity: f.severity,
                message: f.message.clone(),
                fix: f.fix.clone(),
            }),
        }
    }
    rules.sort_by_key(|o| o.rule.id());
    rules
}

/// The `RUN`s of `run`'s Dockerfiles that mount a cache at `target` (absolute, as
/// BuildKit records it) with `cache_id` when the entry knows it.
pub(crate) fn origins(run: &LintRun, target: &str, cache_id: Option<&str>) -> Vec<Origin> {
    let target = clean_path(target);
    let mut out = Vec::new();
    for (i, file) in run.files.iter().enumerate() {
        let Parsed::Dockerfile(d) = &file.parsed else {
            continue;
        };
        for r in d.stages.iter().flat_map(|s| &s.runs) {
            let matching: Vec<bool> = r
                .mounts
                .iter()
                .map(|m| mount_matches(m, &target, cache_id))
                .collect();
            if !matching.contains(&true) {
                continue;
            }
            out.push(Origin {
                path: file.path.clone(),
                display: file.display.clone(),
                line: r.pos.line,
                column: r.pos.column,
                rules: rules_on(&run.findings, i, r, &matching),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{FileKind, Input, lint};
    use super::*;

    fn run_of(files: &[(&str, &str)]) -> LintRun {
        lint(
            files
                .iter()
                .map(|(name, text)| Input {
                    path: PathBuf::from(name),
                    display: name.to_string(),
                    kind: FileKind::Dockerfile,
                    repo: PathBuf::from("."),
                    all_self_hosted: false,
                    content: Ok(text.as_bytes().to_vec()),
                })
                .collect(),
        )
    }

    #[test]
    fn runs_that_mount_a_target_with_their_rules() {
        let run = run_of(&[
            (
                "a/Dockerfile",
                "FROM rust:1\nWORKDIR /app\nRUN --mount=type=cache,target=/usr/local/cargo/registry \\\n  cargo fetch\n",
            ),
            (
                "b/Dockerfile",
                "FROM rust:1\nRUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked cargo fetch\n",
            ),
        ]);
        let o = origins(&run, "/usr/local/cargo/registry", None);
        assert_eq!(o.len(), 2);
        assert_eq!(
            (o[0].display.as_str(), o[0].line, o[0].column),
            ("a/Dockerfile", 3, 1)
        );
        assert_eq!(rule_ids(&o[0]), vec!["cargo-registry-unlocked"]);
        assert_eq!(o[0].rules[0].severity, Severity::Warning);
        assert!(
            o[0].rules[0].fix.contains("sharing=locked"),
            "{:?}",
            o[0].rules
        );
        assert_eq!((o[1].display.as_str(), o[1].line), ("b/Dockerfile", 2));
        assert!(o[1].rules.is_empty());
        // The default id is the target: BuildKit's recorded form has a leading slash.
        assert_eq!(
            origins(
                &run,
                "/usr/local/cargo/registry",
                Some("//usr/local/cargo/registry")
            )
            .len(),
            2
        );
        assert!(origins(&run, "/usr/local/cargo/registry", Some("other")).is_empty());
        assert!(origins(&run, "/root/.cargo/registry", None).is_empty());
    }

    #[test]
    fn per_service_ids_match_the_live_id() {
        let run = run_of(&[(
            "Dockerfile",
            "FROM rust:1\nARG SERVICE\nRUN --mount=type=cache,id=target-${SERVICE},target=/app/target cargo build --bin $SERVICE\n",
        )]);
        assert_eq!(origins(&run, "/app/target", Some("target-api")).len(), 1);
        assert_eq!(
            origins(&run, "/app/target/", Some("/target-worker")).len(),
            1
        );
        assert!(origins(&run, "/app/target", Some("cargo-target")).is_empty());
    }

    fn rule_ids(o: &Origin) -> Vec<&'static str> {
        o.rules.iter().map(|r| r.rule.id()).collect()
    }

    /// FJMCP-2's tools image: two stages that do not depend on each other mount the
    /// registry and git caches unlocked (an error), and a target dir.
    const TOOLS: &str = "FROM rust:1 AS cli\n\
        WORKDIR /src\n\
        RUN --mount=type=cache,target=/usr/local/cargo/registry \\\n\
        \x20   --mount=type=cache,target=/usr/local/cargo/git \\\n\
        \x20   cargo install --path cli --root /out\n\
        FROM rust:1 AS migrate\n\
        WORKDIR /src\n\
        RUN --mount=type=cache,target=/usr/local/cargo/registry \\\n\
        \x20   --mount=type=cache,target=/usr/local/cargo/git \\\n\
        \x20   --mount=type=cache,target=/src/target,sharing=locked \\\n\
        \x20   cargo install --path migrate --root /out\n\
        FROM debian:bookworm-slim\n\
        COPY --from=cli /out/bin/ /usr/local/bin/\n\
        COPY --from=migrate /out/bin/ /usr/local/bin/\n";

    #[test]
    fn every_run_of_every_file_that_mounts_it_in_file_order() {
        let run = run_of(&[
            ("tools.Dockerfile", TOOLS),
            (
                "server.Dockerfile",
                "FROM rust:1\nRUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \\\n  cargo build\n",
            ),
        ]);
        let o = origins(&run, "/usr/local/cargo/registry", None);
        let places: Vec<(&str, usize, usize)> = o
            .iter()
            .map(|o| (o.display.as_str(), o.line, o.column))
            .collect();
        assert_eq!(
            places,
            vec![
                ("tools.Dockerfile", 3, 1),
                ("tools.Dockerfile", 8, 1),
                ("server.Dockerfile", 2, 1)
            ]
        );
        // Independent stages: the error severity, with the finding's own message.
        assert_eq!(rule_ids(&o[0]), vec!["cargo-registry-unlocked"]);
        assert_eq!(o[0].rules[0].severity, Severity::Error);
        assert!(
            o[0].rules[0].message.contains("/usr/local/cargo/registry"),
            "{}",
            o[0].rules[0].message
        );
        assert_eq!(o[1].rules[0].severity, Severity::Error);
        // The locked mount is clean.
        assert!(o[2].rules.is_empty());
    }

    #[test]
    fn a_finding_on_another_mount_of_the_run_is_not_this_caches() {
        let run = run_of(&[("tools.Dockerfile", TOOLS)]);
        // The git mount's finding names git, not the registry.
        let git = origins(&run, "/usr/local/cargo/git", None);
        assert_eq!(git.len(), 2);
        assert!(git[0].rules[0].message.contains("/usr/local/cargo/git"));
        // The locked target mount shares its RUN with two unlocked mounts: no rule.
        let target = origins(&run, "/src/target", None);
        assert_eq!(target.len(), 1);
        assert_eq!(target[0].line, 8);
        assert!(target[0].rules.is_empty(), "{:?}", target[0].rules);
    }

    #[test]
    fn the_id_decides_when_both_sides_know_it() {
        let run = run_of(&[(
            "Dockerfile",
            "FROM rust:1\nRUN --mount=type=cache,id=reg-a,target=/usr/local/cargo/registry,sharing=locked true\n\
             RUN --mount=type=cache,id=reg-b,target=/usr/local/cargo/registry,sharing=locked true\n",
        )]);
        let lines = |id: Option<&str>| -> Vec<usize> {
            origins(&run, "/usr/local/cargo/registry", id)
                .iter()
                .map(|o| o.line)
                .collect()
        };
        assert_eq!(lines(Some("reg-b")), vec![3]);
        assert_eq!(lines(Some("/reg-a")), vec![2]);
        assert!(lines(Some("reg-c")).is_empty());
        // dockerd 20.10 records no id: the target alone decides.
        assert_eq!(lines(None), vec![2, 3]);
    }

    #[test]
    fn nothing_from_files_that_are_not_dockerfiles_or_did_not_parse() {
        let mut run = run_of(&[(
            "Dockerfile",
            "FROM rust:1\nRUN --mount=type=cache,target=/usr/local/cargo/registry \\\n",
        )]);
        run.files[0].parsed = Parsed::Nothing;
        assert!(origins(&run, "/usr/local/cargo/registry", None).is_empty());
    }

    #[test]
    fn id_patterns() {
        assert!(id_matches("a-${X}-b", "a-1-b"));
        assert!(id_matches("${X}", "anything"));
        assert!(!id_matches("a-${X}", "b-1"));
        assert!(id_matches("${A}-${B}", "x-y"));
        assert!(!id_matches("ab${X}ba", "aba"));
    }
}
