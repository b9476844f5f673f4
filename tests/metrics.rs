//! `cachetop report --format prometheus` on the isolated daemon, read back by a real
//! Prometheus text parser (Python's prometheus_client, installed by
//! scripts/test-daemon.sh) and checked family by family against `report --json` run
//! with the same options; and `--output`, the atomic write node_exporter's textfile
//! collector needs.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// Debian's python, which python3-prometheus-client is installed for (a python3 earlier
/// on PATH, pyenv's say, may not have it).
const PYTHON: &str = "/usr/bin/python3";

const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for f in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": f.name, "type": f.type, "help": f.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples],
    })
json.dump(families, sys.stdout)
"#;

/// Family name → its samples as (labels → value), as prometheus_client parses `text`.
type Families = BTreeMap<String, BTreeMap<BTreeMap<String, String>, f64>>;

fn parse(text: &str) -> Families {
    let mut child = Command::new(PYTHON)
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3 (scripts/test-daemon.sh installs python3-prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected the metrics:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut families = Families::new();
    for f in parsed.as_array().unwrap() {
        let name = f["name"].as_str().unwrap().to_string();
        assert_eq!(f["type"], "gauge", "{name}");
        assert!(
            !f["help"].as_str().unwrap().is_empty(),
            "{name} has no HELP"
        );
        let samples = families.entry(name.clone()).or_default();
        for s in f["samples"].as_array().unwrap() {
            assert_eq!(s["name"], name.as_str());
            let labels: BTreeMap<String, String> =
                serde_json::from_value(s["labels"].clone()).unwrap();
            let prev = samples.insert(labels.clone(), s["value"].as_f64().unwrap());
            assert!(prev.is_none(), "{name}{labels:?} appears twice");
        }
    }
    families
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A label value as the metrics carry it: exact, except that ESC (which no metrics
/// file may carry raw) arrives as the visible escape the table shows.
fn label_of(name: &str) -> String {
    name.replace('\x1b', "\\x1b")
}

/// A cargo home whose path holds everything a label value must survive (quotes, a
/// backslash, a newline, an escape sequence), with a half-extracted crate in it.
fn hostile_cargo_home(root: &Path) -> PathBuf {
    let home = root.join("ho\"st\\ile\nhome\x1b[31m");
    let src = home.join("registry/src/index.crates.io-1949cf8c6b5b557f/half-1.0.0/src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("lib.rs"), vec![b'x'; 3000]).unwrap();
    home
}

fn run_ok(args: &[&str]) -> std::process::Output {
    let out = cachetop_on_daemon().args(args).output().unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    out
}

/// What two reports must agree on to describe the same state.
fn state(doc: &Value) -> Vec<String> {
    let mut s: Vec<String> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {} {} {} {}",
                e["source"],
                e["source_name"],
                e["id"],
                e["kind"],
                e["size_bytes"],
                e["effective_bytes"],
                e["flags"],
                e["in_use"],
                e["shared"]
            )
        })
        .collect();
    s.sort();
    s.extend(
        doc["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| format!("{} {} {}", x["kind"], x["name"], x["ok"])),
    );
    s
}

/// The metrics, the report and the `prune --stale` plan of one unchanged state: tests
/// running beside this one build and delete records, so the three are taken between
/// two reports that agree.
fn consistent_snapshot(global: &[&str]) -> (Families, String, Value, Value) {
    let with = |rest: &[&str]| -> Vec<String> {
        global.iter().chain(rest).map(|s| s.to_string()).collect()
    };
    let run = |rest: &[&str]| {
        let args = with(rest);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ok(&args)
    };
    for _ in 0..8 {
        let before = json_of(&run(&["report", "--json"]));
        let metrics = text(&run(&["report", "--format", "prometheus"]).stdout);
        let plan = json_of(&run(&["prune", "--stale", "--dry-run", "--json"]));
        let after = json_of(&run(&["report", "--json"]));
        if state(&before) == state(&after) {
            return (parse(&metrics), metrics, after, plan);
        }
    }
    panic!("the daemon's records kept changing under the test");
}

#[test]
fn every_family_matches_report_json_with_the_same_options() {
    let target = format!("/cache/{}", unique("metrics"));
    build(&cache_mount_dockerfile(&target, 300_000));
    let rec = api_mount_record(&target);
    // On a tmpfs of its own, so that filesystem's figures hold still between runs.
    let tmpfs = tmpfs::Tmpfs::mount(16 << 20);
    let home = hostile_cargo_home(&tmpfs.path());
    let home_str = home.to_str().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let (fams, raw, doc, plan) = consistent_snapshot(&["--dir", home_str, "--stale-after", "1s"]);
    assert!(!raw.contains('\x1b'), "a raw ESC reached the metrics");

    let entries = doc["entries"].as_array().unwrap();
    let sources = doc["sources"].as_array().unwrap();
    let mut by_kind: BTreeMap<BTreeMap<String, String>, [u64; 3]> = BTreeMap::new();
    let mut by_flag: BTreeMap<BTreeMap<String, String>, [u64; 2]> = BTreeMap::new();
    let mut up = BTreeMap::new();
    let mut reclaimable: BTreeMap<BTreeMap<String, String>, [u64; 2]> = BTreeMap::new();
    for s in sources {
        let (kind, name) = (s["kind"].as_str().unwrap(), s["name"].as_str().unwrap());
        let name = label_of(name);
        up.insert(
            labels(&[("source", kind), ("name", &name)]),
            s["ok"] == true,
        );
        if s["ok"] == true {
            reclaimable.insert(labels(&[("source", kind), ("name", &name)]), [0, 0]);
            for flag in ["stale", "partial", "in_use", "size_mismatch", "orphaned"] {
                by_flag.insert(
                    labels(&[("source", kind), ("name", &name), ("flag", flag)]),
                    [0, 0],
                );
            }
        }
    }
    for e in entries {
        let source = e["source"].as_str().unwrap();
        let name = label_of(e["source_name"].as_str().unwrap());
        let bytes = e["effective_bytes"].as_u64().unwrap();
        let t = by_kind
            .entry(labels(&[
                ("source", source),
                ("name", &name),
                ("kind", e["kind"].as_str().unwrap()),
            ]))
            .or_default();
        t[0] += 1;
        t[1] += bytes;
        t[2] += e["size_bytes"].as_u64().unwrap();
        for f in flags(e) {
            let t = by_flag
                .get_mut(&labels(&[("source", source), ("name", &name), ("flag", f)]))
                .unwrap();
            t[0] += 1;
            t[1] += bytes;
        }
    }
    // Reclaimable: exactly the entries `prune --stale` plans, at the report's sizes.
    for p in plan["planned"].as_array().unwrap() {
        let e = entries
            .iter()
            .find(|e| {
                e["source"] == p["source"]
                    && e["source_name"] == p["source_name"]
                    && e["id"] == p["id"]
            })
            .unwrap_or_else(|| panic!("planned {p} is not in the report"));
        let name = label_of(e["source_name"].as_str().unwrap());
        let t = reclaimable
            .get_mut(&labels(&[
                ("source", e["source"].as_str().unwrap()),
                ("name", &name),
            ]))
            .unwrap();
        t[0] += 1;
        t[1] += e["effective_bytes"].as_u64().unwrap();
    }

    let family = |name: &str| -> BTreeMap<BTreeMap<String, String>, u64> {
        fams.get(name)
            .unwrap_or_else(|| panic!("no family {name} in\n{raw}"))
            .iter()
            .map(|(l, v)| (l.clone(), *v as u64))
            .collect()
    };
    let pick = |m: &BTreeMap<BTreeMap<String, String>, [u64; 3]>, i: usize| {
        m.iter()
            .map(|(l, t)| (l.clone(), t[i]))
            .collect::<BTreeMap<_, _>>()
    };
    let pick2 = |m: &BTreeMap<BTreeMap<String, String>, [u64; 2]>, i: usize| {
        m.iter()
            .map(|(l, t)| (l.clone(), t[i]))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(family("cachetop_entries"), pick(&by_kind, 0));
    assert_eq!(family("cachetop_entry_bytes"), pick(&by_kind, 1));
    assert_eq!(family("cachetop_entry_reported_bytes"), pick(&by_kind, 2));
    assert_eq!(family("cachetop_flagged_entries"), pick2(&by_flag, 0));
    assert_eq!(family("cachetop_flagged_bytes"), pick2(&by_flag, 1));
    assert_eq!(
        family("cachetop_reclaimable_entries"),
        pick2(&reclaimable, 0)
    );
    assert_eq!(family("cachetop_reclaimable_bytes"), pick2(&reclaimable, 1));
    let up_metric: BTreeMap<_, bool> = family("cachetop_source_up")
        .into_iter()
        .map(|(l, v)| (l, v == 1))
        .collect();
    assert_eq!(up_metric, up);
    let durations = &fams["cachetop_source_scrape_duration_seconds"];
    assert_eq!(
        durations.keys().collect::<BTreeSet<_>>(),
        up.keys().collect::<BTreeSet<_>>()
    );
    assert!(durations.values().all(|d| (0.0..600.0).contains(d)));

    // The totals add up as the report's do.
    let totals = &doc["totals"];
    let sum = |name: &str, flag: Option<&str>| -> u64 {
        family(name)
            .iter()
            .filter(|(l, _)| flag.is_none_or(|f| l["flag"] == f))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(sum("cachetop_entries", None), totals["entries"]);
    assert_eq!(sum("cachetop_entry_bytes", None), totals["size_bytes"]);
    assert_eq!(
        sum("cachetop_entry_reported_bytes", None),
        totals["reported_bytes"]
    );
    assert_eq!(
        sum("cachetop_flagged_entries", Some("stale")),
        totals["stale_entries"]
    );
    assert_eq!(
        sum("cachetop_flagged_bytes", Some("stale")),
        totals["stale_bytes"]
    );
    assert_eq!(
        sum("cachetop_flagged_entries", Some("partial")),
        totals["partial_entries"]
    );
    assert_eq!(
        fams["cachetop_stale_after_seconds"][&BTreeMap::new()],
        1.0,
        "--stale-after 1s"
    );

    // Filesystems: the same mount points as the report's `filesystems[]`, with its
    // figures. Only the tmpfs holds still: free space elsewhere moves with whatever
    // else runs on the machine, so there only the size must be equal.
    let fs_doc = doc["filesystems"].as_array().unwrap();
    let paths =
        |name: &str| -> BTreeSet<String> { fams[name].keys().map(|l| l["path"].clone()).collect() };
    let doc_paths: BTreeSet<String> = fs_doc
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let tmpfs_path = tmpfs.path().to_str().unwrap().to_string();
    assert!(doc_paths.contains(&tmpfs_path), "{doc_paths:?}");
    assert!(
        doc_paths.len() >= 2,
        "Docker's root dir is here too: {doc_paths:?}"
    );
    for name in [
        "cachetop_filesystem_size_bytes",
        "cachetop_filesystem_used_bytes",
        "cachetop_filesystem_free_bytes",
        "cachetop_filesystem_reclaimable_bytes",
    ] {
        assert_eq!(paths(name), doc_paths, "{name}");
    }
    for f in fs_doc {
        let path = f["path"].as_str().unwrap();
        let l = labels(&[("path", path)]);
        let metric = |name: &str| family(name)[&l];
        assert_eq!(
            metric("cachetop_filesystem_size_bytes"),
            f["size_bytes"],
            "{path}"
        );
        assert_eq!(
            metric("cachetop_filesystem_reclaimable_bytes"),
            f["reclaimable_bytes"],
            "{path}"
        );
        if path == tmpfs_path {
            assert_eq!(metric("cachetop_filesystem_free_bytes"), f["free_bytes"]);
            assert_eq!(metric("cachetop_filesystem_used_bytes"), f["used_bytes"]);
            assert_eq!(metric("cachetop_filesystem_size_bytes"), 16 << 20);
        }
    }

    // What the test made is there: the record it built (stale after 1s, so
    // reclaimable), and the hostile cargo home under its exact name, with the
    // half-extracted crate counted as partial.
    let docker = labels(&[("source", "docker"), ("name", &daemon().host)]);
    let mut ours = docker.clone();
    ours.insert("kind".into(), "exec.cachemount".into());
    assert!(family("cachetop_entry_bytes")[&ours] >= 300_000, "{raw}");
    let planned_ids: Vec<&Value> = plan["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert!(planned_ids.contains(&&rec["ID"]), "{plan:#}");
    assert!(family("cachetop_reclaimable_bytes")[&docker] >= 300_000);
    let hostile = labels(&[
        ("source", "dir"),
        ("name", "ho\"st\\ile\nhome\\x1b[31m"),
        ("flag", "partial"),
    ]);
    let hostile_partial = family("cachetop_flagged_entries")
        .into_iter()
        .find(|(l, _)| l["flag"] == "partial" && l["name"].ends_with(&hostile["name"]))
        .unwrap_or_else(|| panic!("the hostile --dir is missing:\n{raw}"));
    assert_eq!(
        hostile_partial.0["name"],
        label_of(home_str),
        "the label does not parse back to the path"
    );
    assert_eq!(hostile_partial.1, 1);
}

/// cachetop with no daemon and one --dir, under `umask 077`, run through sh so the
/// umask is its own.
fn cachetop_umask_077(args: &[&str]) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    Command::new("sh")
        .args(["-c", "umask 077; exec \"$@\"", "sh"])
        .arg(bin)
        .args(["--no-docker"])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env("CACHETOP_NO_BUILDERS", "1")
        .env("XDG_CONFIG_HOME", "/nonexistent-cachetop-config")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .output()
        .unwrap()
}

#[test]
fn output_is_renamed_into_place_mode_0644_never_through_a_symlink() {
    let root = tempfile::tempdir().unwrap();
    let home = hostile_cargo_home(root.path());
    let collector = root.path().join("textfile_collector");
    std::fs::create_dir(&collector).unwrap();
    let target = collector.join("cachetop.prom");
    let dir_args = ["--dir", home.to_str().unwrap()];

    // An existing file is replaced, not rewritten: a reader that had it open still
    // reads the whole old file.
    std::fs::write(&target, "old_metric 1\n").unwrap();
    let old_inode = std::fs::metadata(&target).unwrap().ino();
    let mut reader = std::fs::File::open(&target).unwrap();
    let out = cachetop_umask_077(
        &[
            &dir_args[..],
            &["report", "--format", "prometheus", "--output"],
            &[target.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "the metrics went to stdout too");
    let mut old = String::new();
    reader.read_to_string(&mut old).unwrap();
    assert_eq!(old, "old_metric 1\n");
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert_ne!(meta.ino(), old_inode, "the file was rewritten in place");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644, "umask 077 leaked");
    let fams = parse(&std::fs::read_to_string(&target).unwrap());
    let up = &fams["cachetop_source_up"];
    assert_eq!(up.len(), 1);
    assert_eq!(up.values().next(), Some(&1.0));
    let names: Vec<String> = std::fs::read_dir(&collector)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["cachetop.prom"], "a temporary file was left");

    // A symlink at the path is replaced; what it points to is never written.
    let elsewhere = root.path().join("elsewhere");
    std::fs::write(&elsewhere, "precious\n").unwrap();
    std::fs::remove_file(&target).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &target).unwrap();
    let out = cachetop_umask_077(
        &[
            &dir_args[..],
            &["report", "--json", "-o"],
            &[target.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "precious\n");
    assert!(std::fs::symlink_metadata(&target).unwrap().is_file());
    let doc: Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    assert_eq!(doc["schema"], "cachetop.report.v1");

    // A directory that is not there: an error naming it, nothing written.
    let missing = root.path().join("no-such-dir/cachetop.prom");
    let out = cachetop_umask_077(
        &[
            &dir_args[..],
            &["report", "--format", "prometheus", "--output"],
            &[missing.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no-such-dir"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn format_json_is_json_and_formats_do_not_mix() {
    // On a tmpfs of its own: the filesystem figures hold still between the two runs.
    let tmpfs = tmpfs::Tmpfs::mount(8 << 20);
    let home = hostile_cargo_home(&tmpfs.path());
    let dir = home.to_str().unwrap();
    let strip = |out: std::process::Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["generated_at"] = Value::Null;
        doc
    };
    let json = strip(cachetop_umask_077(&["--dir", dir, "report", "--json"]));
    let format_json = strip(cachetop_umask_077(&[
        "--dir", dir, "report", "--format", "json",
    ]));
    assert_eq!(json, format_json);
    for mixed in [
        &["--json", "--format", "prometheus"][..],
        &["--json", "--format", "table"][..],
    ] {
        let out = cachetop_umask_077(&[&["--dir", dir, "report"][..], mixed].concat());
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{mixed:?}");
        assert!(out.stdout.is_empty());
        assert!(
            text(&out.stderr).contains("--format"),
            "{}",
            text(&out.stderr)
        );
    }
}
