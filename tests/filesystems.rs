//! The disk context of `report`: the filesystems that hold the isolated daemon's root
//! dir and a `--dir` on a small tmpfs, with the figures `df` gives for the same paths
//! and "reclaimable now" equal to what the stale eviction plans there.

use crate::common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::tmpfs::{Tmpfs, df};
use common::*;
use serde_json::Value;

fn filesystem_of<'a>(doc: &'a Value, source: &str) -> &'a Value {
    doc["filesystems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["sources"].as_array().unwrap().iter().any(|s| s == source))
        .unwrap_or_else(|| panic!("no filesystem holds {source}: {:#}", doc["filesystems"]))
}

#[test]
fn a_tmpfs_dir_is_its_own_filesystem_with_dfs_figures_and_what_eviction_frees() {
    let fs = Tmpfs::mount(8 << 20);
    fs.file("cache/old.bin", 1 << 20, 30);
    let cache = fs.path().join("cache");
    common::tmpfs::age(&cache, 30);
    let dir = cache.to_str().unwrap();

    let out = cachetop()
        .args(["--no-docker", "--dir", dir, "report", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let f = filesystem_of(&doc, dir);
    let (target, size, used, avail) = df(&cache);
    assert_eq!(f["path"], target.to_str().unwrap());
    assert_eq!(
        f["path"],
        fs.path().to_str().unwrap(),
        "the tmpfs is mounted there"
    );
    assert_eq!(f["size_bytes"], size);
    assert_eq!(f["used_bytes"], used);
    assert_eq!(f["free_bytes"], avail);
    assert_eq!(f["device"], std::fs::metadata(&cache).unwrap().dev());
    assert_eq!(doc["filesystems"].as_array().unwrap().len(), 1);

    // Reclaimable now: exactly what `prune --stale` plans there.
    let e = entry(&doc, ".");
    assert!(flags(e).contains(&"stale"), "{e:#}");
    assert!(e["effective_bytes"].as_u64().unwrap() >= 1 << 20);
    assert_eq!(f["reclaimable_bytes"], e["effective_bytes"]);
    let plan = cachetop()
        .args([
            "--no-docker",
            "--dir",
            dir,
            "prune",
            "--stale",
            "--dry-run",
            "--json",
        ])
        .output()
        .unwrap();
    let planned: u64 = json_of(&plan)["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(f["reclaimable_bytes"], planned);

    // The table says the same in one line.
    let table = cachetop()
        .args(["--no-docker", "--dir", dir, "report"])
        .output()
        .unwrap();
    let t = text(&table.stdout);
    let line = t
        .lines()
        .find(|l| l.starts_with(&format!("filesystem {}:", fs.path().display())))
        .unwrap_or_else(|| panic!("no filesystem line:\n{t}"));
    let size_text = cachetop::units::format_size(size);
    assert!(line.contains(&format!(": {size_text}, ")), "{line}");
    assert!(line.contains("reclaimable now"), "{line}");
}

#[test]
fn a_fresh_dir_has_nothing_reclaimable() {
    let fs = Tmpfs::mount(4 << 20);
    fs.file("cache/new.bin", 100_000, 0);
    let dir = fs.path().join("cache");
    let out = cachetop()
        .args([
            "--no-docker",
            "--dir",
            dir.to_str().unwrap(),
            "report",
            "--json",
        ])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let f = filesystem_of(&doc, dir.to_str().unwrap());
    assert_eq!(f["reclaimable_bytes"], 0);
    assert!(f["free_bytes"].as_u64().unwrap() < 4 << 20);
}

#[test]
fn the_local_daemons_root_dir_is_on_the_filesystem_df_names() {
    let root = api_get("/info")["DockerRootDir"]
        .as_str()
        .unwrap()
        .to_string();
    let out = cachetop_on_daemon()
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let f = filesystem_of(&doc, &daemon().host);
    let (target, size, _, avail) = df(Path::new(&root));
    assert_eq!(f["path"], target.to_str().unwrap());
    assert_eq!(f["size_bytes"], size);
    assert_eq!(f["device"], std::fs::metadata(&root).unwrap().dev());
    // Other work on this machine writes meanwhile: free space moves a little.
    let free = f["free_bytes"].as_u64().unwrap();
    assert!(free.abs_diff(avail) < 512 << 20, "{free} vs df {avail}");
    assert!(f["used_bytes"].as_u64().unwrap() <= size);
    // What the stale eviction plans on it, counted from the same document.
    let stale_plan = cachetop_on_daemon()
        .args(["prune", "--stale", "--dry-run", "--json"])
        .output()
        .unwrap();
    let planned: u64 = json_of(&stale_plan)["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(f["reclaimable_bytes"], planned);
}
