//! One prune at a time, and never what a running build uses: two prunes started
//! together run one after the other (the second plans from what the first left), a
//! prune told not to wait refuses, and a budget prune during a build that holds a
//! cache mount leaves that mount and the build succeeds.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The binary as `cachetop()` sets it up, as a plain child process.
fn spawn(lock_dir: &Path, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("cachetop"))
        .env_remove("DOCKER_HOST")
        .env("CACHETOP_NO_BUILDERS", "1")
        .env("XDG_CONFIG_HOME", "/nonexistent-cachetop-config")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .env("CACHETOP_LOCK_DIR", lock_dir)
        .args(["--host", &daemon().host])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Makes the lock file with a dry run, and returns its path.
fn lock_file(lock_dir: &Path) -> PathBuf {
    let out = cachetop_on_daemon()
        .env("CACHETOP_LOCK_DIR", lock_dir)
        .args(["prune", "--id", "no-such-id", "--dry-run"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    let files: Vec<PathBuf> = std::fs::read_dir(lock_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn ids(doc: &Value, key: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_prunes_started_together_run_one_after_the_other() {
    let _lock = deletion_lock();
    let (ta, a) = built_mount("together-a");
    let (tb, b) = built_mount("together-b");
    let dir = tempfile::tempdir().unwrap();
    // Another prune (this test) holds the lock while both start.
    let held = std::fs::File::options()
        .read(true)
        .write(true)
        .open(lock_file(dir.path()))
        .unwrap();
    held.lock().unwrap();
    let args = [
        "prune",
        "--mount-target",
        &ta,
        "--mount-target",
        &tb,
        "--max-used",
        "0B",
        "--yes",
        "--json",
    ];
    let mut first = spawn(dir.path(), &args);
    let mut second = spawn(dir.path(), &args);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        first.try_wait().unwrap().is_none(),
        "a prune ran while another held the lock"
    );
    assert!(
        second.try_wait().unwrap().is_none(),
        "a prune ran while another held the lock"
    );
    assert!(api_record(&a).is_some() && api_record(&b).is_some());
    held.unlock().unwrap();

    let outs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let docs: Vec<Value> = outs
        .iter()
        .map(|o| {
            assert!(o.status.success(), "{}", text(&o.stderr));
            assert!(
                text(&o.stderr).contains("another cachetop prune is running on this machine"),
                "{}",
                text(&o.stderr)
            );
            json_of(o)
        })
        .collect();
    // One planned and deleted both; the other, planning only after, found nothing
    // left to plan. Interleaved, both would have planned them, and one would report
    // them gone under its feet.
    let (did, after): (Vec<&Value>, Vec<&Value>) = docs
        .iter()
        .partition(|d| !d["planned"].as_array().unwrap().is_empty());
    assert_eq!(did.len(), 1, "{docs:#?}");
    let mut deleted = ids(did[0], "deleted");
    deleted.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(deleted, want);
    assert!(ids(did[0], "skipped").is_empty(), "{:#}", did[0]);
    assert_eq!(after[0]["planned"], serde_json::json!([]));
    assert_eq!(after[0]["skipped"], serde_json::json!([]));
    assert!(api_record(&a).is_none() && api_record(&b).is_none());
}

#[test]
fn no_wait_refuses_while_another_prune_runs_and_deletes_nothing() {
    let _lock = deletion_lock();
    let (target, id) = built_mount("nowait");
    let dir = tempfile::tempdir().unwrap();
    let held = std::fs::File::options()
        .read(true)
        .write(true)
        .open(lock_file(dir.path()))
        .unwrap();
    held.lock().unwrap();
    let out = cachetop_on_daemon()
        .env("CACHETOP_LOCK_DIR", dir.path())
        .args(["prune", "--mount-target", &target, "--yes", "--no-wait"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not waiting (--no-wait)"),
        "{}",
        text(&out.stderr)
    );
    assert!(api_record(&id).is_some());
    // A bounded wait gives up the same way.
    let out = cachetop_on_daemon()
        .env("CACHETOP_LOCK_DIR", dir.path())
        .args(["prune", "--mount-target", &target, "--yes", "--wait", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("after waiting 1s"),
        "{}",
        text(&out.stderr)
    );
    assert!(api_record(&id).is_some());
    drop(held);
}

#[test]
fn a_budget_prune_during_a_build_keeps_its_cache_mount_and_the_build_succeeds() {
    let _lock = deletion_lock();
    let (old_target, old) = built_mount("during-old");
    let busy = format!("/cache/{}", unique("during-busy"));
    let dockerfile = format!(
        "FROM {BASE_IMAGE}\nRUN --mount=type=cache,target={busy} sh -c 'head -c 70000 /dev/zero > {busy}/data && sleep 8'\n"
    );
    let build = std::thread::spawn(move || try_build(&dockerfile));
    // Wait until the daemon lists the mount as in use.
    let start = Instant::now();
    let busy_id = loop {
        let found = api_records().into_iter().find(|r| {
            r["InUse"] == true
                && r["Description"]
                    .as_str()
                    .is_some_and(|d| d.contains(&format!("cached mount {busy} ")))
        });
        if let Some(r) = found {
            break r["ID"].as_str().unwrap().to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the build never mounted {busy}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = cachetop_on_daemon()
        .args([
            "prune",
            "--mount-target",
            &old_target,
            "--mount-target",
            &busy,
        ])
        .args(["--max-used", "0B", "--yes", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(ids(&doc, "deleted"), vec![old.clone()]);
    let kept = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == busy_id.as_str())
        .unwrap_or_else(|| panic!("the busy mount is not listed as kept: {doc:#}"));
    assert_eq!(kept["reason"], "in use");
    // What the budget can still count of it (a mount in use may report 0 B until
    // its build ends) remains in the projection: it is never planned.
    let after = doc["budget"]["max_used"]["after_bytes"].as_u64().unwrap();
    assert_eq!(
        after,
        doc["budget"]["max_used"]["before_bytes"].as_u64().unwrap() - 40_000
    );

    let built = build.join().unwrap();
    assert!(
        built.status.success(),
        "the build failed:\n{}",
        text(&built.stderr)
    );
    assert!(api_record(&busy_id).is_some(), "the busy mount was deleted");
    assert!(api_record(&old).is_none());
}
