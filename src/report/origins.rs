//! `--lint PATH`: the Dockerfiles behind the live cache mounts. The files are linted
//! as `cachetop lint` does; each cache-mount entry is then matched to the `RUN`s that
//! mount its target (and id), with the rules found there. A file that cannot be read
//! or parsed is a warning, never a failed report.

use std::fmt::Write;
use std::path::PathBuf;

use serde::Serialize;

use crate::lint::{self, FileKind, LintRun, discover, finding::Finding, origins};
use crate::model::Entry;
use crate::terminal_text::escape;
use crate::units::plural;

/// The linted files, and what went wrong reading them.
#[derive(Debug, Default)]
pub struct Origins {
    run: LintRun,
    warnings: Vec<String>,
}

/// A `RUN` that mounts an entry's cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunOrigin {
    /// The file as `cachetop lint` names it.
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub rules: Vec<OriginRule>,
}

/// A rule found on that `RUN` for this mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OriginRule {
    pub id: &'static str,
    pub severity: &'static str,
    /// The rule's one-line title.
    #[serde(skip)]
    pub title: &'static str,
    /// What happens, for this mount (the lint finding's message).
    pub message: String,
    pub fix: String,
}

impl Origins {
    /// Discovers and lints `paths` as `cachetop lint` would. Each path is looked at on
    /// its own, so one that is missing does not hide the others.
    pub fn lint(paths: &[PathBuf]) -> Self {
        let mut inputs = Vec::new();
        let mut warnings = Vec::new();
        for path in paths {
            match discover::discover(std::slice::from_ref(path)) {
                Ok(found) => {
                    inputs.extend(found.inputs);
                    warnings.extend(found.problems);
                }
                Err(e) => warnings.push(e.to_string()),
            }
        }
        Self::of_run(lint::lint(inputs), warnings)
    }

    fn of_run(run: LintRun, mut warnings: Vec<String>) -> Self {
        warnings.extend(run.unreadable().filter_map(|f| f.error.clone()));
        warnings.extend(
            run.findings
                .iter()
                .filter(|f| f.rule == lint::rules::Rule::ParseError)
                .map(|f| parse_warning(&run, f)),
        );
        Self { run, warnings }
    }

    /// Files that could not be read or parsed, paths that are not there: each a line
    /// for stderr (or the screen), unescaped.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How many Dockerfiles were linted.
    pub fn dockerfiles(&self) -> usize {
        self.run
            .files
            .iter()
            .filter(|f| f.kind == FileKind::Dockerfile)
            .count()
    }

    /// The `RUN`s that made this entry's cache mount; empty for anything else.
    pub fn of(&self, e: &Entry) -> Vec<RunOrigin> {
        let Some(m) = &e.mount else {
            return Vec::new();
        };
        origins::origins(&self.run, &m.target, m.cache_id.as_deref())
            .into_iter()
            .map(|o| RunOrigin {
                path: o.display,
                line: o.line,
                column: o.column,
                rules: o
                    .rules
                    .into_iter()
                    .map(|r| OriginRule {
                        id: r.rule.id(),
                        severity: r.severity.as_str(),
                        title: r.rule.title(),
                        message: r.message,
                        fix: r.fix,
                    })
                    .collect(),
            })
            .collect()
    }
}

fn parse_warning(run: &LintRun, f: &Finding) -> String {
    let file = run.files.get(f.file).map_or("?", |s| s.display.as_str());
    format!("{file}:{}:{}: {}", f.pos.line, f.pos.column, f.message)
}

impl RunOrigin {
    /// `docker/Dockerfile:14:1`.
    pub fn place(&self) -> String {
        format!("{}:{}:{}", self.path, self.line, self.column)
    }
}

/// The report table's section for `--lint`: each cache mount made by a linted `RUN`,
/// where, and the rule ids found there (`cachetop lint` explains them).
pub fn render_origins(entries: &[Entry], origins: &Origins) -> String {
    let files = plural(origins.dockerfiles(), "Dockerfile", "Dockerfiles");
    let mut out = String::new();
    let mut any = false;
    for e in entries {
        let found = origins.of(e);
        if found.is_empty() {
            continue;
        }
        if !any {
            let _ = writeln!(
                out,
                "\nMade by (--lint, {files}; `cachetop lint` explains):"
            );
            any = true;
        }
        let target = e.mount.as_ref().map_or("", |m| m.target.as_str());
        let _ = writeln!(
            out,
            "  {} {}  {}",
            e.source.kind,
            escape(&e.id),
            escape(target)
        );
        for o in &found {
            let rules: Vec<String> = o
                .rules
                .iter()
                .map(|r| format!("{}[{}]", r.severity, r.id))
                .collect();
            let rules = if rules.is_empty() {
                "no findings".to_string()
            } else {
                rules.join(" ")
            };
            let _ = writeln!(out, "    {}  {rules}", escape(&o.place()));
        }
    }
    if !any {
        let _ = writeln!(
            out,
            "\nMade by (--lint, {files}): no cache mount listed is mounted by their RUNs"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mount, SourceKind, SourceRef};

    fn entry(target: Option<&str>, cache_id: Option<&str>) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///d.sock"),
            "rec1",
            "exec.cachemount",
        );
        e.mount = target.map(|t| Mount {
            target: t.to_string(),
            cache_id: cache_id.map(str::to_string),
            command: "/bin/sh -c true".to_string(),
        });
        e
    }

    fn write(dir: &std::path::Path, name: &str, text: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn entries_get_the_runs_that_mount_them_and_bad_files_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "Dockerfile",
            b"FROM rust:1\nRUN --mount=type=cache,target=/usr/local/cargo/registry cargo fetch\n",
        );
        write(dir.path(), "broken.Dockerfile", b"FROM rust:1\nRUN \xff\n");
        let missing = dir.path().join("nowhere");
        let o = Origins::lint(&[dir.path().to_path_buf(), missing]);
        assert_eq!(o.dockerfiles(), 2);
        let w = o.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].ends_with("nowhere: no such file or directory"),
            "{w:?}"
        );
        assert!(w[1].contains("broken.Dockerfile:2:5: not UTF-8"));

        let found = o.of(&entry(Some("/usr/local/cargo/registry"), None));
        assert_eq!(found.len(), 1);
        assert!(found[0].place().ends_with("/Dockerfile:2:1"), "{found:?}");
        assert_eq!(found[0].rules.len(), 1);
        let r = &found[0].rules[0];
        assert_eq!((r.id, r.severity), ("cargo-registry-unlocked", "warning"));
        assert_eq!(
            r.title,
            "Cargo registry or git cache mount shared without a lock"
        );
        assert!(r.fix.contains("sharing=locked"));

        assert!(
            o.of(&entry(Some("/usr/local/cargo/registry"), Some("other")))
                .is_empty()
        );
        assert!(o.of(&entry(Some("/root/.cargo/registry"), None)).is_empty());
        assert!(o.of(&entry(None, None)).is_empty());

        let mut hostile = entry(Some("/usr/local/cargo/registry"), None);
        hostile.id = "rec\x1b[2J".to_string();
        let text = render_origins(&[entry(None, None), hostile], &o);
        assert!(!text.contains('\x1b'), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "Made by (--lint, 2 Dockerfiles; `cachetop lint` explains):"
        );
        assert!(lines[2].starts_with("  docker rec"), "{text}");
        assert!(lines[2].ends_with("  /usr/local/cargo/registry"), "{text}");
        assert!(
            lines[3].ends_with("/Dockerfile:2:1  warning[cargo-registry-unlocked]"),
            "{text}"
        );
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            render_origins(&[entry(None, None)], &o),
            "\nMade by (--lint, 2 Dockerfiles): no cache mount listed is mounted by their RUNs\n"
        );
    }
}
