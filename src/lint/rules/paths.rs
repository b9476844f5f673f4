//! Which cache a mount target is: a cargo registry, a cargo home, a build output
//! directory, apt's directories. Targets are absolute and cleaned; a variable the file
//! does not resolve stays as `${NAME}`.

use crate::lint::dockerfile::{Run, Value};

fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

fn is_home_name(c: &str) -> bool {
    matches!(c, "cargo" | ".cargo" | "${CARGO_HOME}")
}

fn env_text(v: &Option<Value>) -> Option<String> {
    v.as_ref()
        .filter(|v| !v.text.is_empty())
        .map(|v| crate::lint::dockerfile::clean_path(&v.text))
}

/// `/usr/local/cargo/registry`, `/root/.cargo/git/db`, `${CARGO_HOME}/registry`, or
/// `<CARGO_HOME>/registry` for the run's `CARGO_HOME`: the cargo home it is under.
pub(crate) fn cargo_registry_home(target: &str, run: &Run) -> Option<String> {
    let comps = components(target);
    let home_env = env_text(&run.cargo_home);
    let i = comps.iter().position(|c| *c == "registry" || *c == "git")?;
    if i == 0 {
        return None;
    }
    let home = format!("/{}", comps[..i].join("/"));
    let named = is_home_name(comps[i - 1]) || comps[..i] == ["${CARGO_HOME}"];
    (named || home_env.as_deref() == Some(home.as_str())).then_some(home)
}

/// Whether `target` is a cargo home itself (it then holds cargo's lock).
pub(crate) fn is_cargo_home(target: &str, run: &Run) -> bool {
    let comps = components(target);
    comps.last().is_some_and(|c| is_home_name(c))
        || env_text(&run.cargo_home).as_deref() == Some(target)
}

/// A build output directory: `.../target`, `CARGO_TARGET_DIR`.
pub(crate) fn is_target_dir(target: &str, run: &Run) -> bool {
    let comps = components(target);
    comps
        .last()
        .is_some_and(|c| *c == "target" || *c == "${CARGO_TARGET_DIR}")
        || env_text(&run.cargo_target_dir).as_deref() == Some(target)
}

/// `/var/cache/apt` or `/var/lib/apt`, or a directory under one, and which.
pub(crate) fn apt_dir(target: &str) -> Option<&'static str> {
    ["/var/cache/apt", "/var/lib/apt"].into_iter().find(|dir| {
        target == *dir
            || target
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cargo_home: Option<&str>, target_dir: Option<&str>) -> Run {
        Run {
            pos: Default::default(),
            end_line: 1,
            mounts: Vec::new(),
            command: String::new(),
            command_args: Vec::new(),
            cargo_home: cargo_home.map(Value::literal),
            cargo_target_dir: target_dir.map(Value::literal),
        }
    }

    #[test]
    fn cargo_registries() {
        let r = run(None, None);
        let home = |t: &str| cargo_registry_home(t, &r);
        assert_eq!(
            home("/usr/local/cargo/registry").as_deref(),
            Some("/usr/local/cargo")
        );
        assert_eq!(
            home("/usr/local/cargo/git/db").as_deref(),
            Some("/usr/local/cargo")
        );
        assert_eq!(
            home("/root/.cargo/registry").as_deref(),
            Some("/root/.cargo")
        );
        assert_eq!(
            home("/${CARGO_HOME}/registry").as_deref(),
            Some("/${CARGO_HOME}")
        );
        assert_eq!(home("/srv/registry"), None);
        assert_eq!(home("/registry"), None);
        let custom = run(Some("/opt/ch"), None);
        assert!(cargo_registry_home("/opt/ch/registry", &custom).is_some());
        assert!(is_cargo_home("/usr/local/cargo", &r));
        assert!(is_cargo_home("/opt/ch", &custom));
    }

    #[test]
    fn target_dirs_and_apt() {
        let r = run(None, Some("/build"));
        assert!(is_target_dir("/app/target", &r));
        assert!(is_target_dir("/build", &r));
        assert!(!is_target_dir("/app/targets", &r));
        assert_eq!(apt_dir("/var/cache/apt/archives"), Some("/var/cache/apt"));
        assert_eq!(apt_dir("/var/lib/apt"), Some("/var/lib/apt"));
        assert_eq!(apt_dir("/var/cache/aptitude"), None);
    }
}
