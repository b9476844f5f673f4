//! Command-line definitions (clap). Parsing only: no I/O here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::model::{Flag, SourceKind};
use crate::prune::{Budget, Floor, Selector};
use crate::sources::gha::GhaRepo;
use crate::units::{parse_duration, parse_size};

#[derive(Debug, Parser)]
#[command(
    name = "cachetop",
    version,
    about = "See what a CI runner's build caches hold, and evict the bad ones safely.",
    long_about = "See what a CI runner's build caches hold, and evict the bad ones safely.\n\n\
        With no subcommand on a terminal, cachetop opens its interactive screen. \
        `report` prints a table or JSON; `prune` deletes exactly what its selectors pick.\n\n\
        Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 --fail-on matched."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Docker daemon address: unix:///path, tcp://host:port (in TLS with --tlsverify)
    /// or ssh://[user@]host[:port] (the system ssh runs `docker system dial-stdio`
    /// there); repeat it to read many hosts at once, each with its daemon and builders.
    /// Replaces the config file's `hosts`. Default: DOCKER_HOST, else the docker
    /// context, else the local socket.
    #[arg(long = "host", global = true, value_name = "URL")]
    pub hosts: Vec<String>,
    /// How long each Docker host may take to list before it is shown as failed, so a
    /// slow host never holds up the others (e.g. 10s, 2m). Default: 30s.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub host_timeout: Option<Duration>,
    /// Read the daemon of this docker context (as `docker --context`); repeat it to
    /// read several contexts' daemons at once, as many --host do. Not with --host.
    /// Replaces the config file's `context`/`contexts`. Default: DOCKER_CONTEXT, else
    /// docker's current context (`docker context use`).
    #[arg(long = "context", global = true, value_name = "NAME")]
    pub contexts: Vec<String>,
    /// Speak TLS to a tcp:// daemon and verify it with --tlscacert (else ca.pem in
    /// DOCKER_CERT_PATH or ~/.docker), presenting --tlscert/--tlskey (else cert.pem and
    /// key.pem there). Also DOCKER_TLS_VERIFY=1.
    #[arg(long, global = true)]
    pub tlsverify: bool,
    /// Do not read the Docker daemon.
    #[arg(long, global = true)]
    pub no_docker: bool,
    /// Entries not used for this long are stale (e.g. 90m, 36h, 7d, 2w; from 1s to 100y).
    /// Default: 7d.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub stale_after: Option<Duration>,
    /// TOML settings file: a regular file of at most 1 MiB. Default:
    /// $XDG_CONFIG_HOME/cachetop/config.toml when it exists. Flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Never delete: the screen offers no destructive key, and prune refuses to run.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Leave the mouse to the terminal. By default the screen captures it (the wheel
    /// scrolls, a click selects a row or sorts by a column), and while it does, the
    /// terminal's own text selection needs Shift held in most terminals. Also
    /// `mouse = false` in the config file.
    #[arg(long, global = true)]
    pub no_mouse: bool,
    /// Read the GitHub Actions caches of this repository (repeatable). Token: GITHUB_TOKEN,
    /// else GH_TOKEN.
    #[arg(long = "gha", global = true, value_name = "OWNER/REPO", value_parser = parse_gha_repo_arg)]
    pub gha: Vec<GhaRepo>,
    /// GitHub REST API root, e.g. https://HOST/api/v3 for GitHub Enterprise Server.
    /// Default: GITHUB_API_URL, else https://api.github.com.
    #[arg(long, global = true, value_name = "URL")]
    pub github_api_url: Option<String>,
    /// The Actions cache limit usage is measured against (e.g. 10GB, 10GiB). Default: 10GB.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size_arg)]
    pub gha_limit: Option<u64>,
    /// A directory to inspect (repeatable): a cargo home, a mounted cache, or a
    /// `type=local` BuildKit cache export.
    #[arg(long = "dir", global = true, value_name = "PATH")]
    pub dirs: Vec<PathBuf>,
    /// A BuildKit registry cache or an image with inline cache to inspect (repeatable),
    /// e.g. registry.example.com/app:buildcache.
    #[arg(long = "registry", global = true, value_name = "REF")]
    pub registries: Vec<String>,
    /// User name for registries; the password comes from CACHETOP_REGISTRY_PASSWORD.
    /// Default: docker's config.json and credential helpers.
    #[arg(long, global = true, value_name = "USER")]
    pub registry_user: Option<String>,
    /// Speak plain HTTP to every registry (loopback registries always get it).
    #[arg(long, global = true)]
    pub insecure_registry: bool,
    /// Do not read the local cargo home ($CARGO_HOME, else ~/.cargo), which is read by
    /// default when no --dir is given.
    #[arg(long, global = true)]
    pub no_cargo_home: bool,
    /// A BuildKit to read (repeatable): unix:///path/buildkitd.sock, tcp://HOST:PORT or
    /// docker-container://NAME. Read even with --no-docker (but docker-container://
    /// needs the daemon) and --no-builders.
    #[arg(long = "builder", global = true, value_name = "ADDR")]
    pub builders: Vec<String>,
    /// Do not look for builders (the daemon's buildx_buildkit_* containers, buildx's
    /// store, BUILDKIT_HOST). Also CACHETOP_NO_BUILDERS=1.
    #[arg(long, global = true)]
    pub no_builders: bool,
    /// CA certificate for tcp:// builders (--builder, BUILDKIT_HOST), as buildctl's, and
    /// for the daemon with --tlsverify.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Client certificate for tcp:// builders, and for the daemon with --tlsverify.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Client key for tcp:// builders, and for the daemon with --tlsverify.
    #[arg(long, global = true, value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// The name the builder's certificate must carry (default: the address's host).
    #[arg(long, global = true, value_name = "NAME")]
    pub tlsservername: Option<String>,
    /// Dockerfiles, or directories of them, to link cache mounts to (repeatable; report
    /// and the screen): each mount shows the RUNs that make it and what `cachetop lint`
    /// finds there.
    #[arg(long = "lint", global = true, value_name = "PATH")]
    pub lint: Vec<PathBuf>,
    /// The screen lists every source again this often, in the background (e.g. 5s,
    /// 1m; 0 turns it off). Only entries whose record changed are looked into again.
    /// Default: 5s.
    #[arg(long, value_name = "DURATION", value_parser = parse_interval_arg)]
    pub interval: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print every cache entry as a table, as JSON (--json) or as Prometheus metrics
    /// (--format prometheus).
    Report(ReportArgs),
    /// Delete the entries the selectors pick, after showing the plan.
    Prune(PruneArgs),
    /// Remove only the broken parts the findings name (a half-extracted crate
    /// directory, a cut-off .crate) from these entries; the rest stays warm.
    Repair(RepairArgs),
    /// Check Dockerfiles and CI workflows for what poisons or wastes build caches:
    /// unlocked cargo and apt cache mounts, shared target ids, Actions caches that evict
    /// each other, daemon-wide prunes on self-hosted runners.
    Lint(LintArgs),
    /// Print a completion script for a shell, e.g.
    /// `cachetop completions bash > ~/.local/share/bash-completion/completions/cachetop`.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), e.g. `cachetop man | man -l -`; `cachetop man
    /// prune` for a subcommand's own page.
    Man(ManArgs),
}

#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args, Clone)]
pub struct ManArgs {
    /// The subcommand whose page to print (cachetop-SUBCOMMAND(1)); the main page when
    /// absent.
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct ReportArgs {
    /// Print the cachetop.report.v1 JSON document (the same as --format json).
    #[arg(long)]
    pub json: bool,
    /// Output: table (default), json (cachetop.report.v1) or prometheus (text
    /// exposition format, for node_exporter's textfile collector).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ReportFormat>,
    /// Write the output to FILE instead of stdout: to a temporary file in the same
    /// directory, then renamed over FILE (readers never see half a file; a symlink at
    /// FILE is replaced, never followed). Mode 0644.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 3 when any entry carries one of these flags (stale, partial, in_use,
    /// size_mismatch, orphaned).
    #[arg(long, value_name = "FLAG,...", value_delimiter = ',', value_parser = parse_flag_arg)]
    pub fail_on: Vec<Flag>,
    /// Do not look inside cache mounts and directories (no disk sizes, no findings).
    #[arg(long)]
    pub no_scan: bool,
}

/// `report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
    Prometheus,
}

impl ReportArgs {
    /// The output asked for: `--json` is `--format json`, and cannot be combined with
    /// another format.
    pub fn output_format(&self) -> Result<ReportFormat, String> {
        match (self.json, self.format) {
            (false, None) => Ok(ReportFormat::Table),
            (false, Some(f)) | (true, Some(f @ ReportFormat::Json)) => Ok(f),
            (true, None) => Ok(ReportFormat::Json),
            (true, Some(_)) => {
                Err("--json is --format json: it cannot be combined with another --format".into())
            }
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
#[command(mut_arg("json", |a| a.help("Print the cachetop.repair.v1 JSON document")))]
pub struct RepairArgs {
    /// Exact entry ids (never prefixes), e.g. a cache-mount record id.
    #[arg(value_name = "ID", required = true, value_parser = parse_id_arg)]
    pub ids: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args, Clone)]
pub struct LintArgs {
    /// Files or directories to lint. A directory is searched for Dockerfile,
    /// *.Dockerfile, Dockerfile.*, Containerfile and .github/.forgejo/.gitea workflows;
    /// a file is linted whatever its name (.yml/.yaml as a workflow).
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Output: text, json (cachetop.lint.v1) or sarif (SARIF 2.1.0).
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
    /// Exit 3 when a finding of this severity or worse is found; none: never.
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = FailLevel::Warning)]
    pub fail_level: FailLevel,
}

/// `lint --format`. Local to lint: each command prints its own set of formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    Sarif,
}

/// `lint --fail-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailLevel {
    Error,
    Warning,
    Info,
    None,
}

#[derive(Debug, Args, Clone, Default)]
#[command(mut_arg("json", |a| a.help("Print the cachetop.prune.v1 JSON document")))]
pub struct PruneArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
    /// While another cachetop prune runs on this machine, fail at once (exit 1)
    /// instead of waiting for it.
    #[arg(long, conflicts_with = "wait")]
    pub no_wait: bool,
    /// How long to wait for another cachetop prune on this machine to finish before
    /// giving up (exit 1): 30s, 10m (default), 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub wait: Option<Duration>,
    #[command(flatten)]
    pub run: RunArgs,
}

impl PruneArgs {
    /// How long to wait for the prune lock.
    pub fn lock_wait(&self) -> Duration {
        if self.no_wait {
            Duration::ZERO
        } else {
            self.wait.unwrap_or(DEFAULT_LOCK_WAIT)
        }
    }
}

/// `prune --wait`'s default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(600);

/// Budgets: of what the other selectors chose, the least recently used entries go
/// until the budget is met (in use, shared or kept entries never).
#[derive(Debug, Args, Clone, Default)]
pub struct BudgetArgs {
    /// Delete the least recently used candidates until those that remain total at
    /// most SIZE (10GB, 10GiB, 500MB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    pub max_used: Option<u64>,
    /// Delete the least recently used candidates until the filesystem that holds
    /// them has at least this much free: SIZE, or PCT% of its size (each filesystem
    /// judged on its own).
    #[arg(long, value_name = "SIZE|PCT%", value_parser = parse_floor_arg)]
    pub keep_free: Option<Floor>,
    /// Apply the budget of the config file (max_used, keep_free); --max-used and
    /// --keep-free override its values.
    #[arg(long)]
    pub budget: bool,
}

impl BudgetArgs {
    /// The budget asked for: the flags, over the config file's with `--budget`.
    pub fn resolve(&self, configured: Budget) -> Budget {
        let base = if self.budget {
            configured
        } else {
            Budget::default()
        };
        Budget {
            max_used: self.max_used.or(base.max_used),
            keep_free: self.keep_free.or(base.keep_free),
        }
    }
}

fn parse_floor_arg(s: &str) -> Result<Floor, String> {
    Floor::parse(s)
}

/// How a destructive run is authorised and reported; prune and repair share these.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Print the plan and delete nothing.
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
    /// Delete without asking.
    #[arg(long)]
    pub yes: bool,
    /// Print the JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Selectors, ANDed. At least one is required.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Exact entry ids (never prefixes).
    #[arg(long = "id", value_name = "ID", num_args = 1.., value_parser = parse_id_arg)]
    pub ids: Vec<String>,
    /// Entries not used for --stale-after.
    #[arg(long)]
    pub stale: bool,
    /// Entries whose content holds half-written or broken parts.
    #[arg(long)]
    pub partial: bool,
    /// Entries nothing references any more.
    #[arg(long)]
    pub orphaned: bool,
    /// Entry type, e.g. exec.cachemount (repeatable).
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_type_arg)]
    pub types: Vec<String>,
    /// Entries not used for at least this long (from 1s to 100y).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub unused_for: Option<Duration>,
    /// Cache mounts with exactly this target path, absolute (repeatable).
    #[arg(long = "mount-target", value_name = "PATH", value_parser = parse_mount_target_arg)]
    pub mount_targets: Vec<String>,
    /// Only entries of this source (repeatable).
    #[arg(long = "source", value_name = "KIND")]
    pub sources: Vec<SourceKind>,
    /// GitHub Actions caches saved on exactly this ref, e.g. refs/pull/42/merge (repeatable).
    #[arg(long = "ref", value_name = "REF", value_parser = parse_ref_arg)]
    pub refs: Vec<String>,
}

impl SelectArgs {
    pub fn selector(&self) -> Selector {
        let mut flags = Vec::new();
        if self.stale {
            flags.push(Flag::Stale);
        }
        if self.partial {
            flags.push(Flag::Partial);
        }
        if self.orphaned {
            flags.push(Flag::Orphaned);
        }
        Selector {
            ids: self.ids.clone(),
            flags,
            types: self.types.clone(),
            unused_for: self.unused_for,
            mount_targets: self.mount_targets.clone(),
            sources: self.sources.clone(),
            refs: self.refs.clone(),
        }
    }
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

fn parse_interval_arg(s: &str) -> Result<Duration, String> {
    parse_interval(s)
}

/// A refresh interval: a duration, or `0` (also `0s`) for none.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    if matches!(s.trim(), "0" | "0s") {
        return Ok(Duration::ZERO);
    }
    parse_duration(s).map_err(|e| format!("{e} (or 0 to turn refreshing off)"))
}

/// Ids match exactly, so an empty one could only match by accident.
fn parse_id_arg(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("an id cannot be empty (ids are exact; `cachetop report` lists them)".into());
    }
    Ok(s.to_string())
}

fn parse_type_arg(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("a type cannot be empty; use e.g. exec.cachemount or gha.buildkit-blob".into());
    }
    Ok(s.to_string())
}

/// A mount target is where a `RUN --mount` put the cache inside the build: an
/// absolute path, matched exactly.
fn parse_mount_target_arg(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(
            "a mount target is the absolute path inside the build, e.g. /root/.cargo/registry"
                .into(),
        );
    }
    Ok(s.to_string())
}

fn parse_gha_repo_arg(s: &str) -> Result<GhaRepo, String> {
    GhaRepo::parse(s)
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

/// Refs match exactly, so a short name such as `main` would match nothing: refuse it.
fn parse_ref_arg(s: &str) -> Result<String, String> {
    if s.starts_with("refs/") {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a full ref; use e.g. refs/heads/{s} or refs/pull/42/merge \
             (refs match exactly)"
        ))
    }
}

fn parse_flag_arg(s: &str) -> Result<Flag, String> {
    Flag::parse(s).ok_or_else(|| {
        let known: Vec<&str> = Flag::ALL.iter().map(|f| f.as_str()).collect();
        format!("unknown flag {s:?}; known flags: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn prune_selectors_become_one_selector() {
        let cli = Cli::try_parse_from([
            "cachetop",
            "prune",
            "--stale",
            "--type",
            "exec.cachemount",
            "--id",
            "a",
            "b",
            "--unused-for",
            "2w",
            "--source",
            "docker",
        ])
        .unwrap();
        let Some(Command::Prune(p)) = cli.command else {
            panic!("not prune")
        };
        let s = p.select.selector();
        assert_eq!(s.ids, vec!["a", "b"]);
        assert_eq!(s.flags, vec![Flag::Stale]);
        assert_eq!(s.unused_for, Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(s.sources, vec![SourceKind::Docker]);
    }

    #[test]
    fn global_options_work_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "cachetop",
            "report",
            "--host",
            "unix:///x",
            "--stale-after",
            "36h",
        ])
        .unwrap();
        assert_eq!(cli.global.hosts, ["unix:///x"]);
        assert_eq!(cli.global.stale_after, Some(Duration::from_secs(129_600)));
    }

    #[test]
    fn host_repeats_and_takes_a_timeout() {
        let cli = Cli::try_parse_from([
            "cachetop",
            "report",
            "--host",
            "unix:///a.sock",
            "--host",
            "tcp://10.0.0.2:2375",
            "--host-timeout",
            "10s",
        ])
        .unwrap();
        assert_eq!(cli.global.hosts, ["unix:///a.sock", "tcp://10.0.0.2:2375"]);
        assert_eq!(cli.global.host_timeout, Some(Duration::from_secs(10)));
        assert!(Cli::try_parse_from(["cachetop", "--host-timeout", "soon", "report"]).is_err());
    }

    #[test]
    fn fail_on_takes_a_comma_list_and_rejects_unknown_flags() {
        let cli =
            Cli::try_parse_from(["cachetop", "report", "--fail-on", "stale,partial"]).unwrap();
        let Some(Command::Report(r)) = cli.command else {
            panic!()
        };
        assert_eq!(r.fail_on, vec![Flag::Stale, Flag::Partial]);
        assert!(Cli::try_parse_from(["cachetop", "report", "--fail-on", "old"]).is_err());
    }

    #[test]
    fn gha_options_are_global_and_repeatable() {
        let cli = Cli::try_parse_from([
            "cachetop",
            "report",
            "--gha",
            "octo/app",
            "--gha",
            "octo/lib",
            "--gha-limit",
            "12GB",
            "--github-api-url",
            "https://ghe.example.com/api/v3",
        ])
        .unwrap();
        let repos: Vec<String> = cli.global.gha.iter().map(|r| r.to_string()).collect();
        assert_eq!(repos, vec!["octo/app", "octo/lib"]);
        assert_eq!(cli.global.gha_limit, Some(12_000_000_000));
        assert!(Cli::try_parse_from(["cachetop", "--gha", "octo", "report"]).is_err());
        assert!(Cli::try_parse_from(["cachetop", "--gha-limit", "10", "report"]).is_err());
    }

    #[test]
    fn ref_selects_full_refs_only() {
        let cli = Cli::try_parse_from([
            "cachetop",
            "prune",
            "--ref",
            "refs/pull/42/merge",
            "--ref",
            "refs/heads/dev",
        ])
        .unwrap();
        let Some(Command::Prune(p)) = cli.command else {
            panic!("not prune")
        };
        assert_eq!(
            p.select.selector().refs,
            vec!["refs/pull/42/merge", "refs/heads/dev"]
        );
        assert!(Cli::try_parse_from(["cachetop", "prune", "--ref", "main"]).is_err());
    }

    #[test]
    fn dirs_and_registries_repeat() {
        let cli = Cli::try_parse_from([
            "cachetop",
            "report",
            "--dir",
            "/a",
            "--registry",
            "r:5000/app:cache",
            "--dir",
            "/b",
            "--registry",
            "r:5000/app:cache2",
            "--registry-user",
            "ci",
            "--insecure-registry",
        ])
        .unwrap();
        assert_eq!(
            cli.global.dirs,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(cli.global.registries.len(), 2);
        assert_eq!(cli.global.registry_user.as_deref(), Some("ci"));
        assert!(cli.global.insecure_registry);
    }

    #[test]
    fn repair_takes_ids_and_scan_can_be_turned_off() {
        let cli = Cli::try_parse_from(["cachetop", "repair", "x", "y", "--dry-run"]).unwrap();
        let Some(Command::Repair(r)) = cli.command else {
            panic!("not repair")
        };
        assert_eq!(r.ids, vec!["x", "y"]);
        assert!(r.run.dry_run);
        assert!(Cli::try_parse_from(["cachetop", "repair"]).is_err());
        assert!(Cli::try_parse_from(["cachetop", "repair", "x", "--yes", "--dry-run"]).is_err());
        let cli =
            Cli::try_parse_from(["cachetop", "report", "--no-scan", "--no-cargo-home"]).unwrap();
        assert!(cli.global.no_cargo_home);
        let Some(Command::Report(r)) = cli.command else {
            panic!("not report")
        };
        assert!(r.no_scan);
    }

    #[test]
    fn lint_defaults_and_values() {
        let cli = Cli::try_parse_from(["cachetop", "lint"]).unwrap();
        let Some(Command::Lint(l)) = cli.command else {
            panic!("not lint")
        };
        assert_eq!(l.paths, vec![PathBuf::from(".")]);
        assert_eq!(
            (l.format, l.fail_level),
            (LintFormat::Text, FailLevel::Warning)
        );
        let cli = Cli::try_parse_from([
            "cachetop",
            "lint",
            "a",
            "b",
            "--format",
            "sarif",
            "--fail-level",
            "error",
        ])
        .unwrap();
        let Some(Command::Lint(l)) = cli.command else {
            panic!("not lint")
        };
        assert_eq!(l.paths.len(), 2);
        assert_eq!(
            (l.format, l.fail_level),
            (LintFormat::Sarif, FailLevel::Error)
        );
        assert!(Cli::try_parse_from(["cachetop", "lint", "--format", "xml"]).is_err());
        assert!(Cli::try_parse_from(["cachetop", "lint", "--fail-level", "fatal"]).is_err());
    }

    #[test]
    fn report_format_json_is_json_and_formats_do_not_mix() {
        let format = |args: &[&str]| {
            let cli = Cli::try_parse_from(["cachetop", "report"].iter().chain(args)).unwrap();
            let Some(Command::Report(r)) = cli.command else {
                panic!("not report")
            };
            r.output_format()
        };
        assert_eq!(format(&[]), Ok(ReportFormat::Table));
        assert_eq!(format(&["--json"]), Ok(ReportFormat::Json));
        assert_eq!(format(&["--format", "json"]), Ok(ReportFormat::Json));
        assert_eq!(
            format(&["--json", "--format", "json"]),
            Ok(ReportFormat::Json)
        );
        assert_eq!(
            format(&["--format", "prometheus", "-o", "/x.prom"]),
            Ok(ReportFormat::Prometheus)
        );
        assert!(format(&["--json", "--format", "prometheus"]).is_err());
        assert!(format(&["--json", "--format", "table"]).is_err());
        assert!(Cli::try_parse_from(["cachetop", "report", "--format", "xml"]).is_err());
    }

    #[test]
    fn completions_take_a_known_shell() {
        let cli = Cli::try_parse_from(["cachetop", "completions", "zsh"]).unwrap();
        let Some(Command::Completions(c)) = cli.command else {
            panic!("not completions")
        };
        assert_eq!(c.shell, clap_complete::Shell::Zsh);
        assert!(Cli::try_parse_from(["cachetop", "completions", "tcsh"]).is_err());
        assert!(Cli::try_parse_from(["cachetop", "completions"]).is_err());
    }

    #[test]
    fn dry_run_and_yes_conflict() {
        assert!(
            Cli::try_parse_from(["cachetop", "prune", "--stale", "--dry-run", "--yes"]).is_err()
        );
    }
}
