//! Cache ids from a real `metadata_v2.db`: the isolated test daemon (dockerd 20.10)
//! builds two `/build/target` cache mounts with `id=target-api` and `id=target-web`,
//! whose descriptions carry no id, and cachetop reads each record's id from BuildKit's
//! metadata, from a copy taken while the daemon runs and from the live file (whose lock
//! dockerd holds). Damaged and truncated copies give an error or a subset of the truth,
//! never a wrong id and never a panic.

use crate::common;

use std::collections::HashMap;
use std::path::PathBuf;

use cachetop::sources::buildkit::{CacheId, cache_ids_in, metadata_path, read_cache_ids};
use common::*;
use serde_json::Value;

fn root_dir() -> PathBuf {
    PathBuf::from(api_get("/v1.41/info")["DockerRootDir"].as_str().unwrap())
}

/// The two mounts of `/build/target` (built now if this daemon never built them), and
/// the records of every cache mount.
fn cache_mount_records(tag: &str) -> Vec<Value> {
    build(&format!(
        "FROM {BASE_IMAGE}\n\
         RUN --mount=type=cache,id=target-api,target=/build/target echo {tag} > /build/target/api\n\
         RUN --mount=type=cache,id=target-web,target=/build/target echo {tag} > /build/target/web\n\
         RUN --mount=type=cache,target=/root/.npm echo {tag} > /root/.npm/n\n"
    ));
    // Settled: the records a moment after the build are the ones the file holds.
    let _ = api_mount_record("/root/.npm");
    api_records()
        .into_iter()
        .filter(|r| r["Type"] == "exec.cachemount")
        .collect()
}

fn by_target<'a>(records: &'a [Value], target: &str) -> Vec<&'a Value> {
    let prefix = format!("cached mount {target} from exec");
    records
        .iter()
        .filter(|r| r["Description"].as_str().unwrap().starts_with(&prefix))
        .collect()
}

fn truth() -> (HashMap<String, CacheId>, Vec<Value>, Vec<u8>) {
    let _lock = deletion_lock();
    let records = cache_mount_records(&unique("meta"));
    let live = metadata_path(&root_dir());
    // A copy taken while the daemon runs, as cachetop would read it.
    let bytes = std::fs::read(&live).unwrap();
    let ids = cache_ids_in(bytes.clone()).unwrap();
    (ids, records, bytes)
}

#[test]
fn each_build_target_mount_gets_its_own_id_from_the_metadata() {
    let (ids, records, _) = truth();
    let targets = by_target(&records, "/build/target");
    assert!(targets.len() >= 2, "{targets:?}");
    let mut seen = Vec::new();
    for r in &targets {
        let d = r["Description"].as_str().unwrap();
        assert!(
            !d.contains(" with id "),
            "dockerd 20.10 leaves the id out: {d}"
        );
        let id = &ids[r["ID"].as_str().unwrap()];
        seen.push(id.dockerfile().to_string());
        assert_eq!(id.llb, format!("/{}", id.dockerfile()));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["target-api", "target-web"], "two ids, one each");
    // A mount without an id is keyed by its target.
    for r in by_target(&records, "/root/.npm") {
        assert_eq!(ids[r["ID"].as_str().unwrap()].dockerfile(), "/root/.npm");
    }
    // Only cache mounts have one.
    let all = api_records();
    for rec in ids.keys() {
        if let Some(r) = all.iter().find(|r| r["ID"] == rec.as_str()) {
            assert_eq!(r["Type"], "exec.cachemount", "{rec}");
        }
    }
}

#[test]
fn the_live_file_is_read_without_its_lock_and_left_as_it_was() {
    let (ids, _, _) = truth();
    let live = metadata_path(&root_dir());
    // dockerd holds the file's lock: a reader that took it would wait forever.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = live.clone();
    std::thread::spawn(move || tx.send(read_cache_ids(&path)));
    let read = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the live file is read while dockerd holds it")
        .unwrap();
    for (rec, id) in &ids {
        if let Some(now) = read.get(rec) {
            assert_eq!(now, id);
        }
    }
    assert_eq!(
        std::fs::read_dir(live.parent().unwrap())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("metadata_v2.db"))
            .count(),
        1,
        "nothing written beside it"
    );
}

/// A damaged copy reads as an error or as a subset of the truth, never a wrong id.
fn check_damaged(what: &str, bytes: Vec<u8>, truth: &HashMap<String, CacheId>) -> bool {
    match cache_ids_in(bytes) {
        Ok(found) => {
            for (rec, id) in &found {
                assert_eq!(truth.get(rec), Some(id), "{what}: {rec} got a wrong id");
            }
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn truncated_copies_fail_or_give_a_subset_never_a_wrong_id() {
    let (ids, _, bytes) = truth();
    let mut errors = 0;
    for len in [
        0,
        1,
        100,
        4095,
        4096,
        8191,
        8192,
        12288,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let len = len.min(bytes.len());
        if !check_damaged(&format!("cut at {len}"), bytes[..len].to_vec(), &ids) {
            errors += 1;
        }
    }
    assert!(errors > 0, "a cut file is noticed");
}

#[test]
fn flipped_bytes_and_zeroed_pages_never_give_a_wrong_id() {
    let (ids, _, bytes) = truth();
    let page = 4096;
    // About 4,000 flips spread over the whole file, whatever its size: the daemon's
    // metadata grows with every build the suite has made (2 MiB is about 160,000
    // positions at a stride of 13, which took many minutes). The stride stays odd, so
    // the flips fall at every offset within a page across the file.
    let stride = (bytes.len() / 4000).max(13) | 1;
    for i in (0..bytes.len()).step_by(stride) {
        let mut b = bytes.clone();
        b[i] ^= 0xff;
        check_damaged(&format!("byte {i} flipped"), b, &ids);
    }
    for p in 0..bytes.len() / page {
        let mut b = bytes.clone();
        b[p * page..(p + 1) * page].fill(0);
        check_damaged(&format!("page {p} zeroed"), b, &ids);
    }
}

#[test]
fn a_file_that_is_not_bbolt_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metadata_v2.db");
    std::fs::write(&path, b"SQLite format 3\0".repeat(512)).unwrap();
    let e = read_cache_ids(&path).unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert!(e.to_string().contains("not a bbolt database"), "{e}");
}

#[test]
fn the_report_gives_each_build_target_mount_its_own_cache_id() {
    let (ids, records, _) = truth();
    let out = cachetop_on_daemon()
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let mut seen = Vec::new();
    for r in by_target(&records, "/build/target") {
        let id = r["ID"].as_str().unwrap();
        let e = entry(&doc, id);
        assert_eq!(e["mount_target"], "/build/target");
        assert_eq!(e["cache_id"], ids[id].dockerfile(), "{id}");
        seen.push(e["cache_id"].as_str().unwrap().to_string());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["target-api", "target-web"]);
    // A mount keyed by its own target was given no id, and none is invented.
    for r in by_target(&records, "/root/.npm") {
        assert_eq!(
            entry(&doc, r["ID"].as_str().unwrap())["cache_id"],
            Value::Null
        );
    }
    let details = &doc["sources"][0]["details"];
    assert!(
        details["cache_ids"]
            .as_str()
            .unwrap()
            .contains("metadata_v2.db"),
        "{details:#}"
    );
}
