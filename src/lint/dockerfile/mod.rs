//! A Dockerfile read into what the rules need: stages, how they depend on each other,
//! and every `RUN` with its mounts, variables resolved as far as the file allows.
//!
//! No crate fits (see `lines`): the maintained parsers either lack heredocs, the escape
//! directive and positions (`dockerfile-parser-rs`), or heredocs and the escape
//! directive (`dockerfile-parser`, unreleased since 2022), so this follows BuildKit's
//! own parser closely, with tests for each of its rules.

mod expand;
mod lines;
mod mount;
mod words;

use std::collections::BTreeSet;

pub(crate) use expand::Value;
use expand::{Scope, Var};
pub(crate) use lines::Fatal;
pub(crate) use mount::{MountSpec, MountType, Sharing};

use crate::lint::finding::Pos;

/// The instructions BuildKit knows; any other is an error when the build runs.
const KNOWN: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// A problem BuildKit would refuse the build for, found while reading on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issue {
    pub pos: Pos,
    pub message: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Dockerfile {
    pub stages: Vec<Stage>,
    pub issues: Vec<Issue>,
}

#[derive(Clone, Debug)]
pub(crate) struct Stage {
    /// `AS name`, lowercased as BuildKit compares it.
    pub name: Option<String>,
    /// The base image as written after substitution (a stage name when `base_stage`).
    pub image: String,
    pub base_stage: Option<usize>,
    /// Stages this one reads: its base, `COPY --from`, `RUN --mount=from=`.
    pub deps: BTreeSet<usize>,
    pub runs: Vec<Run>,
    /// `--from` values as written, resolved into `deps` at the end.
    from_refs: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Run {
    pub pos: Pos,
    pub end_line: usize,
    pub mounts: Vec<Mount>,
    /// The shell text, heredoc bodies included.
    pub command: String,
    /// The build arguments the command reads (`$SERVICE` with `ARG SERVICE` in scope).
    pub command_args: Vec<String>,
    pub cargo_home: Option<Value>,
    pub cargo_target_dir: Option<Value>,
}

#[derive(Clone, Debug)]
pub(crate) struct Mount {
    pub pos: Pos,
    pub spec: MountSpec,
    /// The target made absolute against WORKDIR, as BuildKit mounts it.
    pub target_abs: Option<String>,
    /// `id`, else the target as written (cleaned): BuildKit's cache id.
    pub cache_id: Option<Value>,
}

impl Mount {
    pub(crate) fn is_cache(&self) -> bool {
        self.spec.kind == MountType::Cache
    }
}

impl Dockerfile {
    /// Whether stage `a` reads stage `b`, directly or through others.
    pub(crate) fn depends_on(&self, a: usize, b: usize) -> bool {
        let mut seen = vec![false; self.stages.len()];
        let mut todo = vec![a];
        while let Some(s) = todo.pop() {
            let Some(stage) = self.stages.get(s) else {
                continue;
            };
            for &d in &stage.deps {
                if d == b {
                    return true;
                }
                if !std::mem::replace(&mut seen[d], true) {
                    todo.push(d);
                }
            }
        }
        false
    }

    /// The stage chain from `s` up through `FROM <stage>`.
    pub(crate) fn ancestry(&self, s: usize) -> Vec<usize> {
        let mut out = vec![s];
        let mut cur = s;
        while let Some(b) = self.stages.get(cur).and_then(|st| st.base_stage) {
            if out.contains(&b) {
                break;
            }
            out.push(b);
            cur = b;
        }
        out
    }
}

/// `path.Clean` for slash paths.
pub(crate) fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

struct StageState {
    scope: Scope,
    workdir: String,
}

/// Reads a Dockerfile. `Err` when BuildKit could not read it at all.
pub(crate) fn parse(text: &str) -> Result<Dockerfile, Fatal> {
    let split = lines::split(text)?;
    if split.instructions.is_empty() {
        return Err(Fatal {
            pos: Pos::new(1, 1),
            message: "file with no instructions".to_string(),
        });
    }
    let escape = split.escape;
    let mut global = Scope::default();
    let mut stages: Vec<Stage> = Vec::new();
    let mut states: Vec<StageState> = Vec::new();
    let mut issues = Vec::new();

    for logical in &split.instructions {
        let text = logical.text.as_str();
        let pos = split.pos(logical, 0);
        let (cmd, rest_at) = match text.find([' ', '\t', '\x0b', '\x0c', '\r']) {
            Some(i) => (&text[..i], i),
            None => (text, text.len()),
        };
        let cmd_lower = cmd.to_ascii_lowercase();
        if !KNOWN.contains(&cmd_lower.as_str()) {
            issues.push(Issue {
                pos,
                message: format!("unknown instruction: {}", truncate(cmd, 40)),
            });
            continue;
        }
        let rest = &text[rest_at..];
        let (flags, args_at) = words::extract_flags(rest, escape);
        let args = rest[args_at..].trim();
        let flag_pos = |f: &words::Flag| split.pos(logical, rest_at + f.at);

        if cmd_lower == "from" {
            let words: Vec<&str> = args.split_whitespace().collect();
            let image = global.expand(words.first().copied().unwrap_or(""), escape);
            let name = match words.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    Some(name.to_ascii_lowercase())
                }
                _ => None,
            };
            let image_lower = image.text.to_ascii_lowercase();
            let base_stage = stages
                .iter()
                .position(|s| s.name.as_deref() == Some(image_lower.as_str()));
            let state = match base_stage.and_then(|b| states.get(b)) {
                Some(base) => StageState {
                    // A stage inherits ENV (not ARG) and WORKDIR from its base stage.
                    scope: Scope {
                        vars: base
                            .scope
                            .vars
                            .iter()
                            .filter(|(_, v)| matches!(v, Var::Set(v) if !v.from_args))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    },
                    workdir: base.workdir.clone(),
                },
                None => StageState {
                    scope: Scope::default(),
                    workdir: "/".to_string(),
                },
            };
            stages.push(Stage {
                name,
                image: image.text,
                base_stage,
                deps: base_stage.into_iter().collect(),
                runs: Vec::new(),
                from_refs: Vec::new(),
            });
            states.push(state);
            continue;
        }

        let (Some(stage), Some(state)) = (stages.last_mut(), states.last_mut()) else {
            if cmd_lower == "arg" {
                declare_args(&mut global, None, args, escape);
            } else {
                issues.push(Issue {
                    pos,
                    message: format!("{} before the first FROM", cmd.to_ascii_uppercase()),
                });
            }
            continue;
        };
        match cmd_lower.as_str() {
            "arg" => declare_args(&mut state.scope, Some(&global), args, escape),
            "env" => set_env(&mut state.scope, args, escape),
            "workdir" => {
                let dir = state.scope.expand(args, escape).text;
                state.workdir = if dir.starts_with('/') {
                    clean_path(&dir)
                } else {
                    clean_path(&format!("{}/{dir}", state.workdir))
                };
            }
            "copy" => {
                for f in &flags {
                    if let (name, Some(v)) = f.name_value()
                        && name == "from"
                    {
                        stage.from_refs.push(v.to_string());
                    }
                }
            }
            "run" => {
                let mut mounts = Vec::new();
                for f in &flags {
                    let (name, Some(v)) = f.name_value() else {
                        continue;
                    };
                    if name != "mount" {
                        continue;
                    }
                    match mount::parse(v, &state.scope, escape) {
                        Ok(spec) => {
                            if let Some(from) = &spec.from {
                                stage.from_refs.push(from.clone());
                            }
                            let target_abs = spec.target.as_ref().map(|t| {
                                if t.text.starts_with('/') {
                                    clean_path(&t.text)
                                } else {
                                    clean_path(&format!("{}/{}", state.workdir, t.text))
                                }
                            });
                            let cache_id = match (&spec.id, &spec.target) {
                                (Some(id), _) if !id.text.is_empty() => Some(id.clone()),
                                (_, Some(t)) => Some(Value {
                                    text: clean_path(&t.text),
                                    ..t.clone()
                                }),
                                _ => None,
                            };
                            mounts.push(Mount {
                                pos: flag_pos(f),
                                spec,
                                target_abs,
                                cache_id,
                            });
                        }
                        Err(message) => issues.push(Issue {
                            pos: flag_pos(f),
                            message,
                        }),
                    }
                }
                let mut command = args.to_string();
                for h in &logical.heredocs {
                    command.push('\n');
                    command.push_str(&h.body);
                }
                let command_args = args_used(&state.scope, &command);
                let env = |k: &str| match state.scope.get(k) {
                    Some(Var::Set(v)) => Some(v.clone()),
                    _ => None,
                };
                stage.runs.push(Run {
                    pos,
                    end_line: logical.end_line,
                    mounts,
                    command,
                    command_args,
                    cargo_home: env("CARGO_HOME"),
                    cargo_target_dir: env("CARGO_TARGET_DIR"),
                });
            }
            _ => {}
        }
    }
    resolve_from_deps(&mut stages);
    if stages.is_empty() {
        issues.push(Issue {
            pos: Pos::new(1, 1),
            message: "no FROM instruction: nothing to build".to_string(),
        });
    }
    Ok(Dockerfile { stages, issues })
}

/// `--from=NAME` or `--from=INDEX` names an earlier stage; anything else is an image.
fn resolve_from_deps(stages: &mut [Stage]) {
    for i in 0..stages.len() {
        let refs = std::mem::take(&mut stages[i].from_refs);
        for r in refs {
            let r = r.to_ascii_lowercase();
            let found = match r.parse::<usize>() {
                Ok(n) => (n < i).then_some(n),
                Err(_) => stages[..i]
                    .iter()
                    .position(|s| s.name.as_deref() == Some(r.as_str())),
            };
            if let Some(d) = found {
                stages[i].deps.insert(d);
            }
        }
    }
}

/// `ARG A B=2`: declares build arguments in `scope`. In a stage, an `ARG` without a
/// default takes the global one (declared before the first FROM), if any.
fn declare_args(scope: &mut Scope, global: Option<&Scope>, args: &str, escape: char) {
    for word in words::parse_words(args, escape) {
        let var = match word.split_once('=') {
            Some((name, default)) => {
                let mut v = scope.expand(default, escape);
                v.from_args = true;
                (name.to_string(), Var::Set(v))
            }
            None => {
                let inherited = global.and_then(|g| g.get(&word)).cloned();
                (word.clone(), inherited.unwrap_or(Var::ArgUnset))
            }
        };
        scope.vars.insert(var.0, var.1);
    }
}

/// `ENV A=1 B=2` or the old `ENV A 1`.
fn set_env(scope: &mut Scope, args: &str, escape: char) {
    let words = words::parse_words(args, escape);
    let Some(first) = words.first() else {
        return;
    };
    if !first.contains('=') {
        let mut parts = args.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or("").to_string();
        let value = scope.expand(parts.next().unwrap_or("").trim(), escape);
        scope.vars.insert(name, Var::Set(value));
        return;
    }
    // All pairs of one ENV see the variables from before it.
    let before = scope.clone();
    for word in &words {
        if let Some((name, value)) = word.split_once('=') {
            let v = before.expand(value, escape);
            scope.vars.insert(name.to_string(), Var::Set(v));
        }
    }
}

/// The variables `command` reads that a build argument sets, each once.
fn args_used(scope: &Scope, command: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in variable_names(command) {
        let from_args = match scope.get(name) {
            Some(Var::ArgUnset) => true,
            Some(Var::Set(v)) => v.from_args,
            None => false,
        };
        if from_args && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// The names in `$NAME` and `${NAME...}` references.
fn variable_names(s: &str) -> impl Iterator<Item = &str> {
    s.match_indices('$').filter_map(move |(i, _)| {
        let rest = &s[i + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
    })
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
