//! `prune --max-used` and `--keep-free` on real parts: cache-mount records of known
//! sizes built in sequence on the isolated daemon (so their order of last use is
//! known), and `--dir` caches on a small tmpfs whose free space the test controls.
//! The documents are checked against the published schema too.

use crate::common;

use std::path::Path;

use common::tmpfs::{Tmpfs, df};
use common::*;
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prune.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(doc: &Value) {
    let v = validator();
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// (id, size_bytes) of each planned item, in order.
fn planned(doc: &Value) -> Vec<(String, u64)> {
    doc["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["size_bytes"].as_u64().unwrap(),
            )
        })
        .collect()
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
fn max_used_deletes_exactly_the_least_recently_used_and_the_dry_run_plans_the_same() {
    let _lock = deletion_lock();
    // Built oldest first: the smallest is the least recently used, so a plan by
    // size (largest first) would pick another.
    let mut made = Vec::new();
    for (tag, bytes) in [("lru-a", 100_000), ("lru-b", 200_000), ("lru-c", 300_000)] {
        let target = format!("/cache/{}", unique(tag));
        build(&cache_mount_dockerfile(&target, bytes));
        let id = api_mount_record(&target)["ID"]
            .as_str()
            .unwrap()
            .to_string();
        made.push((target, id));
        // LastUsedAt must differ between the records.
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let select: Vec<&str> = made
        .iter()
        .flat_map(|(t, _)| ["--mount-target", t.as_str()])
        .collect();
    // 600 kB of candidates, 350 kB allowed: the oldest (100 kB) and the next
    // (200 kB) go; the newest stays.
    let run = |extra: &[&str]| {
        let out = cachetop_on_daemon()
            .args(["prune"])
            .args(&select)
            .args(["--max-used", "350kB", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert!(out.status.success(), "{}", text(&out.stderr));
        json_of(&out)
    };
    let dry = run(&["--dry-run"]);
    assert_valid(&dry);
    let want = vec![(made[0].1.clone(), 100_000), (made[1].1.clone(), 200_000)];
    assert_eq!(planned(&dry), want);
    let reasons: Vec<&str> = dry["planned"][0]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let last = reasons.last().unwrap();
    assert!(last.starts_with("least recently used: "), "{reasons:?}");
    assert!(
        last.ends_with("frees 100 kB; 250 kB over budget before it"),
        "{last}"
    );
    assert!(
        dry["planned"][1]["reasons"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .ends_with("frees 200 kB; 150 kB over budget before it"),
        "{:#}",
        dry["planned"][1]
    );
    assert_eq!(dry["budget"]["max_used"]["before_bytes"], 600_000);
    assert_eq!(dry["budget"]["max_used"]["after_bytes"], 300_000);
    assert_eq!(dry["budget"]["met"], true);
    for (_, id) in &made {
        assert!(api_record(id).is_some(), "a dry run deleted {id}");
    }

    let real = run(&["--yes"]);
    assert_valid(&real);
    assert_eq!(planned(&real), want, "the real run planned otherwise");
    assert_eq!(real["budget"], dry["budget"]);
    assert_eq!(deleted(&real), vec![made[0].1.clone(), made[1].1.clone()]);
    assert!(api_record(&made[0].1).is_none());
    assert!(api_record(&made[1].1).is_none());
    assert!(
        api_record(&made[2].1).is_some(),
        "the most recently used went"
    );

    // Within budget now: nothing more goes.
    let again = run(&["--yes"]);
    assert!(planned(&again).is_empty());
    assert!(api_record(&made[2].1).is_some());
}

/// A plain directory cache of `bytes`, last modified `days` ago.
fn dir_cache(fs: &Tmpfs, name: &str, bytes: usize, days: u64) -> String {
    fs.file(&format!("{name}/data.bin"), bytes, days);
    let dir = fs.path().join(name);
    common::tmpfs::age(&dir, days);
    dir.to_str().unwrap().to_string()
}

fn dir_args(dirs: &[&str]) -> Vec<String> {
    dirs.iter()
        .flat_map(|d| ["--dir".to_string(), d.to_string()])
        .collect()
}

#[test]
fn keep_free_deletes_the_oldest_on_the_full_filesystem_only() {
    const MIB: usize = 1 << 20;
    let full = Tmpfs::mount(10 * MIB as u64);
    let oldest = dir_cache(&full, "oldest", 2 * MIB, 30);
    let older = dir_cache(&full, "older", 2 * MIB, 20);
    let newer = dir_cache(&full, "newer", 2 * MIB, 10);
    full.file("not-a-cache/filler.bin", 2 * MIB, 0);
    // The least recently used of all, on a filesystem with room to spare.
    let roomy = Tmpfs::mount(10 * MIB as u64);
    let elsewhere = dir_cache(&roomy, "ancient", MIB, 90);
    let dirs = dir_args(&[&oldest, &older, &newer, &elsewhere]);
    let (_, _, _, free_before) = df(&full.path());
    assert!(free_before < 3 * MIB as u64, "{free_before}");

    let cfg = tempfile::tempdir().unwrap();
    let config = cfg.path().join("config.toml");
    std::fs::write(&config, "keep_free = \"5MiB\"\n").unwrap();
    let run = |extra: &[&str]| {
        let out = cachetop()
            .arg("--no-docker")
            .args(["--config", config.to_str().unwrap()])
            .args(&dirs)
            .args(["prune", "--budget", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert!(out.status.success(), "{}", text(&out.stderr));
        json_of(&out)
    };
    let dry = run(&["--dry-run"]);
    assert_valid(&dry);
    let ids: Vec<&str> = dry["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["source_name"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![oldest.as_str(), older.as_str()], "{dry:#}");
    assert_eq!(dry["budget"]["keep_free_bytes"], 5 * MIB);
    let on_full = dry["budget"]["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == full.path().to_str().unwrap())
        .unwrap()
        .clone();
    assert_eq!(on_full["free_before_bytes"], free_before);
    assert_eq!(on_full["met"], true);
    assert!(on_full["free_after_bytes"].as_u64().unwrap() >= 5 * MIB as u64);
    assert!(
        dry["planned"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains(&format!(
                "short of the free-space floor on {}",
                full.path().display()
            )),
        "{:#}",
        dry["planned"][0]
    );

    let real = run(&["--yes"]);
    // Ages in reasons are whole days here, so the plans are equal as written.
    assert_eq!(real["planned"], dry["planned"]);
    assert_eq!(deleted(&real).len(), 2);
    let (_, _, _, free_after) = df(&full.path());
    assert!(free_after >= 5 * MIB as u64, "free after: {free_after}");
    assert!(!Path::new(&oldest).join("data.bin").exists());
    assert!(!Path::new(&older).join("data.bin").exists());
    assert!(
        Path::new(&newer).join("data.bin").exists(),
        "more went than needed"
    );
    assert!(
        Path::new(&elsewhere).join("data.bin").exists(),
        "a roomy filesystem was pruned"
    );
    assert!(full.path().join("not-a-cache/filler.bin").exists());
}

#[test]
fn a_floor_that_cannot_be_met_says_so_and_deletes_what_it_can() {
    const MIB: usize = 1 << 20;
    let fs = Tmpfs::mount(4 * MIB as u64);
    let cache = dir_cache(&fs, "c", MIB, 15);
    fs.file("other/big.bin", 2 * MIB, 0);
    let out = cachetop()
        .args(["--no-docker", "--dir", &cache])
        .args(["prune", "--keep-free", "90%", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("Plan: delete 1 entry"), "{t}");
    assert!(t.contains("least recently used: 15d"), "{t}");
    assert!(
        t.contains("Budget not met: --keep-free 90% cannot be met on"),
        "{t}"
    );
    assert!(t.contains("(not met)"), "{t}");
}

#[test]
fn a_budget_needs_a_value_and_bad_ones_are_usage_errors() {
    for args in [
        &["prune", "--budget"][..],
        &["prune", "--keep-free", "150%"],
        &["prune", "--max-used", "lots"],
    ] {
        let out = cachetop().arg("--no-docker").args(args).output().unwrap();
        assert_no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}
