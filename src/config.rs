//! Settings: the TOML config file, then flags over it, then the environment's defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::policy::Policy;
use crate::sources::docker::resolve_host;
use crate::units::parse_duration;

/// The config file. Unknown keys are errors, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub host: Option<String>,
    pub no_docker: Option<bool>,
    pub stale_after: Option<String>,
    pub read_only: Option<bool>,
    pub dirs: Option<Vec<PathBuf>>,
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
}

/// Everything a command needs to know, resolved once.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `None` when the daemon is not to be read.
    pub docker_host: Option<String>,
    pub policy: Policy,
    pub read_only: bool,
    /// Directories given with `--dir` (or the file's `dirs`).
    pub dirs: Vec<PathBuf>,
    /// The local cargo home, read when no directory is given (unless turned off).
    pub cargo_home: Option<PathBuf>,
}

/// What the process environment contributes.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub docker_host: Option<String>,
    pub config_dir: Option<PathBuf>,
    /// `$CARGO_HOME`, else `~/.cargo`, when that directory exists.
    pub cargo_home: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Self {
        Self {
            docker_host: std::env::var("DOCKER_HOST").ok(),
            config_dir: dirs::config_dir(),
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
        dirs,
        cargo_home,
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
            cargo_home: None,
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
}
