//! Which files `cachetop lint` reads, and reading them within bounds.
//!
//! Under a directory: `Dockerfile`, `*.Dockerfile`, `Dockerfile.*` (not
//! `*.dockerignore`), `Containerfile`, and `*.yml`/`*.yaml` directly in
//! `.github/workflows`, `.forgejo/workflows` or `.gitea/workflows`. `.git`, `target`
//! and `node_modules` are skipped. Symbolic links are never followed out of the
//! directory given: a linked file is read only when its real path is inside it, and
//! linked directories are not entered (they would be walked twice, or loop). A file
//! named on the command line is linted whatever its name: as a workflow when it ends
//! in `.yml` or `.yaml`, else as a Dockerfile.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{FileKind, Input, ReadError};

/// Largest file read (BuildKit refuses lines over 64 KiB; workflows are small).
pub(crate) const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most files linted in one run.
pub(crate) const MAX_FILES: usize = 10_000;
/// Most directory entries looked at in one run.
pub(crate) const MAX_ENTRIES: usize = 1_000_000;

const SKIPPED_DIRS: [&str; 3] = [".git", "target", "node_modules"];
const FORGES: [(&str, bool); 3] = [(".github", false), (".forgejo", true), (".gitea", true)];

/// A path on the command line that cannot be linted: exit 2.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PathError {
    #[error("{0}: no such file or directory")]
    Missing(String),
    #[error("{0}: not a file or a directory")]
    NotFileOrDir(String),
}

#[derive(Debug, Default)]
pub(crate) struct Discovered {
    pub inputs: Vec<Input>,
    /// Why the run is incomplete: a bound reached, a directory not readable (exit 1).
    pub problems: Vec<String>,
}

fn is_dockerfile_name(name: &str) -> bool {
    name == "Dockerfile"
        || name == "Containerfile"
        || name.ends_with(".Dockerfile")
        || (name.starts_with("Dockerfile.") && !name.ends_with(".dockerignore"))
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yml") || name.ends_with(".yaml")
}

/// `Some(all_self_hosted)` when `dir` is a forge's workflows directory.
fn workflows_dir(dir: &Path) -> Option<bool> {
    if dir.file_name()? != "workflows" {
        return None;
    }
    let forge = dir.parent()?.file_name()?;
    FORGES
        .iter()
        .find(|(name, _)| forge == *name)
        .map(|(_, self_hosted)| *self_hosted)
}

fn display(root: &Path, rel: &Path) -> String {
    if root == Path::new(".") {
        rel.to_string_lossy().into_owned()
    } else {
        root.join(rel).to_string_lossy().into_owned()
    }
}

fn repo_of(path: &Path) -> PathBuf {
    let parent = path.parent().unwrap_or(Path::new("."));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// Finds and reads the files under `paths`.
pub(crate) fn discover(paths: &[PathBuf]) -> Result<Discovered, PathError> {
    let mut out = Discovered::default();
    let mut entries = 0usize;
    for path in paths {
        let name = path.to_string_lossy().into_owned();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => PathError::Missing(name.clone()),
            _ => PathError::NotFileOrDir(format!("{name} ({e})")),
        })?;
        if meta.is_dir() {
            walk(path, &mut out, &mut entries);
        } else if meta.is_file() {
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let kind = if file_name.as_deref().is_some_and(is_yaml) {
                FileKind::Workflow
            } else {
                FileKind::Dockerfile
            };
            let all_self_hosted = path.parent().and_then(workflows_dir).unwrap_or(false);
            push(
                &mut out,
                Input {
                    path: path.clone(),
                    display: name,
                    kind,
                    repo: repo_of(path),
                    all_self_hosted,
                    content: read_bounded(path, true),
                },
            );
        } else {
            return Err(PathError::NotFileOrDir(name));
        }
    }
    Ok(out)
}

fn push(out: &mut Discovered, input: Input) {
    if out.inputs.iter().any(|i| i.path == input.path) {
        return;
    }
    if out.inputs.len() >= MAX_FILES {
        if out.problems.iter().all(|p| !p.contains("files to lint")) {
            out.problems.push(format!(
                "more than {MAX_FILES} files to lint: stopped at the bound; name narrower paths"
            ));
        }
        return;
    }
    out.inputs.push(input);
}

/// Walks `root`, then adds what it found in path order.
fn walk(root: &Path, out: &mut Discovered, entries: &mut usize) {
    let mut found = Discovered::default();
    walk_into(root, &mut found, entries);
    found.inputs.sort_by(|a, b| a.display.cmp(&b.display));
    for input in found.inputs {
        push(out, input);
    }
    out.problems.extend(found.problems);
}

fn walk_into(root: &Path, out: &mut Discovered, entries: &mut usize) {
    let real_root = std::fs::canonicalize(root).ok();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut children: Vec<_> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(Result::ok).collect(),
            Err(e) => {
                out.problems.push(format!(
                    "cannot read directory {}: {e}",
                    display(root, &rel)
                ));
                continue;
            }
        };
        *entries += children.len();
        if *entries > MAX_ENTRIES {
            out.problems.push(format!(
                "more than {MAX_ENTRIES} directory entries under {}: stopped at the bound; \
                 name narrower paths",
                root.display()
            ));
            return;
        }
        children.sort_by_key(|e| e.file_name());
        let forge = workflows_dir(&dir);
        let mut subdirs = Vec::new();
        for entry in children {
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            let Ok(ft) = entry.file_type() else {
                continue;
            };
            let child_rel = rel.join(&name);
            if ft.is_dir() {
                if !SKIPPED_DIRS.contains(&name_str.as_ref()) {
                    subdirs.push(child_rel);
                }
                continue;
            }
            let kind = if forge.is_some() && is_yaml(&name_str) {
                FileKind::Workflow
            } else if is_dockerfile_name(&name_str) {
                FileKind::Dockerfile
            } else {
                continue;
            };
            let path = root.join(&child_rel);
            let content = if ft.is_symlink() {
                // Only a link whose real path stays inside the directory given.
                match (std::fs::canonicalize(&path), &real_root) {
                    (Ok(real), Some(root)) if real.starts_with(root) => read_bounded(&real, false),
                    _ => continue,
                }
            } else if ft.is_file() {
                read_bounded(&path, false)
            } else {
                continue;
            };
            push(
                out,
                Input {
                    display: display(root, &child_rel),
                    repo: repo_of(&path),
                    path,
                    kind,
                    all_self_hosted: forge.unwrap_or(false),
                    content,
                },
            );
        }
        // Depth first, in name order.
        stack.extend(subdirs.into_iter().rev());
    }
}

/// Reads at most `MAX_FILE_BYTES` of a regular file. `follow`: the path was given on
/// the command line, so a link in its last component is followed. Never blocks on a
/// FIFO: the file is opened non-blocking and must be regular.
pub(crate) fn read_bounded(path: &Path, follow: bool) -> Result<Vec<u8>, ReadError> {
    let io = |e: std::io::Error| ReadError::Io(format!("cannot read {}: {e}", path.display()));
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::Io(format!(
            "cannot read {}: not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(meta.len()));
    }
    let mut buf = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(buf.len() as u64));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for yes in [
            "Dockerfile",
            "Containerfile",
            "api.Dockerfile",
            "Dockerfile.prod",
        ] {
            assert!(is_dockerfile_name(yes), "{yes}");
        }
        for no in [
            "dockerfile.md",
            "Dockerfile.dockerignore",
            "Dockerfiles",
            "README",
        ] {
            assert!(!is_dockerfile_name(no), "{no}");
        }
        assert_eq!(workflows_dir(Path::new("x/.github/workflows")), Some(false));
        assert_eq!(workflows_dir(Path::new(".forgejo/workflows")), Some(true));
        assert_eq!(workflows_dir(Path::new("x/workflows")), None);
    }
}
