//! Real BuildKit cache mounts on the isolated daemon, holding crates from a real
//! `cargo fetch`, in each state a broken build leaves: cachetop finds exactly what is
//! broken, measures what the daemon under-reports, and `repair` removes exactly the
//! named parts.

use crate::common;
use crate::scan_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use scan_support::*;
use serde_json::{Value, json};

const TARGET: &str = "/usr/local/cargo/registry";

struct CacheMount {
    id: String,
    cache_id: String,
    diff: PathBuf,
}

fn daemon_root() -> PathBuf {
    PathBuf::from(api_get("/v1.41/info")["DockerRootDir"].as_str().unwrap())
}

/// The cache-mount record whose RUN command names this cache id (dockerd 20.10
/// does not put the id itself in the description).
fn record_with_cache_id(cache_id: &str) -> Value {
    let find = || {
        api_records().into_iter().find(|r| {
            r["Type"] == "exec.cachemount"
                && r["Description"]
                    .as_str()
                    .is_some_and(|d| d.contains(cache_id))
        })
    };
    for _ in 0..20 {
        if let Some(r) = find() {
            return r;
        }
        eprintln!("no cache mount record for {cache_id} yet");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("no cache mount record for {cache_id}")
}

/// Builds with a context holding a copy of the fetched registry, seeding a cache
/// mount at TARGET with it, then running `mutate` inside the mount.
fn cargo_mount(tag: &str, mutate: &str) -> CacheMount {
    let cache_id = unique(tag);
    let ctx = tempfile::tempdir().unwrap();
    copy_tree(&cargo_home().join("registry"), &ctx.path().join("registry"));
    let dockerfile = format!(
        "FROM {BASE_IMAGE}\nRUN --mount=type=cache,id={cache_id},target={TARGET} \
         --mount=type=bind,source=registry,target=/seed \
         cp -a /seed/. {TARGET}/ && cd {TARGET} && {mutate} && echo {cache_id}\n"
    );
    std::fs::write(ctx.path().join("Dockerfile"), &dockerfile).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(DOCKER_CLI)
        .args(["build", "--network=none", "--progress=plain", "-q"])
        .arg(ctx.path())
        .env("DOCKER_HOST", &daemon().host)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build failed:\n{dockerfile}\n{}",
        text(&out.stderr)
    );
    let id = record_with_cache_id(&cache_id)["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let diff = daemon_root().join("overlay2").join(&id).join("diff");
    assert!(diff.is_dir(), "{} is not there", diff.display());
    CacheMount { id, cache_id, diff }
}

/// cachetop with `args`, run until its output names record `id`: dockerd 20.10
/// leaves records out of `/system/df` now and then while other builds run.
fn run_listing(id: &str, args: &[&str]) -> std::process::Output {
    for _ in 0..20 {
        let out = cachetop_on_daemon().args(args).output().unwrap();
        assert_no_panic(&out);
        assert!(out.status.success(), "{}", text(&out.stderr));
        if text(&out.stdout).contains(id) {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    panic!("{id} never showed up in cachetop {args:?}")
}

fn report(id: &str) -> Value {
    json_of(&run_listing(id, &["report", "--json"]))
}

/// (kind, path, bytes) of every finding, in report order.
fn findings(e: &Value) -> Vec<(String, String, u64)> {
    e["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_valid(name: &str, doc: &Value) {
    let v = schema(name);
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{doc:#}");
}

/// Checks the report's view of a broken mount, then repairs it and checks that
/// exactly the named part went and the next report is clean.
fn find_then_repair(m: &CacheMount, want: (&str, PathBuf, u64)) {
    let before = files(&m.diff);
    let doc = report(&m.id);
    assert_valid("report.schema.json", &doc);
    let e = entry(&doc, &m.id);
    let (kind, rel, bytes) = want;
    let rel_text = rel.to_str().unwrap().to_string();
    assert_eq!(
        findings(e),
        vec![(kind.to_string(), rel_text.clone(), bytes)],
        "{e:#}"
    );
    assert!(flags(e).contains(&"partial"), "{e:#}");
    assert_eq!(e["content"]["path"], m.diff.to_str().unwrap());
    assert_eq!(e["content"]["files"], before.len() as u64);
    assert_eq!(e["disk_bytes"], before.values().sum::<u64>());
    assert_eq!(e["content"]["error"], Value::Null);

    // Dry run: the plan names exactly that part, and nothing moves.
    let dry = cachetop_on_daemon()
        .args(["repair", &m.id, "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let dry_text = text(&dry.stdout);
    assert!(dry_text.contains("Dry run: nothing deleted."), "{dry_text}");
    assert_eq!(files(&m.diff), before, "a dry run changed the mount");
    let dry_json = cachetop_on_daemon()
        .args(["repair", &m.id, "--dry-run", "--json"])
        .output()
        .unwrap();
    let dry_doc = json_of(&dry_json);
    assert_valid("repair.schema.json", &dry_doc);
    assert_eq!(dry_doc["dry_run"], true);
    assert_eq!(
        dry_doc["planned"][0]["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["kind"].clone(), p["path"].clone(), p["bytes"].clone()))
            .collect::<Vec<_>>(),
        vec![(json!(kind), json!(rel_text), json!(bytes))]
    );
    let rm = format!("rm -rf -- {}/{rel_text}", m.diff.display());
    assert_eq!(dry_doc["equivalent_commands"], json!([rm]));

    // Without --yes and without a terminal: the plan, and nothing deleted.
    let unconfirmed = cachetop_on_daemon()
        .args(["repair", &m.id])
        .output()
        .unwrap();
    assert!(unconfirmed.status.success());
    assert!(text(&unconfirmed.stdout).contains("Not a terminal and no --yes"));
    assert_eq!(files(&m.diff), before);

    // The real run: the same plan, and exactly that part goes.
    let real = cachetop_on_daemon()
        .args(["repair", &m.id, "--yes"])
        .output()
        .unwrap();
    assert_no_panic(&real);
    assert!(real.status.success(), "{}", text(&real.stderr));
    let real_text = text(&real.stdout);
    let plan_of = |t: &str, end: &str| t.split(end).next().unwrap().to_string();
    assert_eq!(
        plan_of(&dry_text, "Dry run:"),
        plan_of(&real_text, "Removed "),
        "dry run and real run printed different plans"
    );
    assert!(
        real_text.contains("Removed 1 of 1 planned parts"),
        "{real_text}"
    );
    let after = files(&m.diff);
    let expected: BTreeMap<PathBuf, u64> = before
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&rel))
        .collect();
    assert_eq!(after, expected, "repair removed something else, or not all");

    // The next report is clean.
    let doc = report(&m.id);
    let e = entry(&doc, &m.id);
    assert_eq!(findings(e), vec![]);
    assert!(!flags(e).contains(&"partial"), "{e:#}");
}

#[test]
fn a_whole_cargo_registry_has_no_findings_and_its_size_is_what_buildkit_measures() {
    let m = cargo_mount("whole", "true");
    let on_disk = files(&m.diff);
    let doc = report(&m.id);
    assert_valid("report.schema.json", &doc);
    let e = entry(&doc, &m.id);
    assert_eq!(findings(e), vec![], "false positives on a healthy registry");
    assert!(!flags(e).contains(&"partial"));
    assert!(!flags(e).contains(&"size_mismatch"));
    let total: u64 = on_disk.values().sum();
    assert_eq!(e["disk_bytes"], total);
    // BuildKit measured the fresh mount: apparent sizes of files, as cachetop does.
    assert_eq!(e["size_bytes"], total);
    assert_eq!(e["content"]["files"], on_disk.len() as u64);
    assert_eq!(e["mount_target"], TARGET);
    // Nothing to repair.
    let out = cachetop_on_daemon()
        .args(["repair", &m.id, "--yes", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_valid("repair.schema.json", &doc);
    assert_eq!(doc["planned"], json!([]));
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("nothing to repair")
    );
    assert_eq!(files(&m.diff), on_disk);
}

#[test]
fn a_crate_extracted_from_a_cut_stream_is_found_and_repaired() {
    // Cut itoa's archive so the stream ends early: tar extracts what it can, and no
    // .cargo-ok follows, as when cargo is killed mid-unpack.
    let reg = registry_name();
    let m = cargo_mount(
        "cut-stream",
        &format!(
            "rm -rf src/{reg}/{ITOA} && (head -c 9000 cache/{reg}/{ITOA}.crate | tar -xzf - -C src/{reg}/ ; true) \
             && test -f src/{reg}/{ITOA}/Cargo.toml && test ! -e src/{reg}/{ITOA}/.cargo-ok"
        ),
    );
    let rel = Path::new("src").join(registry_name()).join(ITOA);
    let bytes = bytes_under(&files(&m.diff), &rel);
    assert!(bytes > 0);
    find_then_repair(&m, ("cargo.partial_extraction", rel, bytes));
    // The archive and the other crate stay.
    assert!(
        m.diff
            .join("cache")
            .join(registry_name())
            .join(format!("{ITOA}.crate"))
            .is_file()
    );
    assert!(
        m.diff
            .join("src")
            .join(registry_name())
            .join(CFG_IF)
            .join(".cargo-ok")
            .is_file()
    );
}

#[test]
fn an_empty_marker_is_found_and_repaired() {
    let reg = registry_name();
    let m = cargo_mount("empty-marker", &format!(": > src/{reg}/{CFG_IF}/.cargo-ok"));
    let rel = Path::new("src").join(registry_name()).join(CFG_IF);
    let bytes = bytes_under(&files(&m.diff), &rel);
    find_then_repair(&m, ("cargo.torn_marker", rel, bytes));
}

#[test]
fn a_truncated_crate_archive_is_found_and_repaired() {
    let reg = registry_name();
    let m = cargo_mount(
        "cut-crate",
        &format!(
            "head -c 5000 cache/{reg}/{ITOA}.crate > /tmp/cut && mv /tmp/cut cache/{reg}/{ITOA}.crate"
        ),
    );
    let rel = Path::new("cache")
        .join(registry_name())
        .join(format!("{ITOA}.crate"));
    find_then_repair(&m, ("cargo.corrupt_crate", rel, 5000));
}

#[test]
fn a_mount_the_daemon_under_reports_gets_its_disk_size_and_size_mismatch() {
    let cache_id = unique("grow");
    let target = format!("/cache/{cache_id}");
    let step = |file: &str, bytes: usize| {
        format!(
            "FROM {BASE_IMAGE}\nRUN --mount=type=cache,id={cache_id},target={target} head -c {bytes} /dev/zero > {target}/{file}\n"
        )
    };
    build(&step("first", 100_000));
    // The daemon measures the mount now, once.
    assert_eq!(record_with_cache_id(&cache_id)["Size"], 100_000);
    build(&step("second", 3_000_000));
    let rec = record_with_cache_id(&cache_id);
    assert_eq!(
        rec["Size"], 100_000,
        "the daemon re-measured the mount; this test needs one that does not"
    );
    let id = rec["ID"].as_str().unwrap();
    let doc = report(id);
    let e = entry(&doc, id);
    assert_eq!(e["size_bytes"], 100_000);
    assert_eq!(e["disk_bytes"], 3_100_000);
    assert!(flags(e).contains(&"size_mismatch"), "{e:#}");
    assert!(doc["totals"]["size_bytes"].as_u64().unwrap() >= 3_100_000);
    // The table shows the measured size, starred.
    let out = run_listing(id, &["report"]);
    let table = text(&out.stdout);
    let line = table.lines().find(|l| l.contains(id)).unwrap();
    assert!(line.contains("3.10 MB*"), "{line}");
    assert!(table.contains("* measured on disk"), "{table}");
    // --no-scan reports what the daemon says, and nothing measured.
    let doc = json_of(&run_listing(id, &["report", "--json", "--no-scan"]));
    let e = entry(&doc, id);
    assert_eq!(e["disk_bytes"], Value::Null);
    assert!(!flags(e).contains(&"size_mismatch"));
    assert_eq!(e["content"]["files"], Value::Null);
}

#[test]
fn repair_refuses_a_mount_a_build_is_using() {
    let reg = registry_name();
    let m = cargo_mount("busy", &format!(": > src/{reg}/{CFG_IF}/.cargo-ok"));
    let before = files(&m.diff);
    let cache_id = m.cache_id.clone();
    // A second build holds the same mount for a while.
    let busy = format!(
        "FROM {BASE_IMAGE}\nRUN --mount=type=cache,id={cache_id},target={TARGET} sleep 8 && echo {}\n",
        unique("hold")
    );
    let holder = std::thread::spawn(move || build_with(&busy, &["-o", "type=tar,dest=/dev/null"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while api_record(&m.id).is_none_or(|r| r["InUse"] != true) {
        assert!(
            std::time::Instant::now() < deadline,
            "the mount never became in use"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = cachetop_on_daemon()
        .args(["repair", &m.id, "--yes", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    let doc = json_of(&out);
    assert_valid("repair.schema.json", &doc);
    assert_eq!(doc["planned"], json!([]));
    assert_eq!(doc["removed"], json!([]));
    let reason = doc["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("in use"), "{reason}");
    holder.join().unwrap();
    // Nothing was touched under the build (it only slept).
    assert_eq!(files(&m.diff), before);
    // Once the build is over, the repair goes ahead.
    let out = cachetop_on_daemon()
        .args(["repair", &m.id, "--yes", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    assert_valid("repair.schema.json", &doc);
    assert_eq!(doc["removed"].as_array().unwrap().len(), 1, "{doc:#}");
}

#[test]
fn an_unknown_id_is_reported_and_fails() {
    let out = cachetop_on_daemon()
        .args(["repair", "no-such-record-id", "--yes"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("no-such-record-id: no entry has this id"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn without_root_the_report_still_works_and_says_how_to_look_inside() {
    let m = cargo_mount("as-nobody", "true");
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let run = || {
        let mut cmd = if unsafe { libc::geteuid() } == 0 {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&bin);
            c
        } else {
            std::process::Command::new(&bin)
        };
        cmd.args(["--host", &daemon().host, "report", "--json"])
            .env_remove("DOCKER_HOST")
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .env("CARGO_HOME", NO_CARGO_HOME)
            .output()
            .unwrap()
    };
    let doc = (0..20)
        .map(|_| run())
        .find_map(|out| {
            assert_no_panic(&out);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let doc = json_of(&out);
            let listed = doc["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["id"] == m.id);
            listed.then_some(doc)
        })
        .expect("the record in the report");
    assert_valid("report.schema.json", &doc);
    let e = entry(&doc, &m.id);
    assert_eq!(e["content"]["path"], "");
    assert_eq!(e["content"]["files"], Value::Null);
    let why = e["content"]["error"].as_str().unwrap();
    assert!(why.contains("permission denied reading"), "{why}");
    assert!(why.contains("run cachetop as root"), "{why}");
    assert_eq!(e["disk_bytes"], Value::Null);
    assert!(e["size_bytes"].as_u64().unwrap() > 0);
}
