//! A GitHub Actions (or Forgejo/Gitea Actions) workflow read into what the rules need:
//! its events, jobs, runners and steps, each with its place in the file.

pub(crate) mod yaml;

use yaml::{Kind, Node};

use crate::lint::finding::Pos;

/// A scalar and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Text {
    pub value: String,
    pub pos: Pos,
    pub end_line: usize,
}

impl Text {
    /// The place of byte `offset` of the value. Exact for one-line values and literal
    /// block scalars (`run: |`), whose lines keep their order and indentation; near for
    /// folded and quoted ones.
    pub(crate) fn pos_at(&self, offset: usize) -> Pos {
        let offset = offset.min(self.value.len());
        let before = self.value.get(..offset).unwrap_or("");
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let row = before.matches('\n').count();
        let col = before[line_start..].chars().count();
        Pos::new(self.pos.line + row, self.pos.column + col)
    }

    fn of(node: &Node) -> Option<Text> {
        node.as_str().map(|s| Text {
            value: s.to_string(),
            pos: node.pos,
            end_line: node.end_line,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Workflow {
    /// `on:` events, in any of its three forms.
    pub events: Vec<String>,
    pub env: Vec<(String, Text)>,
    pub jobs: Vec<Job>,
}

#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub id: String,
    /// Runs on a self-hosted runner, as far as the file tells.
    pub self_hosted: bool,
    pub if_cond: Option<Text>,
    pub env: Vec<(String, Text)>,
    /// `strategy.matrix` is set: one step may build several things.
    pub has_matrix: bool,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub uses: Option<Text>,
    pub with: Vec<(String, Text)>,
    pub run: Option<Text>,
    pub if_cond: Option<Text>,
    pub env: Vec<(String, Text)>,
}

impl Step {
    pub(crate) fn with(&self, key: &str) -> Option<&Text> {
        self.with.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The action without its version: `Swatinem/rust-cache` for
    /// `Swatinem/rust-cache@v2`, lowercased (GitHub's names are case-insensitive).
    pub(crate) fn action(&self) -> Option<String> {
        let uses = self.uses.as_ref()?;
        let name = uses.value.split('@').next().unwrap_or("");
        Some(name.trim().to_ascii_lowercase())
    }
}

/// Why a file is not a workflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NotAWorkflow {
    pub pos: Pos,
    pub message: String,
}

/// Reads a workflow. `all_self_hosted`: the forge has only self-hosted runners
/// (Forgejo, Gitea).
pub(crate) fn parse(text: &str, all_self_hosted: bool) -> Result<Workflow, NotAWorkflow> {
    let root = yaml::parse(text).map_err(|e| NotAWorkflow {
        pos: e.pos,
        message: format!("not valid YAML: {}", e.message),
    })?;
    let Some(root) = root else {
        return Err(NotAWorkflow {
            pos: Pos::new(1, 1),
            message: "empty file: a workflow needs `on:` and `jobs:`".into(),
        });
    };
    if !matches!(root.kind, Kind::Map(_)) {
        return Err(NotAWorkflow {
            pos: root.pos,
            message: "a workflow is a mapping with `on:` and `jobs:`".into(),
        });
    }
    let events = match root.get("on") {
        Some(n) => match &n.kind {
            Kind::Scalar(s) => vec![s.clone()],
            Kind::Seq(items) => items
                .iter()
                .filter_map(|i| i.as_str())
                .map(String::from)
                .collect(),
            Kind::Map(entries) => entries
                .iter()
                .filter_map(|(k, _)| k.as_str())
                .map(String::from)
                .collect(),
        },
        None => Vec::new(),
    };
    let jobs = root
        .get("jobs")
        .map(|j| j.entries())
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| Some(job(k.as_str()?, v, all_self_hosted)))
        .collect();
    Ok(Workflow {
        events,
        env: env(root.get("env")),
        jobs,
    })
}

fn env(node: Option<&Node>) -> Vec<(String, Text)> {
    node.map(|n| n.entries())
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), Text::of(v)?)))
        .collect()
}

fn job(id: &str, node: &Node, all_self_hosted: bool) -> Job {
    let matrix = node.get("strategy").and_then(|s| s.get("matrix"));
    let self_hosted = all_self_hosted
        || node
            .get("runs-on")
            .is_some_and(|r| runs_on_self_hosted(r, matrix));
    let steps = node
        .get("steps")
        .map(|s| s.items())
        .unwrap_or_default()
        .iter()
        .map(|s| Step {
            uses: s.get("uses").and_then(Text::of),
            with: env(s.get("with")),
            run: s.get("run").and_then(Text::of),
            if_cond: s.get("if").and_then(Text::of),
            env: env(s.get("env")),
        })
        .collect();
    Job {
        id: id.to_string(),
        self_hosted,
        if_cond: node.get("if").and_then(Text::of),
        env: env(node.get("env")),
        has_matrix: matrix.is_some(),
        steps,
    }
}

/// GitHub-hosted runner images are named `ubuntu-*`, `windows-*` and `macos-*`. A
/// list with `self-hosted`, a runner group, or a label of another name is taken as a
/// self-hosted runner (GitHub's larger runners with custom labels count as such too).
fn runs_on_self_hosted(node: &Node, matrix: Option<&Node>) -> bool {
    let labels: Vec<&str> = match &node.kind {
        Kind::Scalar(s) => vec![s.as_str()],
        Kind::Seq(items) => items.iter().filter_map(Node::as_str).collect(),
        Kind::Map(_) => {
            if node.get("group").is_some() {
                return true;
            }
            node.get("labels")
                .map(|l| match &l.kind {
                    Kind::Scalar(s) => vec![s.as_str()],
                    _ => l.items().iter().filter_map(Node::as_str).collect(),
                })
                .unwrap_or_default()
        }
    };
    labels.iter().any(|l| label_self_hosted(l, matrix))
}

fn label_self_hosted(label: &str, matrix: Option<&Node>) -> bool {
    let l = label.trim();
    if let Some(expr) = l.strip_prefix("${{").and_then(|e| e.strip_suffix("}}")) {
        // `${{ matrix.os }}`: whatever the matrix lists for it.
        let Some(key) = expr.trim().strip_prefix("matrix.") else {
            return false;
        };
        let Some(values) = matrix.and_then(|m| m.get(key)) else {
            return false;
        };
        return match &values.kind {
            Kind::Seq(items) => items.iter().any(|i| match &i.kind {
                Kind::Scalar(s) => label_self_hosted(s, None),
                Kind::Seq(_) | Kind::Map(_) => runs_on_self_hosted(i, None),
            }),
            Kind::Scalar(s) => label_self_hosted(s, None),
            Kind::Map(_) => false,
        };
    }
    let l = l.to_ascii_lowercase();
    l == "self-hosted"
        || !(l.starts_with("ubuntu-") || l.starts_with("windows-") || l.starts_with("macos-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_of_on() {
        let ev = |s: &str| parse(s, false).unwrap().events;
        assert_eq!(ev("on: push\njobs: {}\n"), vec!["push"]);
        assert_eq!(
            ev("on: [push, pull_request]\njobs: {}\n"),
            vec!["push", "pull_request"]
        );
        assert_eq!(
            ev("on:\n  pull_request:\n    branches: [main]\n  push:\njobs: {}\n"),
            vec!["pull_request", "push"]
        );
    }

    #[test]
    fn self_hosted_runners() {
        let hosted = |runs_on: &str| {
            let src = format!(
                "on: push\njobs:\n  a:\n    runs-on: {runs_on}\n    strategy:\n      matrix:\n        os: [ubuntu-latest, [self-hosted, x64]]\n    steps: []\n"
            );
            parse(&src, false).unwrap().jobs[0].self_hosted
        };
        assert!(!hosted("ubuntu-latest"));
        assert!(!hosted("[ubuntu-24.04]"));
        assert!(hosted("[self-hosted, linux]"));
        assert!(hosted("build-box"));
        assert!(hosted("{group: runners}"));
        assert!(hosted("${{ matrix.os }}"));
        assert!(!hosted("${{ inputs.runner }}"));
        let src = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: []\n";
        assert!(parse(src, true).unwrap().jobs[0].self_hosted);
    }

    #[test]
    fn steps_with_their_places() {
        let src = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: Swatinem/rust-cache@v2\n        with:\n          save-if: false\n      - run: cargo test\n        if: github.event_name == 'push'\n";
        let w = parse(src, false).unwrap();
        let steps = &w.jobs[0].steps;
        assert_eq!(steps[0].action().as_deref(), Some("swatinem/rust-cache"));
        assert_eq!(steps[0].uses.as_ref().unwrap().pos, Pos::new(6, 15));
        assert_eq!(steps[0].with("save-if").unwrap().value, "false");
        assert_eq!(steps[1].run.as_ref().unwrap().value, "cargo test");
        assert!(steps[1].if_cond.is_some());
    }

    #[test]
    fn not_workflows() {
        assert!(parse("- a\n- b\n", false).is_err());
        assert!(parse("", false).is_err());
        let e = parse("on: push\njobs:\n  a: {\n", false).unwrap_err();
        assert!(e.message.starts_with("not valid YAML"));
    }
}
