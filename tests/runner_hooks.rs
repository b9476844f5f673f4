//! The runner integration shipped in assets/: the GitHub Actions job-started hook and
//! the act_runner script, run as they are against the isolated daemon (and a small
//! tmpfs `--dir`), delete exactly the least recently used caches their budget needs;
//! both are shellcheck-clean, and the systemd units pass `systemd-analyze verify`.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::tmpfs::{Tmpfs, df};
use common::*;
use serde_json::Value;

fn asset(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(rel)
}

/// shellcheck and systemd-analyze, installed by the project's script when missing.
fn tools() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-hook-tools.sh");
        let out = Command::new("bash").arg(script).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    });
}

/// Runs a hook script with only the environment a runner would give it.
fn hook(script: &str, env: &[(&str, &str)]) -> Output {
    let lock = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(asset(script));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("CACHETOP_BIN", assert_cmd::cargo::cargo_bin("cachetop"))
        .env("DOCKER_HOST", &daemon().host)
        .env("CACHETOP_NO_BUILDERS", "1")
        .env("XDG_CONFIG_HOME", "/nonexistent-cachetop-config")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .env("CACHETOP_LOCK_DIR", lock.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_no_panic(&out);
    out
}

fn deleted(doc: &Value) -> Vec<String> {
    doc["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_github_job_started_hook_deletes_the_least_recently_used_the_budget_needs() {
    let _lock = deletion_lock();
    let mut made = Vec::new();
    for tag in ["hook-old", "hook-new"] {
        let target = format!("/cache/{}", unique(tag));
        build(&cache_mount_dockerfile(&target, 60_000));
        let id = api_mount_record(&target)["ID"]
            .as_str()
            .unwrap()
            .to_string();
        made.push((target, id));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let selectors = format!("--mount-target {} --mount-target {}", made[0].0, made[1].0);
    let out = hook(
        "hooks/github-runner-job-started.sh",
        &[
            // The daemon's disk has room: only the size budget asks for anything.
            ("CACHETOP_KEEP_FREE", "0B"),
            ("CACHETOP_MAX_USED", "70kB"),
            ("CACHETOP_PRUNE_ARGS", &selectors),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["schema"], "cachetop.prune.v1");
    assert_eq!(deleted(&doc), vec![made[0].1.clone()]);
    assert!(api_record(&made[0].1).is_none());
    assert!(
        api_record(&made[1].1).is_some(),
        "the recently used cache went"
    );

    // A prune that fails does not fail the job unless asked to.
    let broken = [("CACHETOP_KEEP_FREE", "lots")];
    assert!(
        hook("hooks/github-runner-job-started.sh", &broken)
            .status
            .success()
    );
    let strict = [("CACHETOP_KEEP_FREE", "lots"), ("CACHETOP_STRICT", "1")];
    assert_eq!(
        hook("hooks/github-runner-job-started.sh", &strict)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn the_act_runner_script_keeps_the_floor_on_the_filesystem_that_lacks_it() {
    const MIB: usize = 1 << 20;
    let fs = Tmpfs::mount(8 * MIB as u64);
    let mut dirs = Vec::new();
    for (name, days) in [("old", 20), ("new", 2)] {
        fs.file(&format!("{name}/data.bin"), 3 * MIB, days);
        let d = fs.path().join(name);
        common::tmpfs::age(&d, days);
        dirs.push(d.to_str().unwrap().to_string());
    }
    let global = format!("--dir {} --dir {}", dirs[0], dirs[1]);
    let out = hook(
        "hooks/act-runner-keep-free.sh",
        &[
            ("CACHETOP_KEEP_FREE", "40%"),
            ("CACHETOP_GLOBAL_ARGS", &global),
            ("CACHETOP_PRUNE_ARGS", "--source dir"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let planned: Vec<&str> = doc["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["source_name"].as_str().unwrap())
        .collect();
    assert_eq!(planned, vec![dirs[0].as_str()], "{doc:#}");
    assert_eq!(deleted(&doc).len(), 1);
    assert!(!Path::new(&dirs[0]).join("data.bin").exists());
    assert!(Path::new(&dirs[1]).join("data.bin").exists());
    let (_, size, _, avail) = df(&fs.path());
    assert!(avail * 100 >= size * 40, "{avail} of {size} free");
}

#[test]
fn the_hook_scripts_are_shellcheck_clean() {
    tools();
    for script in [
        "hooks/github-runner-job-started.sh",
        "hooks/act-runner-keep-free.sh",
    ] {
        let out = Command::new("shellcheck")
            .arg(asset(script))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    tools();
    let dir = tempfile::tempdir().unwrap();
    // The binary where the unit expects it, here the one just built.
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let service = std::fs::read_to_string(asset("systemd/cachetop-prune.service")).unwrap();
    assert!(
        service
            .contains("ExecStart=/usr/local/bin/cachetop prune --keep-free ${CACHETOP_KEEP_FREE}")
    );
    let service = service.replace("/usr/local/bin/cachetop", bin.to_str().unwrap());
    std::fs::write(dir.path().join("cachetop-prune.service"), service).unwrap();
    std::fs::copy(
        asset("systemd/cachetop-prune.timer"),
        dir.path().join("cachetop-prune.timer"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("cachetop-prune.service"))
        .arg(dir.path().join("cachetop-prune.timer"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // verify only warns about unknown keys and bad dependencies: none allowed.
    assert_eq!(text(&out.stderr).trim(), "", "systemd-analyze warned");
}
