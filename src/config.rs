//! Settings: the TOML config file, then flags over it, then the environment's defaults.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::policy::Policy;
use crate::prune::{Budget, Floor};
use crate::sources::SourceSettings;
use crate::sources::buildkit::TlsFiles;
use crate::sources::buildkit::discovery::store_dir;
use crate::sources::configure::BuilderSettings;
use crate::sources::dir::cargo_home::default_cargo_home;
use crate::sources::docker::DEFAULT_HOST;
use crate::sources::docker::context;
use crate::sources::docker::dial::DockerHost;
use crate::sources::docker::engine::parse_host;
use crate::sources::gha::{ApiBase, GhaRepo, GhaSettings, GithubToken};
use crate::sources::hosts::{DEFAULT_HOST_TIMEOUT, first_of_each};
use crate::sources::registry::auth::Secret;
use crate::terminal_text::escape;
use crate::units::{parse_duration, parse_size};

/// The config file. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub host: Option<String>,
    /// A docker context to read the daemon of, as `--context`.
    pub context: Option<String>,
    /// Docker contexts whose daemons are read together (`--context` repeated
    /// replaces the list).
    pub contexts: Option<Vec<String>>,
    /// Docker hosts to read together (`--host` repeated replaces the list).
    pub hosts: Option<Vec<String>>,
    /// How long each host may take to list, e.g. "30s" (`--host-timeout`).
    pub host_timeout: Option<String>,
    pub no_docker: Option<bool>,
    pub stale_after: Option<String>,
    pub read_only: Option<bool>,
    /// The screen captures the mouse (default true); `--no-mouse` overrides.
    pub mouse: Option<bool>,
    /// `OWNER/REPO` list of GitHub repositories whose Actions caches to read.
    pub gha: Option<Vec<String>>,
    pub github_api_url: Option<String>,
    /// e.g. "10GB".
    pub gha_limit: Option<String>,
    pub dirs: Option<Vec<PathBuf>>,
    pub registries: Option<Vec<String>>,
    pub registry_user: Option<String>,
    pub insecure_registry: Option<bool>,
    pub no_cargo_home: Option<bool>,
    /// BuildKit addresses to read, as `--builder`.
    pub builders: Option<Vec<String>>,
    pub no_builders: Option<bool>,
    /// Dockerfiles or directories to link cache mounts to, as `--lint`.
    pub lint_paths: Option<Vec<PathBuf>>,
    /// The budget `prune --budget` applies, e.g. "50GB" (`--max-used`).
    pub max_used: Option<String>,
    /// e.g. "20GB" or "15%" (`--keep-free`).
    pub keep_free: Option<String>,
    /// How often the screen lists every source again, e.g. "5s"; "0" turns it off
    /// (`--interval`).
    pub interval: Option<String>,
}

/// The most a config file may hold: settings fit in a few hundred bytes, and a path
/// such as `/dev/zero` given by mistake must not be read until memory runs out.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `why` holds the one cause (an OS error, or what is wrong with the file).
    #[error("cannot read config file {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("config file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A bad value from a flag or an environment variable (`name` says which).
    #[error("{name}: {message}")]
    Setting { name: String, message: String },
}

/// Everything a command needs to know, resolved once.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// What to read.
    pub sources: SourceSettings,
    pub policy: Policy,
    pub read_only: bool,
    /// The screen captures the mouse.
    pub mouse: bool,
    /// `--lint`: the Dockerfiles whose RUNs report and the screen link mounts to.
    pub lint_paths: Vec<PathBuf>,
    /// The config file's budget (`prune --budget`; flags override its values).
    pub budget: Budget,
    /// How often the screen refreshes by itself; `None`: never.
    pub interval: Option<Duration>,
}

/// The screen's refresh interval when neither `--interval` nor the file sets one.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What the process environment contributes.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<String>,
    /// docker's own settings and contexts: `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config: Option<PathBuf>,
    /// `DOCKER_TLS_VERIFY` set to anything but empty.
    pub docker_tls_verify: bool,
    /// `DOCKER_CERT_PATH`: where `ca.pem`, `cert.pem`, `key.pem` are (default: the
    /// docker config directory).
    pub docker_cert_path: Option<PathBuf>,
    pub config_dir: Option<PathBuf>,
    /// From `GITHUB_TOKEN`, else `GH_TOKEN` (its Debug hides the value).
    pub github_token: Option<GithubToken>,
    /// `GITHUB_API_URL`.
    pub github_api_url: Option<String>,
    pub registry_password: Option<Secret>,
    /// `$CARGO_HOME`, else `~/.cargo`, when that directory exists.
    pub cargo_home: Option<PathBuf>,
    pub buildkit_host: Option<String>,
    /// buildx's store: `$BUILDX_CONFIG`, else `$DOCKER_CONFIG/buildx`, else
    /// `~/.docker/buildx`.
    pub buildx_store: Option<PathBuf>,
    /// `CACHETOP_NO_BUILDERS` set to anything but empty, `0` or `false`.
    pub no_builders: bool,
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            docker_host: std::env::var("DOCKER_HOST").ok(),
            docker_context: std::env::var("DOCKER_CONTEXT")
                .ok()
                .filter(|s| !s.is_empty()),
            docker_config: context::config_dir(
                std::env::var("DOCKER_CONFIG").ok().as_deref(),
                dirs::home_dir().as_deref(),
            ),
            docker_tls_verify: std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty()),
            docker_cert_path: std::env::var_os("DOCKER_CERT_PATH")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            config_dir: dirs::config_dir(),
            github_token: GithubToken::from_env(|k| std::env::var(k).ok()),
            github_api_url: std::env::var("GITHUB_API_URL")
                .ok()
                .filter(|s| !s.trim().is_empty()),
            registry_password: std::env::var("CACHETOP_REGISTRY_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .map(Secret::new),
            cargo_home: default_cargo_home(
                std::env::var_os("CARGO_HOME").map(PathBuf::from),
                dirs::home_dir(),
            ),
            buildkit_host: std::env::var("BUILDKIT_HOST")
                .ok()
                .filter(|s| !s.is_empty()),
            buildx_store: store_dir(
                std::env::var("BUILDX_CONFIG").ok().as_deref(),
                std::env::var("DOCKER_CONFIG").ok().as_deref(),
                dirs::home_dir().as_deref(),
            ),
            no_builders: std::env::var("CACHETOP_NO_BUILDERS")
                .is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false")),
        }
    }

    pub fn default_config_path(&self) -> Option<PathBuf> {
        self.config_dir
            .as_ref()
            .map(|d| d.join("cachetop").join("config.toml"))
    }
}

pub fn parse_config(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: toml_error(text, &e),
    })
}

/// How much of the offending line a TOML error quotes, on each side of the error.
const EXCERPT_CHARS: usize = 30;

/// A TOML error as `line L, column C: message (near `excerpt`)`: the position and a
/// short excerpt of the line, never the whole line (a line can be megabytes long).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(span) = e.span() else {
        return message;
    };
    let mut at = span.start.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[..at].matches('\n').count() + 1;
    let before: Vec<char> = text[line_start..at].chars().collect();
    let column = before.len() + 1;
    let from = before.len().saturating_sub(EXCERPT_CHARS);
    let mut excerpt: String = before[from..].iter().collect();
    if from > 0 {
        excerpt.insert(0, '…');
    }
    let after = &text[at..line_end];
    excerpt.extend(after.chars().take(EXCERPT_CHARS));
    if after.chars().nth(EXCERPT_CHARS).is_some() {
        excerpt.push('…');
    }
    let excerpt = excerpt.trim_end_matches('\r');
    if excerpt.trim().is_empty() {
        return format!("line {line}, column {column}: {message}");
    }
    format!(
        "line {line}, column {column}: {message} (near `{}`)",
        escape(excerpt)
    )
}

/// Reads a config file: a regular file of at most `MAX_CONFIG_BYTES` of UTF-8 text.
/// Anything else (a directory, a FIFO, a device such as `/dev/zero`) is refused before
/// a byte is read, so a wrong path never hangs or fills memory. `Ok(Err(_))`: there
/// is no such file.
fn read_bounded(path: &Path) -> Result<Result<String, std::io::Error>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let refuse = |md: &std::fs::Metadata| -> Result<(), String> {
        let ft = md.file_type();
        if !ft.is_file() {
            return Err(format!("it is {}, not a regular file", file_type_name(&ft)));
        }
        if md.len() > MAX_CONFIG_BYTES {
            return Err(too_large());
        }
        Ok(())
    };
    // stat first: opening a device can have effects of its own.
    match std::fs::metadata(path) {
        Ok(md) => refuse(&md)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Err(e)),
        Err(e) => return Err(e.to_string()),
    }
    // Non-blocking, so a file swapped for a FIFO since the stat cannot hang the open.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    refuse(&file.metadata().map_err(|e| e.to_string())?)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map(Ok).map_err(|e| {
        format!(
            "it is not UTF-8 text (the first bad byte is at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn too_large() -> String {
    format!(
        "it is larger than {} KiB, the most a config file may hold",
        MAX_CONFIG_BYTES / 1024
    )
}

fn file_type_name(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Reads the config file named by `--config` (which must exist), or the default one
/// when it exists.
pub fn read_config(args: &GlobalArgs, env: &Env) -> Result<ConfigFile, ConfigError> {
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => match env.default_config_path() {
            Some(p) => (p, false),
            None => return Ok(ConfigFile::default()),
        },
    };
    match read_bounded(&path) {
        Ok(Ok(text)) => parse_config(&path, &text),
        Ok(Err(_)) if !required => Ok(ConfigFile::default()),
        Ok(Err(missing)) => Err(ConfigError::Read {
            path,
            why: missing.to_string(),
        }),
        Err(why) => Err(ConfigError::Read { path, why }),
    }
}

/// Flags win over the file; the file wins over the environment's defaults.
pub fn resolve(args: &GlobalArgs, file: &ConfigFile, env: &Env) -> Result<Settings, ConfigError> {
    let stale_after = match (args.stale_after, &file.stale_after) {
        (Some(d), _) => d,
        (None, Some(s)) => parse_duration(s).map_err(|e| ConfigError::Invalid {
            path: args.config.clone().unwrap_or_default(),
            message: format!("stale_after: {e}"),
        })?,
        (None, None) => Policy::default().stale_after,
    };
    let no_docker = args.no_docker || file.no_docker.unwrap_or(false);
    let docker_hosts = resolve_docker_hosts(args, file, env, no_docker)?;
    let host_timeout = match (args.host_timeout, &file.host_timeout) {
        (Some(d), _) => d,
        (None, Some(s)) => parse_duration(s).map_err(|e| ConfigError::Invalid {
            path: args.config.clone().unwrap_or_default(),
            message: format!("host_timeout: {e}"),
        })?,
        (None, None) => DEFAULT_HOST_TIMEOUT,
    };
    let dirs = if args.dirs.is_empty() {
        file.dirs.clone().unwrap_or_default()
    } else {
        args.dirs.clone()
    };
    let no_cargo_home = args.no_cargo_home || file.no_cargo_home.unwrap_or(false);
    let cargo_home = if dirs.is_empty() && !no_cargo_home {
        env.cargo_home.clone()
    } else {
        None
    };
    Ok(Settings {
        sources: SourceSettings {
            docker_hosts,
            host_timeout,
            gha: resolve_gha(args, file, env)?,
            dirs,
            cargo_home,
            registries: if args.registries.is_empty() {
                file.registries.clone().unwrap_or_default()
            } else {
                args.registries.clone()
            },
            registry_user: args
                .registry_user
                .clone()
                .or_else(|| file.registry_user.clone()),
            registry_password: env.registry_password.clone(),
            insecure_registry: args.insecure_registry || file.insecure_registry.unwrap_or(false),
            builders: resolve_builders(args, file, env)?,
        },
        policy: Policy { stale_after },
        read_only: args.read_only || file.read_only.unwrap_or(false),
        mouse: !args.no_mouse && file.mouse.unwrap_or(true),
        lint_paths: if args.lint.is_empty() {
            file.lint_paths.clone().unwrap_or_default()
        } else {
            args.lint.clone()
        },
        budget: resolve_budget(args, file)?,
        interval: resolve_interval(args, file)?,
    })
}

/// `--interval`, else the file's `interval`, else 5s; zero is off.
fn resolve_interval(args: &GlobalArgs, file: &ConfigFile) -> Result<Option<Duration>, ConfigError> {
    let every = match (args.interval, &file.interval) {
        (Some(d), _) => d,
        (None, Some(s)) => crate::cli::parse_interval(s).map_err(|e| ConfigError::Invalid {
            path: args.config.clone().unwrap_or_default(),
            message: format!("interval: {e}"),
        })?,
        (None, None) => DEFAULT_INTERVAL,
    };
    Ok((!every.is_zero()).then_some(every))
}

/// The config file's budget keys, checked now so a typo fails every command.
fn resolve_budget(args: &GlobalArgs, file: &ConfigFile) -> Result<Budget, ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: args.config.clone().unwrap_or_default(),
        message: format!("{key}: {message}"),
    };
    let max_used = file
        .max_used
        .as_deref()
        .map(parse_size)
        .transpose()
        .map_err(|e| invalid("max_used", e.to_string()))?;
    let keep_free = file
        .keep_free
        .as_deref()
        .map(Floor::parse)
        .transpose()
        .map_err(|e| invalid("keep_free", e))?;
    Ok(Budget {
        max_used,
        keep_free,
    })
}

/// The BuildKits given (`--builder`, else the file's `builders`) and whether to look
/// for others.
fn resolve_builders(
    args: &GlobalArgs,
    file: &ConfigFile,
    env: &Env,
) -> Result<BuilderSettings, ConfigError> {
    let given = if args.builders.is_empty() {
        file.builders.clone().unwrap_or_default()
    } else {
        args.builders.clone()
    };
    let tls = match (&args.tlscacert, &args.tlscert, &args.tlskey) {
        (Some(ca), cert, key) => Some(TlsFiles {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
            server_name: args.tlsservername.clone(),
        }),
        (None, None, None) => None,
        (None, _, _) => {
            return Err(ConfigError::Setting {
                name: "--tlscert/--tlskey".to_string(),
                message: "need --tlscacert, the CA that signed the builder's certificate"
                    .to_string(),
            });
        }
    };
    let no_builders = args.no_builders || file.no_builders.unwrap_or(false) || env.no_builders;
    Ok(BuilderSettings {
        given,
        discover: !no_builders,
        buildkit_host: env.buildkit_host.clone(),
        buildx_store: env.buildx_store.clone(),
        tls,
    })
}

/// The daemons, as docker picks one: `--context` or every `--host` (not both), else the
/// file's `hosts` (or its one `host`) or `context`, else `DOCKER_HOST`, else
/// `DOCKER_CONTEXT`, else the `currentContext` of docker's config.json, else the local
/// socket; each host once. Each is checked where it comes from; `--host` always, the
/// others when used. An empty `DOCKER_HOST` means unset, as it does to docker; an empty
/// `--host` or `host` is a mistake, never a silent fall back to the environment. A host
/// given by address is spoken to in TLS with `--tlsverify` or `DOCKER_TLS_VERIFY`.
fn resolve_docker_hosts(
    args: &GlobalArgs,
    file: &ConfigFile,
    env: &Env,
    no_docker: bool,
) -> Result<Vec<DockerHost>, ConfigError> {
    let setting = |name: &str, host: &str| {
        check_docker_host(host).map_err(|message| ConfigError::Setting {
            name: name.to_string(),
            message,
        })
    };
    for h in &args.hosts {
        setting("--host", h)?;
    }
    if !args.hosts.is_empty() && !args.contexts.is_empty() {
        return Err(ConfigError::Setting {
            name: "--context".to_string(),
            message: "give either --host or --context, not both".to_string(),
        });
    }
    if no_docker {
        return Ok(Vec::new());
    }
    let in_file = |key: &str, message: String| ConfigError::Invalid {
        path: args.config.clone().unwrap_or_default(),
        message: format!("{key}: {message}"),
    };
    let from_context = |name: &str, source: &str| -> Result<DockerHost, ConfigError> {
        let Some(store) = &env.docker_config else {
            return Ok(default_host());
        };
        let host = context::load(store, name).map_err(|e| ConfigError::Setting {
            name: source.to_string(),
            message: e.0,
        })?;
        if let Some(h) = &host {
            check_docker_host(&h.url).map_err(|message| ConfigError::Setting {
                name: source.to_string(),
                message: format!("docker context {name:?}: {message}"),
            })?;
        }
        Ok(host.unwrap_or_else(default_host))
    };
    let by_address = |urls: &[String]| -> Result<Vec<DockerHost>, ConfigError> {
        first_of_each(urls, |u| *u)
            .into_iter()
            .map(|u| with_tls(args, env, u))
            .collect()
    };
    // Several contexts are several hosts; two naming one daemon read it once.
    let by_contexts = |names: &[String], source: &str| -> Result<Vec<DockerHost>, ConfigError> {
        let hosts = names
            .iter()
            .map(|name| from_context(name, source))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(first_of_each(hosts, |h| h.url.clone()))
    };
    if !args.contexts.is_empty() {
        return by_contexts(&args.contexts, "--context");
    }
    if !args.hosts.is_empty() {
        return by_address(&args.hosts);
    }
    let listed = file.hosts.as_ref().filter(|l| !l.is_empty());
    match (listed, &file.host) {
        (Some(_), Some(_)) => {
            return Err(in_file(
                "host",
                "give either host or hosts (hosts lists every host)".to_string(),
            ));
        }
        (Some(list), None) => {
            for h in list {
                check_docker_host(h).map_err(|e| in_file("hosts", e))?;
            }
            return by_address(list);
        }
        (None, Some(h)) => {
            check_docker_host(h).map_err(|e| in_file("host", e))?;
            return by_address(std::slice::from_ref(h));
        }
        (None, None) => {}
    }
    let listed = file.contexts.as_ref().filter(|l| !l.is_empty());
    match (listed, &file.context) {
        (Some(_), Some(_)) => {
            return Err(in_file(
                "context",
                "give either context or contexts (contexts lists every context)".to_string(),
            ));
        }
        (Some(list), None) => return by_contexts(list, "contexts"),
        (None, Some(name)) => return by_contexts(std::slice::from_ref(name), "context"),
        (None, None) => {}
    }
    if let Some(h) = env.docker_host.as_ref().filter(|h| !h.is_empty()) {
        setting("DOCKER_HOST", h)?;
        return by_address(std::slice::from_ref(h));
    }
    if let Some(name) = &env.docker_context {
        return Ok(vec![from_context(name, "DOCKER_CONTEXT")?]);
    }
    let current = match &env.docker_config {
        Some(store) => context::read_current(store).map_err(|e| ConfigError::Setting {
            name: "currentContext".to_string(),
            message: e.0,
        })?,
        None => None,
    };
    if let Some(name) = current {
        return Ok(vec![from_context(
            &name,
            "currentContext (docker context use)",
        )?]);
    }
    Ok(vec![default_host()])
}

fn default_host() -> DockerHost {
    DockerHost::plain(DEFAULT_HOST)
}

/// A daemon given by address, in TLS when `--tlsverify` or `DOCKER_TLS_VERIFY` asks:
/// verified with `--tlscacert` (else `ca.pem` in `DOCKER_CERT_PATH`, else in docker's
/// config directory) and presenting `--tlscert`/`--tlskey` (else `cert.pem`/`key.pem`
/// there, when both exist). A TLS address without a port gets docker's 2376.
fn with_tls(args: &GlobalArgs, env: &Env, url: &str) -> Result<DockerHost, ConfigError> {
    if !(args.tlsverify || env.docker_tls_verify) {
        return Ok(DockerHost::plain(url));
    }
    let Some(rest) = url.strip_prefix("tcp://") else {
        if args.tlsverify {
            return Err(ConfigError::Setting {
                name: "--tlsverify".to_string(),
                message: "TLS applies to tcp:// daemons only".to_string(),
            });
        }
        return Ok(DockerHost::plain(url));
    };
    let dir = env.docker_cert_path.clone().or(env.docker_config.clone());
    let in_dir = |name: &str| dir.as_ref().map(|d| d.join(name));
    let ca = args
        .tlscacert
        .clone()
        .or_else(|| in_dir("ca.pem"))
        .ok_or_else(|| ConfigError::Setting {
            name: "--tlsverify".to_string(),
            message: "needs the CA that signed the daemon's certificate: --tlscacert or \
                      DOCKER_CERT_PATH"
                .to_string(),
        })?;
    let (cert, key) = match (&args.tlscert, &args.tlskey) {
        (Some(c), Some(k)) => (Some(c.clone()), Some(k.clone())),
        (None, None) => match (in_dir("cert.pem"), in_dir("key.pem")) {
            (Some(c), Some(k)) if c.is_file() && k.is_file() => (Some(c), Some(k)),
            _ => (None, None),
        },
        _ => {
            return Err(ConfigError::Setting {
                name: "--tlscert/--tlskey".to_string(),
                message: "give both the client certificate and its key".to_string(),
            });
        }
    };
    let authority = rest.trim_end_matches('/');
    let url = if split_host_port(authority).1.is_some() {
        url.to_string()
    } else {
        format!("tcp://{authority}:2376")
    };
    Ok(DockerHost {
        url,
        tls: Some(TlsFiles {
            ca,
            cert,
            key,
            server_name: args.tlsservername.clone(),
        }),
        context: None,
    })
}

/// Whether cachetop can speak to a daemon at `host`: `unix:///path` (or a bare
/// absolute path), `tcp://HOST[:PORT]` with no user or password in it, or
/// `ssh://[USER@]HOST[:PORT]` with no password. The message never repeats an address
/// that carries credentials.
pub fn check_docker_host(host: &str) -> Result<(), String> {
    const USE: &str =
        "use unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]";
    if host.trim().is_empty() {
        return Err(format!("the Docker host address is empty; {USE}"));
    }
    let tcp = ["tcp://", "http://"]
        .iter()
        .find_map(|scheme| host.strip_prefix(scheme));
    if let Some(rest) = tcp {
        let authority = rest.trim_end_matches('/');
        if authority.contains('@') {
            return Err(format!(
                "the Docker host address carries a user or password (…@); the Engine API \
                 takes none in the address: {USE}"
            ));
        }
        let (name, port) = split_host_port(authority);
        if name.is_empty() && !authority.contains('/') {
            return Err(format!(
                "cannot use Docker host {host:?}: it names no host; {USE}"
            ));
        }
        if let Some(port) = port
            && !matches!(port.parse::<u16>(), Ok(p) if p > 0)
        {
            return Err(format!(
                "cannot use Docker host {host:?}: {port:?} is not a port (1-65535)"
            ));
        }
    }
    parse_host(host).map(|_| ()).map_err(|e| e.message)
}

/// `host:port`, `[v6]:port`, `host` or `[v6]` into the host and the port, if any.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(rest) = authority.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((v6, tail)) => (v6, tail.strip_prefix(':')),
            None => (rest, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    }
}

/// `--gha` replaces the file's list; the API root is the flag, else the file, else
/// `GITHUB_API_URL`, else github.com. The token only ever comes from the environment.
fn resolve_gha(
    args: &GlobalArgs,
    file: &ConfigFile,
    env: &Env,
) -> Result<GhaSettings, ConfigError> {
    let in_file = |message: String| ConfigError::Invalid {
        path: args.config.clone().unwrap_or_default(),
        message,
    };
    let repos = if !args.gha.is_empty() {
        args.gha.clone()
    } else {
        file.gha
            .iter()
            .flatten()
            .map(|r| GhaRepo::parse(r).map_err(|e| in_file(format!("gha: {e}"))))
            .collect::<Result<Vec<_>, _>>()?
    };
    let setting = |name: &'static str| {
        move |message: String| ConfigError::Setting {
            name: name.to_string(),
            message,
        }
    };
    let api = match (
        &args.github_api_url,
        &file.github_api_url,
        &env.github_api_url,
    ) {
        (Some(url), _, _) => ApiBase::parse(url).map_err(setting("--github-api-url"))?,
        (None, Some(url), _) => {
            ApiBase::parse(url).map_err(|e| in_file(format!("github_api_url: {e}")))?
        }
        // The environment is only checked when it is used.
        (None, None, Some(url)) if !repos.is_empty() => {
            ApiBase::parse(url).map_err(setting("GITHUB_API_URL"))?
        }
        _ => ApiBase::default(),
    };
    let limit_bytes = match (args.gha_limit, &file.gha_limit) {
        (Some(n), _) => n,
        (None, Some(s)) => parse_size(s).map_err(|e| in_file(format!("gha_limit: {e}")))?,
        (None, None) => GhaSettings::default().limit_bytes,
    };
    Ok(GhaSettings {
        repos,
        api,
        token: env.github_token.clone(),
        limit_bytes,
    })
}

pub fn load(args: &GlobalArgs, env: &Env) -> Result<Settings, ConfigError> {
    let file = read_config(args, env)?;
    resolve(args, &file, env)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn urls(s: &Settings) -> Vec<&str> {
        s.sources
            .docker_hosts
            .iter()
            .map(|h| h.url.as_str())
            .collect()
    }

    fn env() -> Env {
        Env {
            docker_host: Some("unix:///env.sock".into()),
            config_dir: None,
            cargo_home: Some("/home/ci/.cargo".into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_shipped_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/config.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let file = parse_config(&path, &text).unwrap();
        assert_eq!(file.stale_after.as_deref(), Some("7d"));
    }

    #[test]
    fn the_mouse_is_captured_unless_the_flag_or_the_file_says_no() {
        let on = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env()).unwrap();
        assert!(on.mouse);
        let file = parse_config(Path::new("c.toml"), "mouse = false").unwrap();
        assert!(
            !resolve(&GlobalArgs::default(), &file, &env())
                .unwrap()
                .mouse
        );
        let args = GlobalArgs {
            no_mouse: true,
            ..Default::default()
        };
        let file = ConfigFile {
            mouse: Some(true),
            ..Default::default()
        };
        assert!(!resolve(&args, &file, &env()).unwrap().mouse);
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_the_environment() {
        let file = ConfigFile {
            host: Some("unix:///file.sock".into()),
            stale_after: Some("3d".into()),
            ..Default::default()
        };
        let s = resolve(&GlobalArgs::default(), &file, &env()).unwrap();
        assert_eq!(urls(&s), ["unix:///file.sock"]);
        assert_eq!(s.policy.stale_after, Duration::from_secs(3 * 86_400));

        let args = GlobalArgs {
            hosts: vec!["tcp://127.0.0.1:1".into()],
            stale_after: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let s = resolve(&args, &file, &env()).unwrap();
        assert_eq!(urls(&s), ["tcp://127.0.0.1:1"]);
        assert_eq!(s.policy.stale_after, Duration::from_secs(60));

        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env()).unwrap();
        assert_eq!(urls(&s), ["unix:///env.sock"]);
    }

    #[test]
    fn many_hosts_from_the_flags_else_the_file_else_the_environment() {
        let file = parse_config(
            Path::new("c.toml"),
            "hosts = [\"unix:///a.sock\", \"tcp://10.0.0.2:2375\", \"unix:///a.sock\"]\n\
             host_timeout = \"5s\"\n",
        )
        .unwrap();
        let s = resolve(&GlobalArgs::default(), &file, &env()).unwrap();
        assert_eq!(
            urls(&s),
            ["unix:///a.sock", "tcp://10.0.0.2:2375"],
            "each host once, in the file's order"
        );
        assert_eq!(s.sources.host_timeout, Duration::from_secs(5));
        // The flags replace the file's list; DOCKER_HOST is never added to it.
        let args = GlobalArgs {
            hosts: vec!["unix:///c.sock".into(), "unix:///d.sock".into()],
            host_timeout: Some(Duration::from_secs(90)),
            ..Default::default()
        };
        let s = resolve(&args, &file, &env()).unwrap();
        assert_eq!(urls(&s), ["unix:///c.sock", "unix:///d.sock"]);
        assert_eq!(s.sources.host_timeout, Duration::from_secs(90));
        // Neither: DOCKER_HOST alone, with the default timeout.
        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env()).unwrap();
        assert_eq!(urls(&s), ["unix:///env.sock"]);
        assert_eq!(s.sources.host_timeout, DEFAULT_HOST_TIMEOUT);
        // An empty list is no list.
        let empty = parse_config(Path::new("c.toml"), "hosts = []\n").unwrap();
        let s = resolve(&GlobalArgs::default(), &empty, &env()).unwrap();
        assert_eq!(urls(&s), ["unix:///env.sock"]);
    }

    #[test]
    fn bad_hosts_in_the_file_are_named() {
        let bad = parse_config(
            Path::new("c.toml"),
            "hosts = [\"unix:///a\", \"ftp://x\"]\n",
        )
        .unwrap();
        let e = resolve(&GlobalArgs::default(), &bad, &env()).unwrap_err();
        assert!(e.to_string().contains("hosts: "), "{e}");
        let both = parse_config(
            Path::new("c.toml"),
            "host = \"unix:///a\"\nhosts = [\"unix:///b\"]\n",
        )
        .unwrap();
        let e = resolve(&GlobalArgs::default(), &both, &env()).unwrap_err();
        assert!(e.to_string().contains("either host or hosts"), "{e}");
        let slow = parse_config(Path::new("c.toml"), "host_timeout = \"soon\"\n").unwrap();
        let e = resolve(&GlobalArgs::default(), &slow, &env()).unwrap_err();
        assert!(e.to_string().contains("host_timeout: "), "{e}");
        // A bad flag among good ones is named as the flag.
        let args = GlobalArgs {
            hosts: vec!["unix:///a".into(), "tcp://u:p@h:1".into()],
            ..Default::default()
        };
        let e = resolve(&args, &ConfigFile::default(), &env()).unwrap_err();
        assert!(e.to_string().starts_with("--host: "), "{e}");
        assert!(!e.to_string().contains("u:p"), "{e}");
    }

    #[test]
    fn lint_paths_from_the_flags_else_the_file() {
        let file = parse_config(
            Path::new("c.toml"),
            "lint_paths = [\"docker\", \"ci/Dockerfile\"]\n",
        )
        .unwrap();
        let s = resolve(&GlobalArgs::default(), &file, &env()).unwrap();
        assert_eq!(
            s.lint_paths,
            vec![PathBuf::from("docker"), PathBuf::from("ci/Dockerfile")]
        );
        let args = GlobalArgs {
            lint: vec![PathBuf::from("other")],
            ..Default::default()
        };
        let s = resolve(&args, &file, &env()).unwrap();
        assert_eq!(s.lint_paths, vec![PathBuf::from("other")]);
        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env()).unwrap();
        assert!(s.lint_paths.is_empty());
    }

    #[test]
    fn cache_export_and_registry_settings_from_flags_or_the_file() {
        let file = parse_config(
            Path::new("c.toml"),
            "dirs = [\"/tmp/.buildx-cache\"]\nregistries = [\"r:5000/app:cache\"]\n\
             registry_user = \"ci\"\ninsecure_registry = true\n",
        )
        .unwrap();
        let env = Env {
            registry_password: Some(Secret::new("hunter2")),
            ..env()
        };
        let s = resolve(&GlobalArgs::default(), &file, &env).unwrap();
        assert_eq!(s.sources.dirs, vec![PathBuf::from("/tmp/.buildx-cache")]);
        assert_eq!(s.sources.registries, vec!["r:5000/app:cache"]);
        assert_eq!(s.sources.registry_user.as_deref(), Some("ci"));
        assert!(s.sources.insecure_registry);
        assert!(
            !format!("{s:?}").contains("hunter2"),
            "the password leaks in Debug"
        );

        let args = GlobalArgs {
            dirs: vec![PathBuf::from("/d")],
            registries: vec!["other/app:c".into()],
            registry_user: Some("me".into()),
            ..Default::default()
        };
        let s = resolve(&args, &file, &env).unwrap();
        assert_eq!(s.sources.dirs, vec![PathBuf::from("/d")]);
        assert_eq!(s.sources.registries, vec!["other/app:c"]);
        assert_eq!(s.sources.registry_user.as_deref(), Some("me"));
    }

    #[test]
    fn no_docker_from_either_place() {
        let file = ConfigFile {
            no_docker: Some(true),
            ..Default::default()
        };
        assert_eq!(
            resolve(&GlobalArgs::default(), &file, &env())
                .unwrap()
                .sources
                .docker_hosts,
            Vec::new()
        );
    }

    #[test]
    fn the_cargo_home_is_read_unless_dirs_are_given_or_it_is_turned_off() {
        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env()).unwrap();
        assert_eq!(s.sources.cargo_home, Some(PathBuf::from("/home/ci/.cargo")));
        assert!(s.sources.dirs.is_empty());

        let args = GlobalArgs {
            dirs: vec!["/srv/cache".into()],
            ..Default::default()
        };
        let s = resolve(&args, &ConfigFile::default(), &env()).unwrap();
        assert_eq!(s.sources.dirs, vec![PathBuf::from("/srv/cache")]);
        assert_eq!(s.sources.cargo_home, None);

        let file = ConfigFile {
            dirs: Some(vec!["/from/file".into()]),
            ..Default::default()
        };
        let s = resolve(&GlobalArgs::default(), &file, &env()).unwrap();
        assert_eq!(s.sources.dirs, vec![PathBuf::from("/from/file")]);
        let s = resolve(&args, &file, &env()).unwrap();
        assert_eq!(
            s.sources.dirs,
            vec![PathBuf::from("/srv/cache")],
            "flags win"
        );

        let off = GlobalArgs {
            no_cargo_home: true,
            ..Default::default()
        };
        assert_eq!(
            resolve(&off, &ConfigFile::default(), &env())
                .unwrap()
                .sources
                .cargo_home,
            None
        );
        let file = parse_config(Path::new("c.toml"), "no_cargo_home = true").unwrap();
        assert_eq!(
            resolve(&GlobalArgs::default(), &file, &env())
                .unwrap()
                .sources
                .cargo_home,
            None
        );
    }

    #[test]
    fn the_default_cargo_home_must_exist() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().to_path_buf();
        assert_eq!(default_cargo_home(None, Some(home.clone())), None);
        std::fs::create_dir(home.join(".cargo")).unwrap();
        assert_eq!(
            default_cargo_home(None, Some(home.clone())),
            Some(home.join(".cargo"))
        );
        // CARGO_HOME wins, and a missing one means none.
        assert_eq!(
            default_cargo_home(Some("/nonexistent/cargo".into()), Some(home.clone())),
            None
        );
        assert_eq!(default_cargo_home(Some(home.clone()), None), Some(home));
    }

    #[test]
    fn the_interval_defaults_to_5s_zero_turns_it_off_and_the_flag_wins() {
        let p = Path::new("c.toml");
        let interval = |args: &GlobalArgs, text: &str| {
            resolve(args, &parse_config(p, text).unwrap(), &env()).map(|s| s.interval)
        };
        let none = GlobalArgs::default();
        assert_eq!(interval(&none, "").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(
            interval(&none, "interval = \"1m\"").unwrap(),
            Some(Duration::from_secs(60))
        );
        assert_eq!(interval(&none, "interval = \"0\"").unwrap(), None);
        assert_eq!(interval(&none, "interval = \"0s\"").unwrap(), None);
        let err = interval(&none, "interval = \"5\"").unwrap_err().to_string();
        assert!(
            err.contains("interval:") && err.contains("0 to turn"),
            "{err}"
        );
        let flag = GlobalArgs {
            interval: Some(Duration::ZERO),
            ..Default::default()
        };
        assert_eq!(interval(&flag, "interval = \"9s\"").unwrap(), None);
        assert_eq!(crate::cli::parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert!(
            crate::cli::parse_interval("500ms").is_err(),
            "under a second"
        );
        assert!(crate::cli::parse_interval("-1s").is_err());
    }

    #[test]
    fn the_budget_keys_give_the_budget_flags_override() {
        let p = Path::new("c.toml");
        let file = parse_config(p, "max_used = \"50GB\"\nkeep_free = \"15%\"").unwrap();
        let budget = resolve(&GlobalArgs::default(), &file, &env())
            .unwrap()
            .budget;
        assert_eq!(budget.max_used, Some(50_000_000_000));
        assert_eq!(budget.keep_free, Some(Floor::Percent(1500)));
        let flags = crate::cli::BudgetArgs {
            keep_free: Some(Floor::Bytes(1)),
            budget: true,
            ..Default::default()
        };
        let got = flags.resolve(budget);
        assert_eq!(got.max_used, Some(50_000_000_000));
        assert_eq!(got.keep_free, Some(Floor::Bytes(1)));
        // Without --budget, only the flags count.
        let only_flags = crate::cli::BudgetArgs {
            budget: false,
            ..flags
        };
        assert_eq!(only_flags.resolve(budget).max_used, None);
        for bad in ["max_used = \"lots\"", "keep_free = \"120%\""] {
            let file = parse_config(p, bad).unwrap();
            let e = resolve(&GlobalArgs::default(), &file, &env()).unwrap_err();
            assert!(
                e.to_string().contains(bad.split(' ').next().unwrap()),
                "{e}"
            );
        }
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let p = Path::new("c.toml");
        let e = parse_config(p, "stale_afer = \"7d\"").unwrap_err();
        assert!(e.to_string().contains("stale_afer"), "{e}");
        let file = parse_config(p, "stale_after = \"soon\"").unwrap();
        assert!(resolve(&GlobalArgs::default(), &file, &env()).is_err());
    }

    #[test]
    fn a_missing_default_file_is_fine_but_a_missing_named_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env {
            docker_host: None,
            config_dir: Some(dir.path().into()),
            ..Default::default()
        };
        assert!(read_config(&GlobalArgs::default(), &env).is_ok());
        let args = GlobalArgs {
            config: Some(dir.path().join("nope.toml")),
            ..Default::default()
        };
        assert!(matches!(
            read_config(&args, &env),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn gha_settings_flags_then_file_then_environment() {
        let file = ConfigFile {
            gha: Some(vec!["octo/from-file".into()]),
            gha_limit: Some("5GB".into()),
            ..Default::default()
        };
        let env = Env {
            github_api_url: Some("https://ghe.example.com/api/v3".into()),
            github_token: Some(GithubToken::new("GH_TOKEN", "ghp_x")),
            ..Default::default()
        };
        let s = resolve(&GlobalArgs::default(), &file, &env)
            .unwrap()
            .sources
            .gha;
        assert_eq!(s.repos, vec![GhaRepo::parse("octo/from-file").unwrap()]);
        assert_eq!(s.api.as_str(), "https://ghe.example.com/api/v3");
        assert_eq!(s.limit_bytes, 5_000_000_000);
        assert_eq!(s.token.as_ref().map(|t| t.var), Some("GH_TOKEN"));

        let args = GlobalArgs {
            gha: vec![GhaRepo::parse("octo/flag").unwrap()],
            github_api_url: Some("https://api.github.com".into()),
            gha_limit: Some(1),
            ..Default::default()
        };
        let s = resolve(&args, &file, &env).unwrap().sources.gha;
        assert_eq!(s.repos, vec![GhaRepo::parse("octo/flag").unwrap()]);
        assert_eq!(s.api, ApiBase::default());
        assert_eq!(s.limit_bytes, 1);

        let none = resolve(
            &GlobalArgs::default(),
            &ConfigFile::default(),
            &Env::default(),
        )
        .unwrap()
        .sources
        .gha;
        assert_eq!(none, GhaSettings::default());
        assert_eq!(none.limit_bytes, 10_000_000_000);
    }

    #[test]
    fn bad_gha_values_name_where_they_came_from() {
        let p = Path::new("c.toml");
        let file = parse_config(p, "gha = [\"octo\"]").unwrap();
        let e = resolve(&GlobalArgs::default(), &file, &env()).unwrap_err();
        assert!(e.to_string().contains("gha:"), "{e}");
        let file = parse_config(p, "gha_limit = \"lots\"").unwrap();
        assert!(resolve(&GlobalArgs::default(), &file, &env()).is_err());
        let args = GlobalArgs {
            github_api_url: Some("http://ghe.example.com".into()),
            ..Default::default()
        };
        let e = resolve(&args, &ConfigFile::default(), &env()).unwrap_err();
        assert!(e.to_string().starts_with("--github-api-url:"), "{e}");
        // A bad GITHUB_API_URL matters only to a run that reads GitHub.
        let bad_env = Env {
            github_api_url: Some("not a url".into()),
            ..Default::default()
        };
        assert!(resolve(&GlobalArgs::default(), &ConfigFile::default(), &bad_env).is_ok());
        let args = GlobalArgs {
            gha: vec![GhaRepo::parse("octo/app").unwrap()],
            ..Default::default()
        };
        let e = resolve(&args, &ConfigFile::default(), &bad_env).unwrap_err();
        assert!(e.to_string().starts_with("GITHUB_API_URL:"), "{e}");
    }

    #[test]
    fn docker_hosts_are_checked_where_they_come_from() {
        for good in [
            "unix:///var/run/docker.sock",
            "/run/user/1000/docker.sock",
            "tcp://127.0.0.1:2375",
            "tcp://docker",
            "tcp://[::1]:2375",
            "http://docker:2375/",
            "ssh://me@box",
            "ssh://box:2222",
        ] {
            assert_eq!(check_docker_host(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "  ",
            "ftp://x",
            "unix://",
            "tcp://",
            "tcp://:2375",
            "tcp://host:",
            "tcp://host:http",
            "tcp://host:0",
            "tcp://host:65536",
            "ssh://-oProxyCommand=x",
            "ssh://box/path",
            "docker.sock",
        ] {
            assert!(check_docker_host(bad).is_err(), "{bad:?}");
        }
        let e = check_docker_host("tcp://ci:hunter2@10.0.0.1:2375").unwrap_err();
        assert!(e.contains("user or password"), "{e}");
        assert!(!e.contains("hunter2") && !e.contains("ci:"), "{e}");
        let e = check_docker_host("ssh://ci:hunter2@runner").unwrap_err();
        assert!(e.contains("password"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");

        let flag = |h: &str| GlobalArgs {
            hosts: vec![h.into()],
            ..Default::default()
        };
        let e = resolve(&flag(""), &ConfigFile::default(), &env()).unwrap_err();
        assert!(e.to_string().starts_with("--host: "), "{e}");
        // A bad flag is a mistake even when the daemon is not read.
        let off = GlobalArgs {
            no_docker: true,
            ..flag("ftp://x")
        };
        assert!(resolve(&off, &ConfigFile::default(), &env()).is_err());
        let file = ConfigFile {
            host: Some(String::new()),
            ..Default::default()
        };
        let e = resolve(&GlobalArgs::default(), &file, &env()).unwrap_err();
        assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
        assert!(e.to_string().contains("host: "), "{e}");
        // DOCKER_HOST: checked when used, named when bad, and empty means unset.
        let bad_env = |h: &str| Env {
            docker_host: Some(h.into()),
            ..Default::default()
        };
        let e = resolve(
            &GlobalArgs::default(),
            &ConfigFile::default(),
            &bad_env("unix://"),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("DOCKER_HOST: "), "{e}");
        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &bad_env("")).unwrap();
        assert_eq!(urls(&s), [DEFAULT_HOST]);
        let quiet = GlobalArgs {
            no_docker: true,
            ..Default::default()
        };
        assert!(resolve(&quiet, &ConfigFile::default(), &bad_env("ftp://x")).is_ok());
    }

    fn context_store(dir: &Path, name: &str, host: &str) {
        let meta = dir.join("contexts/meta").join(context::dir_name(name));
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(r#"{{"Name":"{name}","Endpoints":{{"docker":{{"Host":"{host}"}}}}}}"#),
        )
        .unwrap();
    }

    fn url(s: &Settings) -> Option<&str> {
        s.sources.docker_hosts.first().map(|h| h.url.as_str())
    }

    #[test]
    fn several_contexts_are_several_hosts_each_named_by_its_context() {
        let d = tempfile::tempdir().unwrap();
        context_store(d.path(), "east", "ssh://ci@east");
        context_store(d.path(), "lab", "unix:///lab.sock");
        context_store(d.path(), "lab-again", "unix:///lab.sock");
        let env = Env {
            docker_config: Some(d.path().to_path_buf()),
            docker_host: Some("unix:///env.sock".into()),
            ..Default::default()
        };
        let args = GlobalArgs {
            contexts: vec!["east".into(), "lab".into(), "lab-again".into()],
            ..Default::default()
        };
        let s = resolve(&args, &ConfigFile::default(), &env).unwrap();
        assert_eq!(
            urls(&s),
            ["ssh://ci@east", "unix:///lab.sock"],
            "one daemon once"
        );
        let names: Vec<_> = s
            .sources
            .docker_hosts
            .iter()
            .map(|h| h.context.as_deref())
            .collect();
        assert_eq!(names, [Some("east"), Some("lab")]);
        // The file's list, replaced by the flags; with `context` too it is a mistake.
        let file = parse_config(Path::new("c.toml"), "contexts = [\"lab\", \"east\"]\n").unwrap();
        let s = resolve(&GlobalArgs::default(), &file, &env).unwrap();
        assert_eq!(urls(&s), ["unix:///lab.sock", "ssh://ci@east"]);
        let s = resolve(&args, &file, &env).unwrap();
        assert_eq!(urls(&s), ["ssh://ci@east", "unix:///lab.sock"]);
        let both = parse_config(
            Path::new("c.toml"),
            "context = \"lab\"\ncontexts = [\"east\"]\n",
        )
        .unwrap();
        let e = resolve(&GlobalArgs::default(), &both, &env).unwrap_err();
        assert!(e.to_string().contains("either context or contexts"), "{e}");
        // One missing context among good ones is named as the flag.
        let args = GlobalArgs {
            contexts: vec!["lab".into(), "gone".into()],
            ..Default::default()
        };
        let e = resolve(&args, &ConfigFile::default(), &env).unwrap_err();
        assert!(e.to_string().starts_with("--context: "), "{e}");
    }

    #[test]
    fn the_daemon_is_picked_as_docker_picks_it() {
        let d = tempfile::tempdir().unwrap();
        context_store(d.path(), "ci-east", "ssh://ci@east");
        context_store(d.path(), "lab", "unix:///lab.sock");
        std::fs::write(d.path().join("config.json"), r#"{"currentContext":"lab"}"#).unwrap();
        let env = Env {
            docker_config: Some(d.path().to_path_buf()),
            ..Default::default()
        };
        let none = ConfigFile::default();
        // currentContext, when nothing else names a daemon.
        let s = resolve(&GlobalArgs::default(), &none, &env).unwrap();
        assert_eq!(url(&s), Some("unix:///lab.sock"));
        assert_eq!(
            s.sources.docker_hosts.first().unwrap().context.as_deref(),
            Some("lab")
        );
        // DOCKER_CONTEXT over it, DOCKER_HOST over both.
        let env_ctx = Env {
            docker_context: Some("ci-east".into()),
            ..env.clone()
        };
        let s = resolve(&GlobalArgs::default(), &none, &env_ctx).unwrap();
        assert_eq!(url(&s), Some("ssh://ci@east"));
        let env_host = Env {
            docker_host: Some("unix:///h.sock".into()),
            ..env_ctx.clone()
        };
        let s = resolve(&GlobalArgs::default(), &none, &env_host).unwrap();
        assert_eq!(url(&s), Some("unix:///h.sock"));
        assert_eq!(s.sources.docker_hosts[0].clone().context, None);
        // --context over DOCKER_HOST; `default` is the local socket.
        let ctx = |n: &str| GlobalArgs {
            contexts: vec![n.into()],
            ..Default::default()
        };
        let s = resolve(&ctx("ci-east"), &none, &env_host).unwrap();
        assert_eq!(url(&s), Some("ssh://ci@east"));
        let s = resolve(&ctx("default"), &none, &env_host).unwrap();
        assert_eq!(url(&s), Some(DEFAULT_HOST));
        // A context that is not there, and --host with --context, are mistakes.
        let e = resolve(&ctx("gone"), &none, &env).unwrap_err().to_string();
        assert!(
            e.starts_with("--context: there is no docker context"),
            "{e}"
        );
        let both = GlobalArgs {
            hosts: vec!["unix:///x.sock".into()],
            ..ctx("lab")
        };
        let e = resolve(&both, &none, &env).unwrap_err().to_string();
        assert!(e.contains("not both"), "{e}");
        // The file's context is read as --context is.
        let file = ConfigFile {
            context: Some("ci-east".into()),
            ..Default::default()
        };
        let s = resolve(&GlobalArgs::default(), &file, &env_host).unwrap();
        assert_eq!(url(&s), Some("ssh://ci@east"));
    }

    #[test]
    fn tls_daemons_take_their_files_from_the_flags_else_the_cert_path() {
        let d = tempfile::tempdir().unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        let env = Env {
            docker_host: Some("tcp://build-box".into()),
            docker_tls_verify: true,
            docker_cert_path: Some(d.path().to_path_buf()),
            ..Default::default()
        };
        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env).unwrap();
        let h = s.sources.docker_hosts[0].clone();
        assert_eq!(h.url, "tcp://build-box:2376");
        let tls = h.tls.unwrap();
        assert_eq!(tls.ca, d.path().join("ca.pem"));
        assert_eq!(tls.key, Some(d.path().join("key.pem")));
        let flags = GlobalArgs {
            hosts: vec!["tcp://10.0.0.2:2376".into()],
            tlsverify: true,
            tlscacert: Some("/f/ca.pem".into()),
            ..Default::default()
        };
        let s = resolve(&flags, &ConfigFile::default(), &Env::default()).unwrap();
        let tls = s.sources.docker_hosts[0].clone().tls.unwrap();
        assert_eq!(tls.ca, PathBuf::from("/f/ca.pem"));
        assert_eq!(tls.cert, None);
        // Without --tlsverify a tcp daemon is plain, as docker's is.
        let plain = GlobalArgs {
            hosts: vec!["tcp://10.0.0.2:2375".into()],
            ..Default::default()
        };
        let s = resolve(&plain, &ConfigFile::default(), &Env::default()).unwrap();
        assert_eq!(s.sources.docker_hosts[0].clone().tls, None);
        let ssh = GlobalArgs {
            hosts: vec!["ssh://box".into()],
            tlsverify: true,
            ..Default::default()
        };
        assert!(resolve(&ssh, &ConfigFile::default(), &Env::default()).is_err());
    }

    #[test]
    fn toml_errors_give_the_place_and_a_short_excerpt() {
        let p = Path::new("c.toml");
        let long = format!("stale_after = \"7d\"\nhost = {}\n", "x".repeat(200_000));
        let e = parse_config(p, &long).unwrap_err().to_string();
        assert!(e.contains("line 2, column 8"), "{e}");
        assert!(
            e.len() < 400,
            "{} bytes: {}",
            e.len(),
            &e[..400.min(e.len())]
        );
        assert!(e.contains("host = xxx"), "{e}");
        let e = parse_config(p, "read_only = yes\x1b]0;t\x07")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1, column 17"), "{e}");
        assert!(!e.contains('\x1b') && !e.contains('\x07'), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn only_a_small_regular_utf8_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let read = |p: &Path| {
            read_config(
                &GlobalArgs {
                    config: Some(p.to_path_buf()),
                    ..Default::default()
                },
                &Env::default(),
            )
        };
        let why = |p: &Path| match read(p) {
            Err(ConfigError::Read { why, .. }) => why,
            other => panic!("{other:?}"),
        };
        assert!(why(dir.path()).contains("a directory"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(why(&fifo).contains("a FIFO"));
        assert!(why(Path::new("/dev/zero")).contains("a character device"));
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_BYTES as usize + 1]).unwrap();
        assert!(why(&big).contains("1024 KiB"), "{}", why(&big));
        let latin1 = dir.path().join("latin1.toml");
        std::fs::write(&latin1, b"# caf\xe9\n").unwrap();
        assert!(why(&latin1).contains("offset 5"), "{}", why(&latin1));
        let ok = dir.path().join("ok.toml");
        std::fs::write(&ok, "stale_after = \"3d\"\n").unwrap();
        assert_eq!(read(&ok).unwrap().stale_after.as_deref(), Some("3d"));
        // One OS error, said once.
        let e = read(&dir.path().join("nope.toml")).unwrap_err().to_string();
        assert_eq!(e.matches("os error").count(), 1, "{e}");
    }
}
