//! `cachetop report` against the isolated daemon, checked against the daemon's own API.

use crate::common;

use std::collections::HashMap;

use common::*;
use serde_json::Value;

fn report_json() -> Value {
    let out = cachetop_on_daemon()
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json_of(&out)
}

#[test]
fn lists_every_record_the_api_lists_with_the_same_sizes() {
    let target = format!("/cache/{}", unique("one-for-one"));
    build(&cache_mount_dockerfile(&target, 200_000));

    let before = api_records();
    let doc = report_json();
    let after = api_records();

    let reported: HashMap<&str, &Value> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    assert_eq!(
        reported.len(),
        doc["entries"].as_array().unwrap().len(),
        "an id was listed twice"
    );
    // Records other tests did not touch during the run must match one for one.
    let mut stable = 0;
    for r in &before {
        let Some(same) = after.iter().find(|a| *a == r) else {
            continue;
        };
        stable += 1;
        let id = same["ID"].as_str().unwrap();
        let e = reported
            .get(id)
            .unwrap_or_else(|| panic!("record {id} is missing from the report"));
        assert_eq!(e["size_bytes"], same["Size"], "{id}");
        assert_eq!(e["kind"], same["Type"], "{id}");
        assert_eq!(e["in_use"], same["InUse"], "{id}");
        assert_eq!(e["shared"], same["Shared"], "{id}");
        assert_eq!(e["usage_count"], same["UsageCount"], "{id}");
        assert_eq!(e["description"], same["Description"], "{id}");
    }
    assert!(stable > 0);
    // And nothing is reported that the daemon never had: a record of its build cache,
    // or (the test parts run a buildx-named builder on this daemon) a builder's state
    // volume the daemon has.
    for (id, e) in &reported {
        if e["kind"] == "buildx.state-volume" {
            let inspect = common::buildkit::docker_on(&daemon().host, &["volume", "inspect", id]);
            assert!(
                inspect.status.success(),
                "{id} is not a volume of the daemon"
            );
            continue;
        }
        assert!(
            before.iter().chain(after.iter()).any(|r| r["ID"] == *id),
            "{id} is not a record of the daemon"
        );
    }
    let ours = api_mount_record(&target);
    let e = reported[ours["ID"].as_str().unwrap()];
    assert_eq!(e["size_bytes"], 200_000);
}

#[test]
fn cache_mounts_show_their_target_and_command() {
    let target = format!("/cache/{}", unique("described"));
    build(&cache_mount_dockerfile(&target, 1000));
    let rec = api_mount_record(&target);
    let doc = report_json();
    let e = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == rec["ID"])
        .unwrap();
    assert_eq!(e["kind"], "exec.cachemount");
    assert_eq!(e["mount_target"], target.as_str());
    let command = e["command"].as_str().unwrap();
    assert!(command.starts_with("/bin/sh -c head -c 1000"), "{command}");
    assert!(e["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(e["last_used_at"].as_str().unwrap().ends_with('Z'));

    let src = &doc["sources"][0];
    assert_eq!(src["kind"], "docker");
    assert_eq!(src["ok"], true);
    assert_eq!(src["details"]["api_version"], "1.41");
    assert_eq!(src["details"]["driver"], "overlay2");
    assert!(
        src["details"]["root_dir"]
            .as_str()
            .unwrap()
            .starts_with('/')
    );
}

#[test]
fn the_table_shows_human_sizes_ages_and_the_mount() {
    let target = format!("/cache/{}", unique("table"));
    build(&cache_mount_dockerfile(&target, 2_500_000));
    let rec = api_mount_record(&target);
    let out = cachetop_on_daemon().arg("report").output().unwrap();
    assert!(out.status.success());
    let table = text(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.contains(rec["ID"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no row for our record in:\n{table}"));
    assert!(line.contains("2.50 MB"), "{line}");
    assert!(line.contains("exec.cachemount"), "{line}");
    assert!(line.contains(&target), "{line}");
    assert!(line.contains("ago") || line.contains("just now"), "{line}");
    assert!(table.lines().next().unwrap().starts_with("SOURCE"));
    assert!(table.contains("Docker 20.10"), "{table}");
}

#[test]
fn the_table_is_sorted_by_size() {
    for n in [300_000, 700_000] {
        build(&cache_mount_dockerfile(
            &format!("/cache/{}", unique("sorted")),
            n,
        ));
    }
    let doc = report_json();
    // The best size known: measured on disk when the content was scanned.
    let sizes: Vec<u64> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["disk_bytes"]
                .as_u64()
                .unwrap_or_else(|| e["size_bytes"].as_u64().unwrap())
        })
        .collect();
    let mut sorted = sizes.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(sizes, sorted);
}

#[test]
fn fail_on_stale_exits_3_only_when_something_is_stale() {
    build(&cache_mount_dockerfile(
        &format!("/cache/{}", unique("failon")),
        10,
    ));
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = cachetop_on_daemon()
        .args([
            "--stale-after",
            "1s",
            "report",
            "--json",
            "--fail-on",
            "stale,partial",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert!(doc["totals"]["stale_entries"].as_u64().unwrap() > 0);
    assert_eq!(doc["stale_after_secs"], 1);

    // A policy nothing can meet: exit 0, and the same document shape.
    let out = cachetop_on_daemon()
        .args(["--stale-after", "5200w", "report", "--fail-on", "stale"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
