//! Where a live cache mount came from: the `RUN` lines of the linted Dockerfiles that
//! mount a given target (and id), with the rules found on them. This is what `report`
//! and the screen attach to a cache-mount entry as its origins.

use std::path::PathBuf;

use super::dockerfile::clean_path;
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
    /// Rules found on that `RUN` (any of its lines), each once, in id order.
    pub rules: Vec<Rule>,
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
            let mounts = r.mounts.iter().any(|m| {
                m.is_cache()
                    && m.target_abs.as_deref() == Some(target.as_str())
                    && match (cache_id, &m.cache_id) {
                        (Some(want), Some(have)) => id_matches(trim_id(&have.text), trim_id(want)),
                        _ => true,
                    }
            });
            if !mounts {
                continue;
            }
            let mut rules: Vec<Rule> = run
                .findings
                .iter()
                .filter(|f| f.file == i && (r.pos.line..=r.end_line).contains(&f.pos.line))
                .map(|f| f.rule)
                .collect();
            rules.sort_by_key(|r| r.id());
            rules.dedup();
            out.push(Origin {
                path: file.path.clone(),
                display: file.display.clone(),
                line: r.pos.line,
                column: r.pos.column,
                rules,
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
        assert_eq!(o[0].rules, vec![Rule::CargoRegistryUnlocked]);
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

    #[test]
    fn id_patterns() {
        assert!(id_matches("a-${X}-b", "a-1-b"));
        assert!(id_matches("${X}", "anything"));
        assert!(!id_matches("a-${X}", "b-1"));
        assert!(id_matches("${A}-${B}", "x-y"));
        assert!(!id_matches("ab${X}ba", "aba"));
    }
}
