//! The `type=local` export source on real directories: which blobs are live and
//! which orphaned, what is never listed (temp files, in-progress writes), and a prune
//! that removes exactly the orphans, under BuildKit's index.json.lock.

use crate::common;

use std::fs::File;
use std::process::Output;

use serde_json::Value;

use common::registry::*;
use common::*;

fn run(args: &[&str]) -> Output {
    let out = cachetop().arg("--no-docker").args(args).output().unwrap();
    assert_no_panic(&out);
    out
}

fn entries(doc: &Value) -> &Vec<Value> {
    doc["entries"].as_array().unwrap()
}

fn ids_with_flag<'a>(doc: &'a Value, flag: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = entries(doc)
        .iter()
        .filter(|e| e["flags"].as_array().unwrap().iter().any(|f| f == flag))
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Two exports into the same directory: once index.json names the second, the first
/// one's blobs are orphaned, except the layer the second one reuses.
fn two_exports() -> (LocalExport, Exported, Exported) {
    let x = LocalExport::new();
    let seed = unique("export");
    let shared = layer_bytes(&seed, 0, 5000);
    let old = x.export_with(&[
        (shared.clone(), Some("2025-01-01T00:00:00Z")),
        (layer_bytes(&seed, 1, 3000), None),
    ]);
    let new = x.export_with(&[
        (layer_bytes(&seed, 2, 4000), Some("2026-01-02T03:04:05Z")),
        (shared, None),
    ]);
    x.set_index(&[&new]);
    (x, old, new)
}

#[test]
fn live_and_orphaned_blobs_are_told_apart() {
    let (x, old, new) = two_exports();
    let dir = x.path().to_str().unwrap();
    // Things that are not committed blobs: never listed, never flagged.
    let tmp = x.path().join("blobs/sha256").join(format!(
        "{}.tmp",
        new.layers[0].strip_prefix("sha256:").unwrap()
    ));
    std::fs::write(&tmp, b"half a blob").unwrap();
    std::fs::create_dir_all(x.path().join("ingest/0123")).unwrap();
    std::fs::write(x.path().join("ingest/0123/data"), b"in progress").unwrap();

    let out = run(&["--dir", dir, "report", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let src = &doc["sources"][0];
    assert_eq!(src["kind"], "dir");
    assert_eq!(src["name"], dir);
    assert_eq!(src["details"]["tags"], serde_json::json!(["latest"]));
    assert_eq!(src["details"]["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(src["details"]["active_ingests"], 1);

    // Every file under blobs/sha256 named by its digest is an entry, and only those.
    let mut on_disk: Vec<String> = std::fs::read_dir(x.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.len() == 64)
        .map(|n| format!("sha256:{n}"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = entries(&doc)
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, on_disk);

    let live: Vec<&String> = new.blobs.iter().collect();
    let orphaned: Vec<&String> = on_disk.iter().filter(|d| !live.contains(d)).collect();
    // The old export's own layer, cache config and cache index; not the shared layer.
    assert_eq!(
        sorted(&orphaned),
        sorted(&old.blobs[1..].iter().collect::<Vec<_>>())
    );
    assert!(live.contains(&&old.layers[0]), "the shared layer is live");
    assert_eq!(ids_with_flag(&doc, "orphaned"), sorted(&orphaned));

    for e in entries(&doc) {
        let id = e["id"].as_str().unwrap();
        assert_eq!(e["kind"], "local.blob");
        let size = std::fs::metadata(x.blob_path(id)).unwrap().len();
        assert_eq!(e["size_bytes"], size);
        let modified: chrono::DateTime<chrono::Utc> = std::fs::metadata(x.blob_path(id))
            .unwrap()
            .modified()
            .unwrap()
            .into();
        if live.iter().any(|l| *l == id) {
            assert_eq!(e["details"]["tag"], "latest");
            assert!(e["details"]["referenced_by"].is_string());
            assert_eq!(
                e["details"]["path"],
                x.blob_path(id).to_str().unwrap(),
                "{e}"
            );
        } else {
            assert_eq!(
                e["created_at"],
                modified
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    .as_str(),
                "an orphan's time is its file's"
            );
            assert_eq!(e["details"], serde_json::json!({}));
        }
    }
    let layer = entries(&doc)
        .iter()
        .find(|e| e["id"] == new.layers[0].as_str())
        .unwrap();
    assert_eq!(layer["created_at"], "2026-01-02T03:04:05Z");
    assert_eq!(layer["details"]["media_type"], GZIP_LAYER);
    assert_eq!(layer["details"]["referenced_by"], new.blobs[3].as_str());
    assert!(
        layer["description"]
            .as_str()
            .unwrap()
            .starts_with("layer tar+gzip of tag latest"),
        "{layer}"
    );
    let idx = entries(&doc)
        .iter()
        .find(|e| e["id"] == new.blobs[3].as_str())
        .unwrap();
    assert_eq!(idx["details"]["referenced_by"], "index.json");

    // --fail-on orphaned makes it an alert.
    let out = run(&["--dir", dir, "report", "--fail-on", "orphaned"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stdout).contains("ORPHAN"));
}

#[test]
fn prune_removes_exactly_the_orphans() {
    let (x, _old, new) = two_exports();
    let dir = x.path().to_str().unwrap();
    std::fs::write(x.path().join("blobs/sha256/upload.tmp"), b"keep me").unwrap();
    let before = json_of(&run(&["--dir", dir, "report", "--json"]));
    let orphans = ids_with_flag(&before, "orphaned");
    assert!(orphans.len() >= 3);

    // Selecting live blobs plans nothing: they are kept with a reason.
    let out = run(&[
        "--dir",
        dir,
        "prune",
        "--source",
        "dir",
        "--dry-run",
        "--json",
    ]);
    let plan = json_of(&out);
    let planned: Vec<&str> = plan["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    let mut planned_sorted = planned.clone();
    planned_sorted.sort();
    assert_eq!(planned_sorted, orphans, "only orphans are ever planned");
    for b in &new.blobs {
        let s = plan["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == b.as_str())
            .unwrap_or_else(|| panic!("{b} not kept"));
        assert!(
            s["reason"]
                .as_str()
                .unwrap()
                .contains("referenced from index.json")
        );
    }

    // The dry run of --orphaned prints the same plan and the rm commands.
    let out = run(&[
        "--dir",
        dir,
        "prune",
        "--orphaned",
        "--source",
        "dir",
        "--dry-run",
        "--json",
    ]);
    let dry = json_of(&out);
    assert_eq!(dry["planned"].as_array().unwrap().len(), orphans.len());
    for c in dry["equivalent_commands"].as_array().unwrap() {
        let c = c.as_str().unwrap();
        assert!(c.starts_with(&format!("rm -- {dir}/blobs/sha256/")), "{c}");
    }
    for o in &orphans {
        assert!(x.exists(o), "the dry run deleted {o}");
    }

    let out = run(&[
        "--dir",
        dir,
        "prune",
        "--orphaned",
        "--source",
        "dir",
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let done = json_of(&out);
    let mut deleted: Vec<&str> = done["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    deleted.sort();
    assert_eq!(deleted, orphans);
    let orphan_bytes: u64 = entries(&before)
        .iter()
        .filter(|e| orphans.contains(&e["id"].as_str().unwrap()))
        .map(|e| e["size_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(done["reclaimed_bytes"], orphan_bytes);
    for o in &orphans {
        assert!(!x.exists(o), "{o} is still there");
    }
    for b in &new.blobs {
        assert!(x.exists(b), "live blob {b} was deleted");
    }
    assert!(x.path().join("blobs/sha256/upload.tmp").exists());
    assert!(x.path().join("index.json").exists());
    assert!(
        !x.path().join("index.json.lock").exists(),
        "lock file left behind"
    );

    let after = json_of(&run(&["--dir", dir, "report", "--json"]));
    assert!(ids_with_flag(&after, "orphaned").is_empty());
    assert_eq!(entries(&after).len(), new.blobs.len());
}

#[test]
fn prune_stops_while_an_export_holds_the_lock_or_is_writing() {
    let (x, _old, _new) = two_exports();
    let dir = x.path().to_str().unwrap();
    let orphans: Vec<String> = ids_with_flag(
        &json_of(&run(&["--dir", dir, "report", "--json"])),
        "orphaned",
    )
    .into_iter()
    .map(String::from)
    .collect();

    // Another process (BuildKit writing index.json) holds the lock.
    let lock = File::create(x.path().join("index.json.lock")).unwrap();
    lock.lock().unwrap();
    let out = run(&[
        "--dir",
        dir,
        "prune",
        "--orphaned",
        "--source",
        "dir",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("index.json.lock is held by another process"),
        "{all}"
    );
    drop(lock);
    for o in &orphans {
        assert!(x.exists(o));
    }

    // An export writing under ingest/ right now: every deletion is refused.
    std::fs::create_dir_all(x.path().join("ingest/abc")).unwrap();
    std::fs::write(x.path().join("ingest/abc/data"), b"writing").unwrap();
    let out = run(&[
        "--dir",
        dir,
        "prune",
        "--orphaned",
        "--source",
        "dir",
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let done = json_of(&out);
    assert_eq!(done["deleted"], serde_json::json!([]));
    assert!(done["skipped"].as_array().unwrap().iter().any(|s| {
        s["reason"]
            .as_str()
            .unwrap()
            .contains("an export is running")
    }));
    for o in &orphans {
        assert!(x.exists(o));
    }

    // An old, abandoned ingest does not block pruning.
    let stamp = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(x.path().join("ingest/abc/data"))
        .status()
        .unwrap();
    assert!(stamp.success());
    let out = run(&[
        "--dir",
        dir,
        "prune",
        "--orphaned",
        "--source",
        "dir",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for o in &orphans {
        assert!(!x.exists(o));
    }
}

#[test]
fn directories_that_are_not_exports_are_usage_errors_and_damage_is_a_clear_error() {
    // A plain directory is the dir source's: one entry, not an export.
    let plain = tempfile::tempdir().unwrap();
    let out = run(&["--dir", plain.path().to_str().unwrap(), "report", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["entries"][0]["id"], ".");
    assert_eq!(doc["entries"][0]["kind"], "dir");

    let half = LocalExport::new();
    let out = run(&["--dir", half.path().to_str().unwrap(), "report"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has oci-layout but no index.json"),
        "{}",
        text(&out.stderr)
    );

    // index.json names a cache index that is not there: nothing is called orphaned.
    let (x, _old, new) = two_exports();
    std::fs::remove_file(x.blob_path(&new.blobs[3])).unwrap();
    let out = run(&["--dir", x.path().to_str().unwrap(), "report", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(err.contains("is missing from blobs/"), "{err}");
    assert!(
        err.contains("cannot tell which blobs are orphaned"),
        "{err}"
    );
    assert_eq!(doc["entries"], serde_json::json!([]));
    let out = run(&[
        "--dir",
        x.path().to_str().unwrap(),
        "prune",
        "--orphaned",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(1));

    // A damaged index.json.
    let (x, _old, _new) = two_exports();
    std::fs::write(
        x.path().join("index.json"),
        b"{\"schemaVersion\": 2, \"manifests\": [",
    )
    .unwrap();
    let out = run(&["--dir", x.path().to_str().unwrap(), "report", "--json"]);
    let err = json_of(&out)["sources"][0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        err.contains("index.json cannot be read: not valid JSON"),
        "{err}"
    );

    // A symbolic link and a name that is not UTF-8 inside blobs/: skipped, no crash.
    let (x, _old, _new) = two_exports();
    std::os::unix::fs::symlink(
        "/etc/hostname",
        x.path().join("blobs/sha256").join("f".repeat(64)),
    )
    .unwrap();
    use std::os::unix::ffi::OsStrExt;
    std::fs::write(
        x.path()
            .join("blobs/sha256")
            .join(std::ffi::OsStr::from_bytes(b"bad\xffname")),
        b"x",
    )
    .unwrap();
    let out = run(&["--dir", x.path().to_str().unwrap(), "report", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(
        doc["sources"][0]["details"]["skipped"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

fn validator(name: &str) -> jsonschema::Validator {
    let path = format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn export_and_registry_documents_match_the_published_schemas() {
    let (x, _old, _new) = two_exports();
    let dir = x.path().to_str().unwrap();
    let r = registries();
    let repo = unique("schema").replace('_', "-");
    build_cache(
        &repo,
        CacheLayout::Index,
        &[LayerSpec::new(100).annotated("2025-01-01T00:00:00Z")],
    )
    .push(&Api::new(&r.delete), &repo, "c");
    let reference = format!("{}/{repo}:c", r.delete);
    let empty = tempfile::tempdir().unwrap();
    let run_with = |args: &[&str]| {
        let out = cachetop()
            .env("DOCKER_CONFIG", empty.path())
            .args(["--no-docker", "--dir", dir, "--registry", &reference])
            .args(args)
            .output()
            .unwrap();
        assert_no_panic(&out);
        out
    };

    let out = run_with(&["report", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let kinds: Vec<&str> = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["dir", "registry"]);
    assert_valid(&validator("report.schema.json"), &doc);

    let prune = validator("prune.schema.json");
    let out = run_with(&["prune", "--stale", "--dry-run", "--json"]);
    assert_valid(&prune, &json_of(&out));
    let out = run_with(&["prune", "--orphaned", "--source", "dir", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let done = json_of(&out);
    assert!(!done["deleted"].as_array().unwrap().is_empty());
    assert_valid(&prune, &done);
}
