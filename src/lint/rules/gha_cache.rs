//! The Actions cache rules: `gha-cache-competition`, `gha-cache-saved-from-prs`,
//! `gha-buildkit-scope`. Workflows in one workflows directory belong to one repository
//! and share its cache.

use std::path::Path;

use super::Rule;
use super::shell::commands;
use crate::lint::finding::{Finding, Pos, Severity};
use crate::lint::workflow::{Job, Step, Text, Workflow};

pub(crate) struct WorkflowRef<'a> {
    pub file: usize,
    pub workflow: &'a Workflow,
    pub repo: &'a Path,
    pub name: &'a str,
}

fn truthy(v: &str) -> bool {
    !matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "false" | "0" | "off" | "no"
    )
}

/// Where sccache's GHA backend is turned on: `SCCACHE_GHA_ENABLED` in an `env:`, or
/// written to `$GITHUB_ENV` by a script.
fn sccache_gha(w: &Workflow) -> Option<Pos> {
    let in_env = |env: &[(String, Text)]| {
        env.iter()
            .find(|(k, v)| k == "SCCACHE_GHA_ENABLED" && truthy(&v.value))
            .map(|(_, v)| v.pos)
    };
    in_env(&w.env).or_else(|| {
        w.jobs.iter().find_map(|j| {
            in_env(&j.env).or_else(|| {
                j.steps.iter().find_map(|s| {
                    in_env(&s.env).or_else(|| {
                        let run = s.run.as_ref()?;
                        let at = run.value.find("SCCACHE_GHA_ENABLED=")?;
                        let value = &run.value[at + "SCCACHE_GHA_ENABLED=".len()..];
                        truthy(
                            value
                                .split(|c: char| c.is_whitespace() || c == '"')
                                .next()?,
                        )
                        .then(|| run.pos_at(at))
                    })
                })
            })
        })
    })
}

fn is_false(t: Option<&Text>) -> bool {
    t.is_some_and(|t| t.value.trim().eq_ignore_ascii_case("false"))
}

/// A step that caches compiled output besides sccache: rust-cache keeping targets, or
/// actions/cache of a `target` directory.
fn caches_build_output(step: &Step) -> Option<&'static str> {
    match step.action()?.as_str() {
        "swatinem/rust-cache" if !is_false(step.with("cache-targets")) => Some("rust-cache"),
        "actions/cache" | "actions/cache/save" => {
            let path = step.with("path")?;
            path.value
                .lines()
                .any(|p| p.split('/').any(|c| c.trim() == "target"))
                .then_some("actions/cache")
        }
        _ => None,
    }
}

pub(crate) fn check_competition(workflows: &[WorkflowRef<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in workflows {
        let Some((sc, sc_pos)) = workflows
            .iter()
            .filter(|o| o.repo == w.repo)
            .find_map(|o| sccache_gha(o.workflow).map(|p| (o, p)))
        else {
            continue;
        };
        let place = if sc.file == w.file {
            format!("line {}", sc_pos.line)
        } else {
            format!("{}:{}", sc.name, sc_pos.line)
        };
        for step in w.workflow.jobs.iter().flat_map(|j| &j.steps) {
            let (Some(what), Some(uses)) = (caches_build_output(step), step.uses.as_ref()) else {
                continue;
            };
            out.push(Finding {
                rule: Rule::GhaCacheCompetition,
                severity: Severity::Warning,
                file: w.file,
                pos: uses.pos,
                message: format!(
                    "{what} saves compiled output while sccache's GHA backend \
                     (SCCACHE_GHA_ENABLED at {place}) stores every compiled object as its own \
                     entry in the same repository cache: both count against its limit and \
                     GitHub evicts the least recently used first, so they evict each other \
                     and both miss"
                ),
                fix: if what == "rust-cache" {
                    "keep one cache of compiled output: set cache-targets: false on this \
                     rust-cache step (it then caches only ~/.cargo), or drop \
                     SCCACHE_GHA_ENABLED"
                        .to_string()
                } else {
                    "keep one cache of compiled output: leave target/ out of this \
                     actions/cache path, or drop SCCACHE_GHA_ENABLED"
                        .to_string()
                },
            });
        }
    }
    out
}

/// Whether an `if:`-style expression keeps a step off pull_request runs, by the usual
/// guards: the event name, the ref, a tag.
pub(crate) fn excludes_pull_requests(expr: &str) -> bool {
    let e: String = expr
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
        .replace('"', "'");
    const GUARDS: [&str; 14] = [
        "github.event_name!='pull_request'",
        "'pull_request'!=github.event_name",
        "github.event_name=='push'",
        "github.event_name=='schedule'",
        "github.event_name=='workflow_dispatch'",
        "github.event_name=='release'",
        "github.event_name=='merge_group'",
        "github.ref=='refs/heads/",
        "github.ref_name=='",
        "github.ref_type=='tag'",
        "startswith(github.ref,'refs/tags/')",
        "startswith(github.ref,'refs/heads/')",
        "!github.event.pull_request",
        "github.event.pull_request==null",
    ];
    GUARDS.iter().any(|g| e.contains(g)) || e.contains("github.head_ref==''")
}

fn guarded(t: Option<&Text>) -> bool {
    t.is_some_and(|t| excludes_pull_requests(&t.value))
}

/// A BuildKit build that exports to the gha cache: where, its scope, and what it builds.
struct GhaExport {
    pos: Pos,
    /// `scope=` as written; `None` is BuildKit's default scope "buildkit".
    scope: Option<String>,
    /// What image it builds, as far as the step tells; `None`: several (a matrix).
    image: Option<String>,
    /// The export is itself conditional on an expression that excludes pull requests.
    guarded: bool,
}

fn gha_scope(entry: &str) -> Option<String> {
    entry
        .split(',')
        .find_map(|kv| kv.trim().strip_prefix("scope="))
        .map(|s| s.trim().to_string())
}

fn gha_exports(job: &Job, step: &Step) -> Vec<GhaExport> {
    let mut out = Vec::new();
    let action = step.action();
    if let (Some("docker/build-push-action"), Some(to)) = (action.as_deref(), step.with("cache-to"))
    {
        let image = ["context", "file", "target"]
            .iter()
            .filter_map(|k| step.with(k).map(|t| t.value.trim().to_string()))
            .collect::<Vec<_>>()
            .join(" ");
        let several = job.has_matrix || image.contains("${{");
        let mut offset = 0;
        for line in to.value.split_inclusive('\n') {
            if line.contains("type=gha") {
                out.push(GhaExport {
                    pos: to.pos_at(offset + line.find("type=gha").unwrap_or(0)),
                    scope: gha_scope(line),
                    image: (!several).then(|| image.clone()),
                    guarded: line.contains("${{") && excludes_pull_requests(line),
                });
            }
            offset += line.len();
        }
    }
    if let (Some("docker/bake-action"), Some(set)) = (action.as_deref(), step.with("set"))
        && let Some(at) = set.value.find("cache-to=type=gha")
    {
        let line = set.value[at..].lines().next().unwrap_or("");
        out.push(GhaExport {
            pos: set.pos_at(at),
            scope: gha_scope(line),
            // A bake file builds several targets with this one setting.
            image: None,
            guarded: false,
        });
    }
    if let Some(run) = &step.run {
        for cmd in commands(&run.value) {
            let words: Vec<&str> = cmd.words.iter().map(|(_, w)| w.as_str()).collect();
            let Some(i) = words
                .iter()
                .position(|w| *w == "--cache-to" || w.starts_with("--cache-to="))
            else {
                continue;
            };
            let value = match words[i].strip_prefix("--cache-to=") {
                Some(v) => v,
                None => words.get(i + 1).copied().unwrap_or(""),
            };
            if !value.contains("type=gha") {
                continue;
            }
            let image: Vec<&str> = words
                .iter()
                .copied()
                .filter(|w| !w.starts_with("--cache"))
                .collect();
            out.push(GhaExport {
                pos: run.pos_at(cmd.words[i].0),
                scope: gha_scope(value),
                image: (!job.has_matrix).then(|| image.join(" ")),
                guarded: false,
            });
        }
    }
    out
}

/// Steps that save a cache, with where and what.
fn saves(job: &Job, step: &Step) -> Vec<(Pos, String)> {
    let mut out = Vec::new();
    match step.action().as_deref() {
        Some("actions/cache") | Some("actions/cache/save")
            if !step.with("lookup-only").is_some_and(|t| truthy(&t.value)) =>
        {
            if let Some(u) = &step.uses {
                out.push((u.pos, format!("{} saves a cache", u.value.trim())));
            }
        }
        Some("swatinem/rust-cache") => {
            let save_if = step.with("save-if");
            let saves = match save_if {
                None => true,
                Some(t) => t.value.trim().eq_ignore_ascii_case("true"),
            };
            if let (true, Some(u)) = (saves, &step.uses) {
                let why = if save_if.is_some() {
                    "rust-cache with save-if: true saves its cache"
                } else {
                    "rust-cache without save-if saves its cache"
                };
                out.push((u.pos, why.to_string()));
            }
        }
        _ => {}
    }
    for e in gha_exports(job, step) {
        if !e.guarded {
            out.push((
                e.pos,
                "cache-to: type=gha saves BuildKit's cache".to_string(),
            ));
        }
    }
    out
}

pub(crate) fn check_saved_from_prs(workflows: &[WorkflowRef<'_>]) -> Vec<Finding> {
    let mut out = Vec::new();
    for w in workflows {
        if !w.workflow.events.iter().any(|e| e == "pull_request") {
            continue;
        }
        for job in &w.workflow.jobs {
            if guarded(job.if_cond.as_ref()) {
                continue;
            }
            for step in &job.steps {
                if guarded(step.if_cond.as_ref()) {
                    continue;
                }
                for (pos, what) in saves(job, step) {
                    out.push(Finding {
                        rule: Rule::GhaCacheSavedFromPrs,
                        severity: Severity::Warning,
                        file: w.file,
                        pos,
                        message: format!(
                            "{what} on pull_request runs too (job `{}`): a cache saved there \
                             belongs to refs/pull/N/merge, which the default branch never \
                             restores, yet it counts against the repository's cache limit \
                             and evicts the default branch's entries",
                            job.id
                        ),
                        fix: "save only from the default branch: rust-cache's save-if: ${{ \
                              github.ref == 'refs/heads/main' }}, actions/cache/restore (not \
                              actions/cache) on pull requests, or if: github.event_name != \
                              'pull_request' on the saving step"
                            .to_string(),
                    });
                }
            }
        }
    }
    out
}

pub(crate) fn check_buildkit_scope(workflows: &[WorkflowRef<'_>]) -> Vec<Finding> {
    struct Site<'a> {
        w: &'a WorkflowRef<'a>,
        export: GhaExport,
    }
    let sites: Vec<Site<'_>> = workflows
        .iter()
        .flat_map(|w| {
            w.workflow.jobs.iter().flat_map(move |j| {
                j.steps
                    .iter()
                    .flat_map(move |s| gha_exports(j, s))
                    .map(move |export| Site { w, export })
            })
        })
        .collect();
    let mut out = Vec::new();
    for site in &sites {
        // A scope from an expression is taken to differ per image.
        if site
            .export
            .scope
            .as_deref()
            .is_some_and(|s| s.contains("${{"))
        {
            continue;
        }
        let group: Vec<&Site<'_>> = sites
            .iter()
            .filter(|o| o.w.repo == site.w.repo && o.export.scope == site.export.scope)
            .collect();
        let mut images: Vec<Option<&str>> =
            group.iter().map(|o| o.export.image.as_deref()).collect();
        images.sort_unstable();
        images.dedup();
        let several = images.len() > 1 || images.contains(&None);
        if !several {
            continue;
        }
        let others: Vec<String> = group
            .iter()
            .filter(|o| !std::ptr::eq(**o, site))
            .map(|o| {
                if o.w.file == site.w.file {
                    format!("line {}", o.export.pos.line)
                } else {
                    format!("{}:{}", o.w.name, o.export.pos.line)
                }
            })
            .collect();
        let shared_with = if others.is_empty() {
            "a matrix of images from this one step".to_string()
        } else {
            format!("the build at {}", others.join(", "))
        };
        let scope = match &site.export.scope {
            None => "has no scope=, so it uses BuildKit's default scope \"buildkit\"".to_string(),
            Some(s) => format!("uses scope={s}"),
        };
        out.push(Finding {
            rule: Rule::GhaBuildkitScope,
            severity: Severity::Warning,
            file: site.w.file,
            pos: site.export.pos,
            message: format!(
                "cache-to type=gha {scope}, as does {shared_with}, which builds another image: \
                 BuildKit keeps one cache index per scope, so each build overwrites the \
                 other's index and misses its own cache"
            ),
            fix: "give each image its own scope: cache-to: type=gha,scope=IMAGE,mode=max and \
                  cache-from: type=gha,scope=IMAGE (e.g. scope=${{ matrix.image }})"
                .to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::workflow::parse;

    fn wf(src: &str) -> Workflow {
        parse(src, false).unwrap()
    }

    fn refs<'a>(ws: &'a [(Workflow, &'a str)]) -> Vec<WorkflowRef<'a>> {
        ws.iter()
            .enumerate()
            .map(|(i, (w, name))| WorkflowRef {
                file: i,
                workflow: w,
                repo: Path::new("/repo/.github/workflows"),
                name,
            })
            .collect()
    }

    fn places(found: Vec<Finding>) -> Vec<(usize, Pos)> {
        found.into_iter().map(|f| (f.file, f.pos)).collect()
    }

    const SCCACHE: &str = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    env:\n      SCCACHE_GHA_ENABLED: \"true\"\n    steps:\n      - uses: mozilla-actions/sccache-action@v0.0.9\n";

    #[test]
    fn sccache_and_rust_cache_across_workflows() {
        let rc = "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: Swatinem/rust-cache@v2\n      - uses: actions/cache@v4\n        with:\n          path: |\n            ~/.cargo/registry\n            target\n";
        let ws = [(wf(SCCACHE), "sccache.yml"), (wf(rc), "rust.yml")];
        let found = check_competition(&refs(&ws));
        assert_eq!(
            places(found.clone()),
            vec![(1, Pos::new(6, 15)), (1, Pos::new(7, 15))]
        );
        assert!(
            found[0].message.contains("sccache.yml:6"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn no_competition_without_both() {
        let rc_no_targets = "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: Swatinem/rust-cache@v2\n        with:\n          cache-targets: false\n      - uses: actions/cache@v4\n        with:\n          path: ~/.cargo/registry\n";
        let ws = [(wf(SCCACHE), "a.yml"), (wf(rc_no_targets), "b.yml")];
        assert!(check_competition(&refs(&ws)).is_empty());
        let off = SCCACHE.replace("\"true\"", "\"false\"");
        let rc = "on: push\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: Swatinem/rust-cache@v2\n";
        let ws = [(wf(&off), "a.yml"), (wf(rc), "b.yml")];
        assert!(check_competition(&refs(&ws)).is_empty());
        // Turned on by a script.
        let script = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo \"SCCACHE_GHA_ENABLED=true\" >> $GITHUB_ENV\n      - uses: Swatinem/rust-cache@v2\n";
        let ws = [(wf(script), "a.yml")];
        assert_eq!(
            places(check_competition(&refs(&ws))),
            vec![(0, Pos::new(7, 15))]
        );
    }

    #[test]
    fn caches_saved_on_pull_requests() {
        let src = "on:\n  pull_request:\n  push:\n    branches: [main]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: Swatinem/rust-cache@v2\n      - uses: Swatinem/rust-cache@v2\n        with:\n          save-if: ${{ github.ref == 'refs/heads/main' }}\n      - uses: actions/cache@v4\n        with:\n          path: x\n      - uses: actions/cache/restore@v4\n        with:\n          path: x\n      - uses: actions/cache@v4\n        if: github.event_name != 'pull_request'\n        with:\n          path: x\n      - uses: docker/build-push-action@v6\n        with:\n          cache-to: type=gha,mode=max\n      - uses: docker/build-push-action@v6\n        with:\n          cache-to: ${{ github.event_name != 'pull_request' && 'type=gha,mode=max' || '' }}\n";
        let ws = [(wf(src), "ci.yml")];
        assert_eq!(
            places(check_saved_from_prs(&refs(&ws))),
            vec![
                (0, Pos::new(9, 15)),
                (0, Pos::new(13, 15)),
                (0, Pos::new(25, 21))
            ]
        );
    }

    #[test]
    fn no_pull_request_trigger_or_a_guarded_job() {
        let push_only = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: Swatinem/rust-cache@v2\n";
        assert!(check_saved_from_prs(&refs(&[(wf(push_only), "a.yml")])).is_empty());
        let guarded = "on: [push, pull_request]\njobs:\n  a:\n    if: github.ref == 'refs/heads/main'\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/cache@v4\n        with:\n          path: x\n";
        assert!(check_saved_from_prs(&refs(&[(wf(guarded), "a.yml")])).is_empty());
        let pr_only = "on: [push, pull_request]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/cache@v4\n        if: github.event_name == 'pull_request'\n        with:\n          path: x\n";
        assert_eq!(
            check_saved_from_prs(&refs(&[(wf(pr_only), "a.yml")])).len(),
            1
        );
    }

    #[test]
    fn guards() {
        assert!(excludes_pull_requests(
            "github.event_name != \"pull_request\""
        ));
        assert!(excludes_pull_requests("${{ github.ref_name == 'main' }}"));
        assert!(excludes_pull_requests(
            "startsWith(github.ref, 'refs/tags/')"
        ));
        assert!(!excludes_pull_requests(
            "github.event_name == 'pull_request'"
        ));
        assert!(!excludes_pull_requests("matrix.os == 'linux'"));
    }

    #[test]
    fn several_images_without_scope() {
        let src = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          file: api.Dockerfile\n          cache-from: type=gha\n          cache-to: type=gha,mode=max\n      - uses: docker/build-push-action@v6\n        with:\n          file: worker.Dockerfile\n          cache-to: |\n            type=registry,ref=x\n            type=gha,mode=max\n      - uses: docker/build-push-action@v6\n        with:\n          file: web.Dockerfile\n          cache-to: type=gha,scope=web,mode=max\n";
        let ws = [(wf(src), "ci.yml")];
        let found = check_buildkit_scope(&refs(&ws));
        assert_eq!(
            places(found.clone()),
            vec![(0, Pos::new(10, 21)), (0, Pos::new(16, 13))]
        );
        assert!(found[0].message.contains("line 16"), "{}", found[0].message);
    }

    #[test]
    fn one_image_scopes_and_matrices() {
        let one = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          cache-to: type=gha,mode=max\n";
        assert!(check_buildkit_scope(&refs(&[(wf(one), "a.yml")])).is_empty());
        let matrix = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        image: [api, worker]\n    steps:\n      - uses: docker/build-push-action@v6\n        with:\n          file: ${{ matrix.image }}.Dockerfile\n          cache-to: type=gha,mode=max\n";
        assert_eq!(
            places(check_buildkit_scope(&refs(&[(wf(matrix), "a.yml")]))),
            vec![(0, Pos::new(12, 21))]
        );
        let scoped = matrix.replace(
            "type=gha,mode=max",
            "type=gha,scope=${{ matrix.image }},mode=max",
        );
        assert!(check_buildkit_scope(&refs(&[(wf(&scoped), "a.yml")])).is_empty());
        let cli = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          docker buildx build -f a.Dockerfile --cache-to type=gha .\n          docker buildx build -f b.Dockerfile --cache-to=type=gha,scope=b .\n          docker buildx build -f c.Dockerfile --cache-to=type=gha .\n";
        assert_eq!(
            places(check_buildkit_scope(&refs(&[(wf(cli), "a.yml")]))),
            vec![(0, Pos::new(7, 47)), (0, Pos::new(9, 47))]
        );
    }
}
