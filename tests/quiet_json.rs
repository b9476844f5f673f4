//! With `--json`, `prune` and `repair` keep stdout for the document and stderr for
//! warnings and errors only: a clean run writes nothing on stderr, and the document
//! is the same as before.

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

fn assert_quiet(what: &str, out: &std::process::Output) -> Value {
    assert_no_panic(out);
    assert!(out.status.success(), "{what}: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "{what}: stderr is not quiet");
    json_of(out)
}

#[test]
fn prune_json_prints_the_document_and_nothing_else() {
    let _lock = deletion_lock();
    let target = format!("/cache/{}", unique("quiet"));
    build(&cache_mount_dockerfile(&target, 20_000));
    let id = api_mount_record(&target)["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let run = |mode: &str| {
        cachetop_on_daemon()
            .args(["prune", "--mount-target", &target, mode, "--json"])
            .output()
            .unwrap()
    };

    let dry = assert_quiet("prune --dry-run --json", &run("--dry-run"));
    assert_eq!(dry["schema"], "cachetop.prune.v1");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["planned"][0]["id"], id.as_str());
    assert_eq!(dry["planned"][0]["size_bytes"], 20_000);
    assert_eq!(dry["deleted"], json!([]));
    assert!(api_record(&id).is_some());

    let real = assert_quiet("prune --yes --json", &run("--yes"));
    assert_eq!(real["dry_run"], false);
    assert_eq!(real["planned"], dry["planned"], "the same plan");
    assert_eq!(
        real["equivalent_commands"], dry["equivalent_commands"],
        "the same commands"
    );
    assert_eq!(real["deleted"], json!([{"source": "docker", "id": id}]));
    assert_eq!(real["reclaimed_bytes"], 20_000);
    assert!(api_record(&id).is_none());

    // Without --json the plan and the steps are still there for people.
    let target = format!("/cache/{}", unique("loud"));
    build(&cache_mount_dockerfile(&target, 20_000));
    api_mount_record(&target);
    let out = cachetop_on_daemon()
        .args(["prune", "--mount-target", &target, "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Plan: delete 1 entry"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("deleting docker"));
}

/// A cargo home with one half-extracted crate.
fn half_extracted_home(root: &Path) -> (PathBuf, PathBuf) {
    let home = root.join("cargo-home");
    let krate = home.join("registry/src/index.crates.io-1949cf8c6b5b557f/half-1.0.0");
    std::fs::create_dir_all(krate.join("src")).unwrap();
    std::fs::write(krate.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
    (home, krate)
}

#[test]
fn repair_json_prints_the_document_and_nothing_else() {
    let root = tempfile::tempdir().unwrap();
    let (home, krate) = half_extracted_home(root.path());
    let run = |mode: &str| {
        cachetop()
            .args(["--no-docker", "--dir"])
            .arg(&home)
            .args(["repair", "registry/src", mode, "--json"])
            .output()
            .unwrap()
    };

    let dry = assert_quiet("repair --dry-run --json", &run("--dry-run"));
    assert_eq!(dry["schema"], "cachetop.repair.v1");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["planned"][0]["id"], "registry/src");
    assert!(krate.is_dir());

    let real = assert_quiet("repair --yes --json", &run("--yes"));
    assert_eq!(real["dry_run"], false);
    assert_eq!(real["planned"], dry["planned"], "the same plan");
    assert_eq!(real["removed"].as_array().unwrap().len(), 1, "{real:#}");
    assert!(!krate.exists(), "the half-extracted crate is still there");
}

#[test]
fn errors_and_warnings_still_reach_stderr_with_json() {
    let root = tempfile::tempdir().unwrap();
    let (home, krate) = half_extracted_home(root.path());
    // A daemon that is not there fails its source; the cargo home still answers.
    let out = cachetop()
        .args([
            "--host",
            "unix:///nonexistent-cachetop/docker.sock",
            "--dir",
        ])
        .arg(&home)
        .args(["prune", "--id", "nosuchentry", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    let err = text(&out.stderr);
    assert!(err.contains("nonexistent-cachetop"), "{err}");
    assert!(
        err.contains("cachetop: warning: nosuchentry: no entry has this id"),
        "{err}"
    );
    assert!(!err.contains("Plan") && !err.contains("Dry run"), "{err}");
    assert_eq!(json_of(&out)["schema"], "cachetop.prune.v1");
    assert!(krate.is_dir());
}
