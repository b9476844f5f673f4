//! The `dir` source on real cargo homes made by real `cargo fetch`: areas with sizes
//! and last use from cargo's `.global-cache`, zero findings when healthy, exact
//! findings when broken, repairs cargo recovers from, and prunes that stay inside.

use crate::common;
use crate::scan_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use scan_support::*;
use serde_json::{Value, json};

fn on_dir(dir: &Path) -> assert_cmd::Command {
    let mut cmd = cachetop();
    cmd.arg("--no-docker").arg("--dir").arg(dir);
    cmd
}

fn report(dir: &Path) -> Value {
    let out = on_dir(dir).args(["report", "--json"]).output().unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json_of(&out)
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(name: &str, doc: &Value) {
    let errors: Vec<String> = schema(name)
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{doc:#}");
}

/// (rows, sum of size, newest timestamp) of one `.global-cache` table, read with
/// SQL independently of cachetop.
fn tracked(home: &Path, table: &str) -> (i64, Option<i64>, i64) {
    let c = rusqlite::Connection::open(home.join(".global-cache")).unwrap();
    let has_size = table != "registry_index" && table != "git_db";
    let sql = if has_size {
        format!("SELECT COUNT(*), SUM(size), MAX(timestamp) FROM {table}")
    } else {
        format!("SELECT COUNT(*), NULL, MAX(timestamp) FROM {table}")
    };
    c.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[test]
fn a_healthy_real_cargo_home_has_zero_findings_and_cargos_own_sizes() {
    let home = copy_of_home("healthy");
    let doc = report(&home);
    assert_valid("report.schema.json", &doc);
    assert_eq!(doc["sources"][0]["kind"], "dir");
    assert_eq!(doc["sources"][0]["ok"], true);
    assert_eq!(doc["sources"][0]["details"]["global_cache"], "read");
    let ids: Vec<&str> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    for area in ["registry/index", "registry/cache", "registry/src"] {
        assert!(ids.contains(&area), "{ids:?}");
    }
    for e in doc["entries"].as_array().unwrap() {
        assert_eq!(e["findings"], json!([]), "false positive in {e:#}");
        assert_eq!(e["source"], "dir");
        assert!(!e["flags"].as_array().unwrap().contains(&json!("partial")));
        assert!(
            !e["flags"]
                .as_array()
                .unwrap()
                .contains(&json!("size_mismatch")),
            "{e:#}"
        );
        let dir = PathBuf::from(e["content"]["path"].as_str().unwrap());
        let on_disk = files(&dir);
        assert_eq!(e["content"]["files"], on_disk.len() as u64, "{e:#}");
        assert_eq!(e["disk_bytes"], on_disk.values().sum::<u64>(), "{e:#}");
        assert_eq!(e["content"]["error"], Value::Null);
    }
    // Archives: cargo's own sizes and last use.
    let (rows, size, newest) = tracked(&home, "registry_crate");
    assert_eq!(rows, 2);
    let cache = entry(&doc, "registry/cache");
    assert_eq!(cache["kind"], "cargo.registry-cache");
    assert_eq!(cache["size_bytes"], size.unwrap());
    assert_eq!(cache["last_used_at"], rfc3339(newest));
    assert_eq!(cache["details"]["size"], "from .global-cache");
    let (_, size, newest) = tracked(&home, "registry_src");
    let src = entry(&doc, "registry/src");
    assert_eq!(src["size_bytes"], size.unwrap());
    assert_eq!(src["last_used_at"], rfc3339(newest));
    // The index has no size in the tracker: measured, with cargo's last use.
    let (_, _, newest) = tracked(&home, "registry_index");
    let index = entry(&doc, "registry/index");
    assert_eq!(index["details"]["size"], "measured");
    assert_eq!(
        index["size_bytes"],
        files(&home.join("registry/index")).values().sum::<u64>()
    );
    assert_eq!(index["last_used_at"], rfc3339(newest));
    assert_eq!(doc["totals"]["partial_entries"], 0);
}

#[test]
fn without_the_tracker_sizes_and_last_use_come_from_the_files() {
    let home = copy_of_home("no-tracker");
    std::fs::remove_file(home.join(".global-cache")).unwrap();
    let doc = report(&home);
    assert_eq!(doc["sources"][0]["details"]["global_cache"], "absent");
    let cache = entry(&doc, "registry/cache");
    assert_eq!(cache["details"]["size"], "measured");
    assert_eq!(cache["details"]["last_use"], "newest file time");
    let on_disk = files(&home.join("registry/cache"));
    assert_eq!(cache["size_bytes"], on_disk.values().sum::<u64>());
    assert!(cache["last_used_at"].is_string());
    // A broken tracker is not a broken source.
    std::fs::write(home.join(".global-cache"), b"not a database").unwrap();
    let doc = report(&home);
    let state = doc["sources"][0]["details"]["global_cache"]
        .as_str()
        .unwrap();
    assert!(state.starts_with("unreadable"), "{state}");
    assert_eq!(
        entry(&doc, "registry/cache")["size_bytes"],
        on_disk.values().sum::<u64>()
    );
}

#[test]
fn the_local_cargo_home_is_read_by_default_and_can_be_turned_off() {
    let home = copy_of_home("default");
    let out = cachetop()
        .env("CARGO_HOME", &home)
        .args(["--no-docker", "report", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["sources"][0]["name"], home.to_str().unwrap());
    assert!(doc["entries"].as_array().unwrap().len() >= 3);

    // Beside the daemon, the daemon stays the first source.
    let out = cachetop_on_daemon()
        .env("CARGO_HOME", &home)
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    assert_eq!(doc["sources"][0]["kind"], "docker");
    assert_eq!(doc["sources"][1]["kind"], "dir");

    // Off by flag, by config key, and whenever --dir names something else.
    let off = cachetop()
        .env("CARGO_HOME", &home)
        .args(["--no-docker", "--no-cargo-home", "report"])
        .output()
        .unwrap();
    assert_eq!(off.status.code(), Some(2));
    assert!(
        text(&off.stderr).contains("nothing to read"),
        "{}",
        text(&off.stderr)
    );
    let cfg = tempfile::tempdir().unwrap();
    let file = cfg.path().join("c.toml");
    std::fs::write(&file, "no_docker = true\nno_cargo_home = true\n").unwrap();
    let off = cachetop()
        .env("CARGO_HOME", &home)
        .arg("--config")
        .arg(&file)
        .arg("report")
        .output()
        .unwrap();
    assert_eq!(off.status.code(), Some(2));
    let other = tempfile::tempdir().unwrap();
    let doc = json_of(
        &cachetop()
            .env("CARGO_HOME", &home)
            .args(["--no-docker", "--dir"])
            .arg(other.path())
            .args(["report", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["sources"].as_array().unwrap().len(), 1);
    assert_eq!(doc["entries"][0]["id"], ".");
    // The config file's `dirs` works like --dir.
    std::fs::write(&file, format!("no_docker = true\ndirs = [{:?}]\n", home)).unwrap();
    let doc = json_of(
        &cachetop()
            .arg("--config")
            .arg(&file)
            .args(["report", "--json"])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["sources"][0]["name"], home.to_str().unwrap());
}

#[test]
fn a_cut_off_archive_and_a_torn_marker_are_found_repaired_and_cargo_builds_again() {
    let home = copy_of_home("broken");
    let reg = registry_name();
    let proj = project(&scratch().join("broken-project"));
    // The download was cut off, and the extracted copy is gone, so cargo must
    // unpack the archive; another crate's marker is empty.
    let archive = home
        .join("registry/cache")
        .join(&reg)
        .join(format!("{ITOA}.crate"));
    let whole = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &whole[..whole.len() / 2]).unwrap();
    std::fs::remove_dir_all(home.join("registry/src").join(&reg).join(ITOA)).unwrap();
    std::fs::write(
        home.join("registry/src")
            .join(&reg)
            .join(CFG_IF)
            .join(".cargo-ok"),
        b"",
    )
    .unwrap();

    let doc = report(&home);
    let cache = entry(&doc, "registry/cache");
    assert_eq!(
        cache["findings"],
        json!([{
            "kind": "cargo.corrupt_crate",
            "path": format!("{reg}/{ITOA}.crate"),
            "detail": cache["findings"][0]["detail"],
            "bytes": whole.len() / 2,
        }])
    );
    let detail = cache["findings"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("ends early"), "{detail}");
    let src = entry(&doc, "registry/src");
    let torn_bytes = bytes_under(
        &files(&home.join("registry/src")),
        &Path::new(&reg).join(CFG_IF),
    );
    assert_eq!(
        src["findings"],
        json!([{
            "kind": "cargo.torn_marker",
            "path": format!("{reg}/{CFG_IF}"),
            "detail": src["findings"][0]["detail"],
            "bytes": torn_bytes,
        }])
    );
    assert_eq!(entry(&doc, "registry/index")["findings"], json!([]));
    assert_eq!(doc["totals"]["partial_entries"], 2);

    // Cargo trusts the cut archive, fails to unpack it, and leaves the half-extracted
    // directory behind (it does clear the torn marker's directory itself).
    let poisoned = cargo(&home, &proj, &["build", "--offline"]);
    assert!(!poisoned.status.success());
    let err = text(&poisoned.stderr);
    assert!(err.contains("failed to unpack package"), "{err}");
    let doc = report(&home);
    let half = Path::new(&reg).join(ITOA);
    let half_bytes = bytes_under(&files(&home.join("registry/src")), &half);
    let src = entry(&doc, "registry/src");
    assert_eq!(
        src["findings"],
        json!([{
            "kind": "cargo.partial_extraction",
            "path": half.to_str().unwrap(),
            "detail": src["findings"][0]["detail"],
            "bytes": half_bytes,
        }])
    );
    assert_eq!(
        entry(&doc, "registry/cache")["findings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let before = files(&home);
    let out = on_dir(&home)
        .args([
            "repair",
            "registry/cache",
            "registry/src",
            "--yes",
            "--json",
        ])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_valid("repair.schema.json", &doc);
    assert_eq!(doc["removed"].as_array().unwrap().len(), 2, "{doc:#}");
    assert_eq!(doc["reclaimed_bytes"], whole.len() as u64 / 2 + half_bytes);
    let after = files(&home);
    let cache_part = Path::new("registry/cache")
        .join(&reg)
        .join(format!("{ITOA}.crate"));
    let src_part = Path::new("registry/src").join(&half);
    let expected: std::collections::BTreeMap<PathBuf, u64> = before
        .into_iter()
        .filter(|(p, _)| *p != cache_part && !p.starts_with(&src_part))
        .collect();
    assert_eq!(
        after, expected,
        "repair removed more, or less, than the two parts"
    );

    // Cargo fetches the archive again, unpacks both, and the home is clean.
    let fetched = cargo(&home, &proj, &["fetch"]);
    assert!(fetched.status.success(), "{}", text(&fetched.stderr));
    let built = cargo(&home, &proj, &["build", "--offline"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    let doc = report(&home);
    for e in doc["entries"].as_array().unwrap() {
        assert_eq!(e["findings"], json!([]), "{e:#}");
    }
}

/// A git dependency served from a local repository, fetched by real cargo.
fn git_home() -> (PathBuf, PathBuf) {
    ensure_tool("git", "git");
    let base = scratch().join("git");
    let _ = std::fs::remove_dir_all(&base);
    let lib = base.join("mylib");
    std::fs::create_dir_all(lib.join("src")).unwrap();
    std::fs::write(
        lib.join("Cargo.toml"),
        "[package]\nname = \"mylib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(lib.join("src/lib.rs"), "pub fn seven() -> u32 { 7 }\n").unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&lib)
            .output()
            .unwrap();
        assert!(ok.status.success(), "git {args:?}: {}", text(&ok.stderr));
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "init"]);
    let app = base.join("app");
    std::fs::create_dir_all(app.join("src")).unwrap();
    std::fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nmylib = {{ git = \"file://{}\" }}\n",
            lib.display()
        ),
    )
    .unwrap();
    std::fs::write(
        app.join("src/main.rs"),
        "fn main() { println!(\"{}\", mylib::seven()); }\n",
    )
    .unwrap();
    let home = base.join("home");
    let out = cargo(&home, &app, &["fetch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    (home, app)
}

#[test]
fn an_unfinished_git_checkout_is_found_and_cargo_checks_it_out_again() {
    let (home, app) = git_home();
    let doc = report(&home);
    for e in doc["entries"].as_array().unwrap() {
        assert_eq!(e["findings"], json!([]), "{e:#}");
    }
    let checkouts = home.join("git/checkouts");
    let repo = std::fs::read_dir(&checkouts)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let rev = std::fs::read_dir(&repo)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    std::fs::remove_file(rev.join(".cargo-ok")).unwrap();
    let rel = rev
        .strip_prefix(&checkouts)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();

    let doc = report(&home);
    let e = entry(&doc, "git/checkouts");
    assert_eq!(e["kind"], "cargo.git-checkouts");
    assert_eq!(e["findings"].as_array().unwrap().len(), 1, "{e:#}");
    assert_eq!(e["findings"][0]["kind"], "cargo.git_checkout_incomplete");
    assert_eq!(e["findings"][0]["path"], rel);
    assert_eq!(entry(&doc, "git/db")["findings"], json!([]));

    let out = on_dir(&home)
        .args(["repair", "git/checkouts", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!rev.exists());
    assert!(
        home.join("git/db").read_dir().unwrap().count() > 0,
        "the git db stays"
    );
    let built = cargo(&home, &app, &["build", "--offline"]);
    assert!(built.status.success(), "{}", text(&built.stderr));
    assert!(
        rev.join(".cargo-ok").is_file(),
        "cargo checked it out again"
    );
}

#[test]
fn while_cargo_builds_the_home_is_in_use_and_nothing_is_touched() {
    let home = copy_of_home("busy");
    let reg = registry_name();
    std::fs::write(
        home.join("registry/src")
            .join(&reg)
            .join(CFG_IF)
            .join(".cargo-ok"),
        b"",
    )
    .unwrap();
    // A real build that stays inside cargo's lock window until the test lets it go.
    // Cargo (1.74+) holds `.package-cache-mutate` shared for the whole build, build
    // scripts included; the lock was once held over a build script that slept 6 s,
    // which a loaded machine could outlast before cachetop even looked (1 run in 5
    // failed). Now the build script says it has started and then waits for the test,
    // so cargo provably holds its lock while cachetop looks, however slow either is.
    // It uses only itoa, so cargo itself leaves cfg-if's torn marker alone.
    let proj = scratch().join("busy-project");
    let _ = std::fs::remove_dir_all(&proj);
    std::fs::create_dir_all(proj.join("src")).unwrap();
    std::fs::write(
        proj.join("Cargo.toml"),
        "[package]\nname = \"busy\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nitoa = \"=1.0.11\"\n",
    )
    .unwrap();
    std::fs::write(proj.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(proj.join("build.rs"), HELD_BUILD_SCRIPT).unwrap();
    let started = proj.join("started");
    let release = Release(proj.join("release"));
    let mut build = Command::new(cargo_bin())
        .args(["build", "--offline"])
        .current_dir(&proj)
        .env("CARGO_HOME", &home)
        .env("CARGO_TARGET_DIR", proj.join("target"))
        .env("BUSY_STARTED", &started)
        .env("BUSY_RELEASE", &release.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The build script runs: cargo holds its lock from here until `release`.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while !started.exists() {
        if build.try_wait().unwrap().is_some() {
            let out = build.wait_with_output().unwrap();
            panic!(
                "cargo build ended before its build script ran:\n{}",
                text(&out.stderr)
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build script did not start within 300 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let doc = report(&home);
    assert_eq!(entry(&doc, "registry/src")["in_use"], true, "{doc:#}");
    assert!(
        entry(&doc, "registry/src")["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("in_use"))
    );
    let before = files(&home.join("registry"));
    let repair = on_dir(&home)
        .args(["repair", "registry/src", "--yes", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&repair);
    assert_eq!(doc["planned"], json!([]));
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("in use")
    );
    let prune = on_dir(&home)
        .args(["prune", "--source", "dir", "--yes", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&prune);
    assert_eq!(doc["planned"], json!([]), "{doc:#}");
    assert_eq!(files(&home.join("registry")), before);
    drop(release);
    let out = build.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = report(&home);
    assert_eq!(entry(&doc, "registry/src")["in_use"], false);
}

/// A build script that marks that it runs, then waits (at most 300 s, so a failed
/// test leaves no cargo behind for long) until the test lets it finish.
const HELD_BUILD_SCRIPT: &str = r#"use std::time::{Duration, Instant};
fn main() {
    let started = std::env::var("BUSY_STARTED").unwrap();
    let release = std::env::var("BUSY_RELEASE").unwrap();
    std::fs::write(started, b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::path::Path::new(&release).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}
"#;

/// Lets the held build finish when dropped, also when an assertion fails first.
struct Release(PathBuf);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, b"");
    }
}

#[test]
fn prune_source_dir_empties_only_the_planned_area_and_never_leaves_the_directory() {
    let home = copy_of_home("prune");
    let keep_cache = files(&home.join("registry/cache"));
    let keep_index = files(&home.join("registry/index"));
    let dry = on_dir(&home)
        .args([
            "prune",
            "--source",
            "dir",
            "--id",
            "registry/src",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(dry.status.success());
    let src = home.canonicalize().unwrap().join("registry/src");
    assert!(
        text(&dry.stdout).contains(&format!("find {} -mindepth 1 -delete", src.display())),
        "{}",
        text(&dry.stdout)
    );
    assert!(src.read_dir().unwrap().count() > 0);

    let out = on_dir(&home)
        .args([
            "prune",
            "--source",
            "dir",
            "--id",
            "registry/src",
            "--yes",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_valid("prune.schema.json", &doc);
    assert_eq!(
        doc["deleted"],
        json!([{"source": "dir", "id": "registry/src"}])
    );
    assert!(src.is_dir(), "the area directory itself stays");
    assert_eq!(src.read_dir().unwrap().count(), 0);
    assert_eq!(files(&home.join("registry/cache")), keep_cache);
    assert_eq!(files(&home.join("registry/index")), keep_index);
    assert!(home.join(".global-cache").is_file());

    // An area that is a symlink out of the directory is never followed.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious"), b"keep").unwrap();
    std::fs::create_dir_all(home.join("git")).unwrap();
    std::os::unix::fs::symlink(outside.path(), home.join("git/db")).unwrap();
    let out = on_dir(&home)
        .args(["prune", "--source", "dir", "--id", "git/db", "--yes"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains("refusing"), "{all}");
    assert!(outside.path().join("precious").is_file());
}

#[test]
fn prune_partial_picks_only_entries_with_broken_parts() {
    let home = copy_of_home("partial");
    let reg = registry_name();
    std::fs::write(
        home.join("registry/src")
            .join(&reg)
            .join(ITOA)
            .join(".cargo-ok"),
        b"ok",
    )
    .unwrap();
    let out = on_dir(&home)
        .args(["prune", "--partial", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let planned: Vec<&str> = doc["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(planned, vec!["registry/src"]);
    assert_eq!(
        doc["planned"][0]["reasons"],
        json!(["partial: cargo.torn_marker"])
    );
}
