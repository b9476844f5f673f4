//! Settings: the TOML config file, then flags over it, then the environment's defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::policy::Policy;
use crate::sources::docker::resolve_host;
use crate::sources::gha::{ApiBase, GhaRepo, GhaSettings, GithubToken};
use crate::sources::registry::auth::Secret;
use crate::units::{parse_duration, parse_size};

/// The config file. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub host: Option<String>,
    pub no_docker: Option<bool>,
    pub stale_after: Option<String>,
    pub read_only: Option<bool>,
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
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A bad value from a flag or an environment variable (`name` says which).
    #[error("{name}: {message}")]
    Setting { name: String, message: String },
}

/// Everything a command needs to know, resolved once.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `None` when the daemon is not to be read.
    pub docker_host: Option<String>,
    pub policy: Policy,
    pub read_only: bool,
    /// GitHub Actions cache sources; none unless `--gha` or the file's `gha` names some.
    pub gha: GhaSettings,
    pub dirs: Vec<PathBuf>,
    pub registries: Vec<String>,
    pub registry_user: Option<String>,
    /// From CACHETOP_REGISTRY_PASSWORD only; its Debug never shows it.
    pub registry_password: Option<Secret>,
    pub insecure_registry: bool,
    /// The local cargo home, read when no directory is given (unless turned off).
    pub cargo_home: Option<PathBuf>,
}

/// What the process environment contributes.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub docker_host: Option<String>,
    pub config_dir: Option<PathBuf>,
    /// From `GITHUB_TOKEN`, else `GH_TOKEN` (its Debug hides the value).
    pub github_token: Option<GithubToken>,
    /// `GITHUB_API_URL`.
    pub github_api_url: Option<String>,
    pub registry_password: Option<Secret>,
    /// `$CARGO_HOME`, else `~/.cargo`, when that directory exists.
    pub cargo_home: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            docker_host: std::env::var("DOCKER_HOST").ok(),
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
        }
    }

    pub fn default_config_path(&self) -> Option<PathBuf> {
        self.config_dir
            .as_ref()
            .map(|d| d.join("cachetop").join("config.toml"))
    }
}

/// Where cargo keeps its caches: `$CARGO_HOME` when set (even to a missing
/// directory, which then means none), else `~/.cargo`; only if it is a directory.
pub fn default_cargo_home(env: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let path = match env.filter(|p| !p.as_os_str().is_empty()) {
        Some(p) => p,
        None => home?.join(".cargo"),
    };
    path.is_dir().then_some(path)
}

pub fn parse_config(path: &Path, text: &str) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
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
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_config(&path, &text),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(ConfigFile::default())
        }
        Err(source) => Err(ConfigError::Read { path, source }),
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
    let docker_host = (!no_docker).then(|| {
        resolve_host(
            args.host.as_deref().or(file.host.as_deref()),
            env.docker_host.as_deref(),
        )
    });
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
        docker_host,
        policy: Policy { stale_after },
        read_only: args.read_only || file.read_only.unwrap_or(false),
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
    })
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
    fn flags_override_the_file_and_the_file_overrides_the_environment() {
        let file = ConfigFile {
            host: Some("unix:///file.sock".into()),
            stale_after: Some("3d".into()),
            ..Default::default()
        };
        let s = resolve(&GlobalArgs::default(), &file, &env()).unwrap();
        assert_eq!(s.docker_host.as_deref(), Some("unix:///file.sock"));
        assert_eq!(s.policy.stale_after, Duration::from_secs(3 * 86_400));

        let args = GlobalArgs {
            host: Some("tcp://127.0.0.1:1".into()),
            stale_after: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let s = resolve(&args, &file, &env()).unwrap();
        assert_eq!(s.docker_host.as_deref(), Some("tcp://127.0.0.1:1"));
        assert_eq!(s.policy.stale_after, Duration::from_secs(60));

        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env()).unwrap();
        assert_eq!(s.docker_host.as_deref(), Some("unix:///env.sock"));
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
        assert_eq!(s.dirs, vec![PathBuf::from("/tmp/.buildx-cache")]);
        assert_eq!(s.registries, vec!["r:5000/app:cache"]);
        assert_eq!(s.registry_user.as_deref(), Some("ci"));
        assert!(s.insecure_registry);
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
        assert_eq!(s.dirs, vec![PathBuf::from("/d")]);
        assert_eq!(s.registries, vec!["other/app:c"]);
        assert_eq!(s.registry_user.as_deref(), Some("me"));
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
                .docker_host,
            None
        );
    }

    #[test]
    fn the_cargo_home_is_read_unless_dirs_are_given_or_it_is_turned_off() {
        let s = resolve(&GlobalArgs::default(), &ConfigFile::default(), &env()).unwrap();
        assert_eq!(s.cargo_home, Some(PathBuf::from("/home/ci/.cargo")));
        assert!(s.dirs.is_empty());

        let args = GlobalArgs {
            dirs: vec!["/srv/cache".into()],
            ..Default::default()
        };
        let s = resolve(&args, &ConfigFile::default(), &env()).unwrap();
        assert_eq!(s.dirs, vec![PathBuf::from("/srv/cache")]);
        assert_eq!(s.cargo_home, None);

        let file = ConfigFile {
            dirs: Some(vec!["/from/file".into()]),
            ..Default::default()
        };
        let s = resolve(&GlobalArgs::default(), &file, &env()).unwrap();
        assert_eq!(s.dirs, vec![PathBuf::from("/from/file")]);
        let s = resolve(&args, &file, &env()).unwrap();
        assert_eq!(s.dirs, vec![PathBuf::from("/srv/cache")], "flags win");

        let off = GlobalArgs {
            no_cargo_home: true,
            ..Default::default()
        };
        assert_eq!(
            resolve(&off, &ConfigFile::default(), &env())
                .unwrap()
                .cargo_home,
            None
        );
        let file = parse_config(Path::new("c.toml"), "no_cargo_home = true").unwrap();
        assert_eq!(
            resolve(&GlobalArgs::default(), &file, &env())
                .unwrap()
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
        let s = resolve(&GlobalArgs::default(), &file, &env).unwrap().gha;
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
        let s = resolve(&args, &file, &env).unwrap().gha;
        assert_eq!(s.repos, vec![GhaRepo::parse("octo/flag").unwrap()]);
        assert_eq!(s.api, ApiBase::default());
        assert_eq!(s.limit_bytes, 1);

        let none = resolve(
            &GlobalArgs::default(),
            &ConfigFile::default(),
            &Env::default(),
        )
        .unwrap()
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
}
