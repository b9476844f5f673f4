//! Real cargo data for the content-scan tests: a cargo home made by a real
//! `cargo fetch` from crates.io, plus independent readers of what is on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Pinned so the archives (and where a cut stream ends) never change.
pub const ITOA: &str = "itoa-1.0.11";
pub const CFG_IF: &str = "cfg-if-1.0.0";

const MANIFEST: &str = r#"[package]
name = "scan-fixture"
version = "0.1.0"
edition = "2021"

[dependencies]
itoa = "=1.0.11"
cfg-if = "=1.0.0"
"#;

const MAIN: &str = "fn main() { let mut b = itoa::Buffer::new(); cfg_if::cfg_if! { if #[cfg(unix)] { println!(\"{}\", b.format(42)); } } }\n";

/// A directory for this test process under the target's tmp dir; directories of
/// earlier runs are removed.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scan-fixtures");
        fs::create_dir_all(&base).unwrap();
        for old in fs::read_dir(&base).unwrap().flatten() {
            let name = old.file_name().to_string_lossy().into_owned();
            let alive = name
                .strip_prefix("run-")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
            if !alive {
                let _ = make_writable_and_remove(&old.path());
            }
        }
        let dir = base.join(format!("run-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fn make_writable_and_remove(p: &Path) -> std::io::Result<()> {
    let _ = Command::new("chmod").args(["-R", "u+rwx"]).arg(p).status();
    fs::remove_dir_all(p)
}

/// The cargo binary running these tests.
pub fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// A cargo project using the pinned crates, at `dir`.
pub fn project(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("Cargo.toml"), MANIFEST).unwrap();
    fs::write(dir.join("src/main.rs"), MAIN).unwrap();
    dir.to_path_buf()
}

/// Runs cargo with its own CARGO_HOME, in `project`.
pub fn cargo(home: &Path, project: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cargo_bin())
        .args(args)
        .current_dir(project)
        .env("CARGO_HOME", home)
        .env("CARGO_TARGET_DIR", project.join("target"))
        .env_remove("RUSTFLAGS")
        .env("CARGO_TERM_COLOR", "never")
        .output()
        .expect("run cargo")
}

/// A cargo home filled by a real `cargo fetch` from crates.io (once per process).
/// Tests copy it; never change it.
pub fn cargo_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = scratch().join("fetched-home");
        let proj = project(&scratch().join("fetched-project"));
        let out = cargo(&home, &proj, &["fetch"]);
        assert!(
            out.status.success(),
            "cargo fetch from crates.io failed (these tests need crates.io):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            home.join("registry/src").is_dir(),
            "cargo fetch extracted nothing"
        );
        home
    })
}

/// A fresh copy of the fetched cargo home (with `cp -a`, keeping times).
pub fn copy_of_home(tag: &str) -> PathBuf {
    let dst = scratch().join(format!("home-{tag}"));
    let _ = fs::remove_dir_all(&dst);
    copy_tree(cargo_home(), &dst);
    dst
}

pub fn copy_tree(src: &Path, dst: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a {} {}", src.display(), dst.display());
}

/// The registry directory name cargo used (`index.crates.io-<hash>`; the hash
/// depends on cargo's version).
pub fn registry_name() -> String {
    let src = cargo_home().join("registry/src");
    let first = fs::read_dir(&src)
        .unwrap()
        .flatten()
        .next()
        .expect("a registry directory");
    first.file_name().to_string_lossy().into_owned()
}

/// Every non-directory under `root` with its size, without following symlinks;
/// an independent reader to check cachetop's sizes and deletions against.
pub fn files(root: &Path) -> BTreeMap<PathBuf, u64> {
    fn walk(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for e in fs::read_dir(root.join(rel)).unwrap().flatten() {
            let rel = rel.join(e.file_name());
            let md = fs::symlink_metadata(root.join(&rel)).unwrap();
            if md.is_dir() {
                walk(root, &rel, out);
            } else {
                out.insert(rel, md.len());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, Path::new(""), &mut out);
    out
}

pub fn bytes_under(files: &BTreeMap<PathBuf, u64>, prefix: &Path) -> u64 {
    files
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(_, s)| s)
        .sum()
}

/// Makes sure a Debian tool is present, installing its package when it is not.
pub fn ensure_tool(bin: &str, package: &str) {
    let present = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return;
    }
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.args(["-n", "apt-get"]);
        c
    };
    let ok = cmd
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{bin} is missing and apt-get install {package} failed");
}

/// A crate with about 270 files, so an unpack takes long enough to interrupt or to
/// race; pinned with its one dependency, which unpacks in a blink.
pub const WINDOWS_SYS: &str = "windows-sys-0.61.2";
pub const WINDOWS_LINK: &str = "windows-link-0.2.1";

const WINDOWS_MANIFEST: &str = r#"[package]
name = "many-files"
version = "0.1.0"
edition = "2021"

[dependencies]
windows-sys = "=0.61.2"
windows-link = "=0.2.1"
"#;

/// A cargo home filled by a real `cargo fetch` of windows-sys (once per process), and
/// the project that fetched it, with its Cargo.lock. Tests copy both; never change them.
pub fn windows_home() -> &'static (PathBuf, PathBuf) {
    static HOME: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = scratch().join("windows-home");
        let proj = scratch().join("windows-project");
        fs::create_dir_all(proj.join("src")).unwrap();
        fs::write(proj.join("Cargo.toml"), WINDOWS_MANIFEST).unwrap();
        fs::write(proj.join("src/main.rs"), "fn main() {}\n").unwrap();
        let out = cargo(&home, &proj, &["fetch"]);
        assert!(
            out.status.success(),
            "cargo fetch from crates.io failed (these tests need crates.io):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(proj.join("Cargo.lock").is_file());
        (home, proj)
    })
}

/// A fresh copy of `src` in the scratch directory (with `cp -a`, keeping times).
pub fn copy_as(src: &Path, tag: &str) -> PathBuf {
    let dst = scratch().join(tag);
    if dst.exists() {
        make_writable_and_remove(&dst).unwrap();
    }
    copy_tree(src, &dst);
    dst
}

/// A git repository of `files` modules and a project depending on it, fetched by
/// real cargo into its own home: (home, project).
pub fn git_dep_home(tag: &str, files: usize) -> (PathBuf, PathBuf) {
    ensure_tool("git", "git");
    let base = scratch().join(tag);
    if base.exists() {
        make_writable_and_remove(&base).unwrap();
    }
    let lib = base.join("manylib");
    fs::create_dir_all(lib.join("src")).unwrap();
    fs::write(
        lib.join("Cargo.toml"),
        "[package]\nname = \"manylib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    let mut lib_rs = String::from("pub fn seven() -> u32 { 7 }\n");
    for i in 0..files {
        fs::write(
            lib.join(format!("src/m{i}.rs")),
            format!("pub fn f() -> usize {{ {i} }}\n"),
        )
        .unwrap();
        lib_rs.push_str(&format!("pub mod m{i};\n"));
    }
    fs::write(lib.join("src/lib.rs"), lib_rs).unwrap();
    for args in [
        &["init", "-q"][..],
        &["add", "."],
        &["commit", "-qm", "init"],
    ] {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&lib)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let app = base.join("app");
    fs::create_dir_all(app.join("src")).unwrap();
    fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nmanylib = {{ git = \"file://{}\" }}\n",
            lib.display()
        ),
    )
    .unwrap();
    fs::write(
        app.join("src/main.rs"),
        "fn main() { println!(\"{}\", manylib::seven()); }\n",
    )
    .unwrap();
    let home = base.join("home");
    let out = cargo(&home, &app, &["fetch"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (home, app)
}
