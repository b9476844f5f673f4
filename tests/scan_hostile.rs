//! Content that fights back: names that are not UTF-8, files and directories the
//! user may not read, symlink loops, directories that vanish mid-walk, a huge
//! directory. The scan reports what it can, says what it could not, never panics.

use crate::common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cachetop::scan::{self, detectors};
use common::*;
use serde_json::{Value, json};

/// Below a plain directory (not a cargo home): one entry, id `.`.
const REG: &str = "mnt/cargo/registry/src/index.crates.io-1949cf8c6b5b557f";

fn report_dir(dir: &Path) -> Value {
    let out = cachetop()
        .args(["--no-docker", "--dir"])
        .arg(dir)
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json_of(&out)
}

fn assert_report_schema(doc: &Value) {
    let path = format!("{}/assets/report.schema.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(doc), "{doc:#}");
}

#[test]
fn names_that_are_not_utf8_are_reported_escaped_and_repaired_exactly() {
    let d = tempfile::tempdir().unwrap();
    let reg = d.path().join(REG);
    // A crate directory whose name is not UTF-8, half extracted.
    let odd = reg.join(OsStr::from_bytes(b"caf\xe9-1.0.0"));
    fs::create_dir_all(&odd).unwrap();
    fs::write(odd.join(OsStr::from_bytes(b"\xff.rs")), vec![b'x'; 77]).unwrap();
    // Its neighbour differs in that one byte, and is whole.
    let twin = reg.join(OsStr::from_bytes(b"caf\xe8-1.0.0"));
    fs::create_dir_all(&twin).unwrap();
    fs::write(twin.join(".cargo-ok"), br#"{"v":1}"#).unwrap();
    fs::write(twin.join("lib.rs"), b"ok").unwrap();

    let doc = report_dir(d.path());
    assert_report_schema(&doc);
    let e = &doc["entries"][0];
    assert_eq!(e["content"]["files"], 3);
    assert_eq!(e["disk_bytes"], 77 + 7 + 2);
    assert_eq!(
        e["findings"],
        json!([{
            "kind": "cargo.partial_extraction",
            "path": format!("{REG}/caf\\xe9-1.0.0"),
            "detail": e["findings"][0]["detail"],
            "bytes": 77,
        }])
    );

    let out = cachetop()
        .args(["--no-docker", "--dir"])
        .arg(d.path())
        .args(["repair", ".", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!odd.exists(), "the broken directory is still there");
    assert!(twin.join("lib.rs").exists(), "its neighbour was removed");
}

/// cachetop as an unprivileged user (tests run as root, which reads everything).
fn as_nobody(args: &[&str], dir: &Path) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    };
    cmd.args(["--no-docker", "--dir"])
        .arg(dir)
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .output()
        .unwrap()
}

fn open_path_for_all(p: &Path) {
    // Let the unprivileged user reach the tree (temp dirs are 0700).
    let mut at = PathBuf::from("/");
    for c in p.components().skip(1) {
        at.push(c);
        let mode = fs::metadata(&at).unwrap().permissions().mode();
        fs::set_permissions(&at, fs::Permissions::from_mode(mode | 0o755)).unwrap();
    }
}

#[test]
fn unreadable_files_and_directories_are_counted_not_fatal_and_never_guessed_at() {
    let base = tempfile::tempdir().unwrap();
    let d = base.path().join("cache");
    let cache = d.join("mnt/registry/cache/index.crates.io-1949cf8c6b5b557f");
    fs::create_dir_all(&cache).unwrap();
    fs::write(cache.join("ok-1.0.0.crate"), b"").unwrap(); // empty: corrupt, readable
    fs::write(cache.join("secret-1.0.0.crate"), b"not readable by nobody").unwrap();
    fs::set_permissions(
        cache.join("secret-1.0.0.crate"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let locked = d.join("locked");
    fs::create_dir_all(&locked).unwrap();
    fs::write(locked.join("inside"), vec![0u8; 1000]).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    fs::write(d.join("visible"), vec![0u8; 10]).unwrap();
    // A crate directory nobody may list: unknown, so never called half-extracted.
    let private = d.join("mnt/registry/src/index.crates.io-1949cf8c6b5b557f/private-1.0.0");
    fs::create_dir_all(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o000)).unwrap();
    open_path_for_all(&d);
    for p in [
        &d,
        &d.join("mnt"),
        &d.join("mnt/registry"),
        &d.join("mnt/registry/cache"),
        &cache,
        &d.join("mnt/registry/src"),
        &private.parent().unwrap().to_path_buf(),
    ] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    let out = as_nobody(&["report", "--json"], &d);
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let e = &doc["entries"][0];
    // Everything readable is counted: the two archives' entries and `visible`.
    assert_eq!(e["content"]["files"], 3, "{e:#}");
    assert_eq!(e["disk_bytes"], 10 + 22);
    let err = e["content"]["error"].as_str().unwrap();
    assert!(err.starts_with("3 entries could not be read"), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("run cachetop as root"), "{err}");
    // The readable empty archive is found; the unreadable one is not guessed at.
    let found: Vec<&str> = e["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        vec!["mnt/registry/cache/index.crates.io-1949cf8c6b5b557f/ok-1.0.0.crate"]
    );
    // The table says it too.
    let out = as_nobody(&["report"], &d);
    assert!(text(&out.stdout).contains("Content not (fully) scanned"));

    // A directory the user cannot list at all is a failed source, with what to do.
    fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
    let out = as_nobody(&["report"], &d);
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("run cachetop as a user who can read it"),
        "{err}"
    );
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn symlink_loops_and_links_out_are_never_followed() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("a/b")).unwrap();
    fs::write(d.path().join("a/b/data"), vec![1u8; 500]).unwrap();
    symlink("../..", d.path().join("a/b/up")).unwrap();
    symlink("loop", d.path().join("loop")).unwrap();
    symlink("/", d.path().join("root")).unwrap();
    symlink(d.path().join("a"), d.path().join("a/b/again")).unwrap();
    let doc = report_dir(d.path());
    let e = &doc["entries"][0];
    assert_eq!(e["content"]["files"], 5);
    let links = "../..".len() + "loop".len() + "/".len() + d.path().join("a").as_os_str().len();
    assert_eq!(e["disk_bytes"], 500 + links as u64);
    assert_eq!(e["content"]["error"], Value::Null);
}

/// Removes what the walk has just listed, before the walk gets to it: a directory
/// named `doomed` and an archive named `doomed-1.0.0.crate`.
struct Vandal;

impl detectors::Detector for Vandal {
    fn name(&self) -> &'static str {
        "vandal"
    }
    fn visit(&self, dir: &detectors::DirView<'_>, _: &mut detectors::Found) {
        if dir.child("doomed").is_some() {
            fs::remove_dir_all(dir.abs.join("doomed")).unwrap();
        }
        if dir.child("doomed-1.0.0.crate").is_some() {
            fs::remove_file(dir.abs.join("doomed-1.0.0.crate")).unwrap();
        }
    }
}

#[test]
fn directories_and_files_vanishing_mid_walk_are_simply_gone() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    fs::create_dir_all(root.join("doomed/a/b")).unwrap();
    fs::write(root.join("doomed/a/b/f"), vec![0u8; 999]).unwrap();
    fs::create_dir_all(root.join("keep")).unwrap();
    fs::write(root.join("keep/f"), vec![0u8; 10]).unwrap();
    let cache = root.join("registry/cache/index.crates.io-1949cf8c6b5b557f");
    fs::create_dir_all(&cache).unwrap();
    // Not an archive: the check would call it corrupt, had it not vanished first.
    fs::write(cache.join("doomed-1.0.0.crate"), b"garbage").unwrap();
    let src = root.join("registry/src/index.crates.io-1949cf8c6b5b557f");
    fs::create_dir_all(src.join("doomed")).unwrap();

    // Cargo lists the archive and schedules its check; the vandal then removes it.
    let s = scan::scan_dir(root, root, &[&detectors::cargo::Cargo, &Vandal]).unwrap();
    assert_eq!(s.partial_error, None, "vanishing is not an error");
    assert_eq!(s.unreadable, 0);
    assert!(s.parts.is_empty(), "{:?}", s.parts);
    // `keep/f` and the archive were counted when listed; `doomed/a/b/f` never was.
    assert_eq!(s.files, 2);
    assert_eq!(s.disk_bytes, 10 + 7);
    assert!(!root.join("doomed").exists());
}

#[test]
fn scans_survive_a_tree_that_keeps_changing() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().to_path_buf();
    fs::write(root.join("steady"), vec![0u8; 4096]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let top = root.join(format!("churn-{}", n % 4));
                let deep = top.join("a/b/c/d");
                let _ = fs::create_dir_all(&deep);
                for i in 0..20 {
                    let _ = fs::write(deep.join(format!("f{i}")), b"x");
                }
                let _ = fs::remove_dir_all(&top);
                n += 1;
            }
        })
    };
    for _ in 0..200 {
        let s = scan::scan_dir(&root, &root, detectors::all()).expect("the root stays");
        assert!(s.disk_bytes >= 4096);
        assert_eq!(s.partial_error, None, "{:?}", s.partial_error);
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
}

#[test]
fn a_huge_flat_directory_is_walked() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("_cacache/tmp");
    fs::create_dir_all(&dir).unwrap();
    for i in 0..30_000 {
        fs::write(dir.join(format!("w{i:05}")), b"ab").unwrap();
    }
    let s = scan::scan_dir(d.path(), Path::new("/root/.npm"), detectors::all()).unwrap();
    assert_eq!(s.files, 30_000);
    assert_eq!(s.disk_bytes, 60_000);
    assert_eq!(s.parts.len(), 30_000);
    assert!(
        s.parts
            .iter()
            .all(|p| p.finding.kind == "npm.interrupted_write" && p.finding.bytes == 2)
    );
}
