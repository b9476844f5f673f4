//! Values on the command line and in the config file that must be refused as usage
//! errors (exit 2, with a message that says what is allowed), never taken in a way that
//! widens what is pruned, hangs, fills memory or prints a secret (issue 9, "CLI
//! values"); and the numbers a script or a person reads: totals that add up, sizes
//! that print consistently.

use crate::common;
use crate::gha::fake as gha_fake;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use common::*;

/// A run that must be refused as a usage error; returns stderr.
fn usage_error(what: &str, out: &Output) -> String {
    assert_no_panic(out);
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: expected a usage error, got {:?}\nstdout:\n{}\nstderr:\n{err}",
        out.status.code(),
        text(&out.stdout)
    );
    assert!(!err.trim().is_empty(), "{what}: no message");
    err
}

/// cachetop on an empty directory only: nothing to contact, nothing to delete.
fn on_empty_dir(dir: &Path) -> assert_cmd::Command {
    let mut cmd = cachetop();
    cmd.arg("--no-docker").arg("--dir").arg(dir);
    cmd
}

// ---------------------------------------------------------------- durations

#[test]
fn zero_sub_second_and_absurd_durations_are_refused_with_the_allowed_range() {
    let dir = tempfile::tempdir().unwrap();
    for value in [
        "0s",
        "0d",
        "0m0s",
        "100ms",
        "999ms",
        "1500ms",
        "101y",
        "99999999999d",
        "18446744073709551615s",
    ] {
        let out = on_empty_dir(dir.path())
            .args(["--stale-after", value, "report"])
            .output()
            .unwrap();
        let err = usage_error(&format!("--stale-after {value}"), &out);
        assert!(err.contains("from 1s to 100 years"), "{value}: {err}");

        let out = on_empty_dir(dir.path())
            .args(["prune", "--unused-for", value, "--dry-run"])
            .output()
            .unwrap();
        let err = usage_error(&format!("--unused-for {value}"), &out);
        assert!(err.contains("from 1s to 100 years"), "{value}: {err}");
    }

    // The config file's value is held to the same range.
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "stale_after = \"0s\"\n").unwrap();
    let out = on_empty_dir(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("report")
        .output()
        .unwrap();
    let err = usage_error("stale_after = 0s", &out);
    assert!(
        err.contains("stale_after") && err.contains("from 1s to 100 years"),
        "{err}"
    );

    // The edges of the range are accepted.
    for (value, secs) in [("1s", 1u64), ("100y", 3_155_760_000)] {
        let out = on_empty_dir(dir.path())
            .args(["--stale-after", value, "report", "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{value}: {}", text(&out.stderr));
        assert_eq!(json_of(&out)["stale_after_secs"], secs);
    }
}

// ---------------------------------------------------------------- Docker hosts

#[test]
fn bad_or_empty_docker_hosts_are_usage_errors_from_every_place() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "hunter2-do-not-print";
    let with_password = format!("tcp://ci:{secret}@127.0.0.1:2375");
    for host in [
        "ftp://x",
        "unix://",
        "",
        " ",
        "tcp://",
        "tcp://:2375",
        "tcp://127.0.0.1:",
        "tcp://127.0.0.1:99999",
        "tcp://127.0.0.1:http",
        // ssh:// is read now; an option smuggled in as the host never reaches ssh.
        "ssh://-oProxyCommand=x",
        "ssh://box/path",
        "docker.sock",
        with_password.as_str(),
    ] {
        // An empty --host must never fall back to DOCKER_HOST: the daemon there is
        // never read.
        let out = cachetop()
            .env("DOCKER_HOST", &daemon().host)
            .args(["--host", host, "report"])
            .output()
            .unwrap();
        let err = usage_error(&format!("--host {host:?}"), &out);
        assert!(err.starts_with("cachetop: error: --host: "), "{err}");
        assert!(!err.contains(secret) && !err.contains("ci:"), "{err}");
        assert_eq!(text(&out.stdout), "", "nothing was read");
    }
    // Even when the daemon is not to be read, a bad flag is a mistake.
    let out = on_empty_dir(dir.path())
        .args(["--host", "ftp://x", "report"])
        .output()
        .unwrap();
    usage_error("--no-docker --host ftp://x", &out);

    // DOCKER_HOST, when it is used, names itself.
    for host in ["ftp://x", "unix://", with_password.as_str()] {
        let out = cachetop()
            .env("DOCKER_HOST", host)
            .arg("report")
            .output()
            .unwrap();
        let err = usage_error(&format!("DOCKER_HOST={host}"), &out);
        assert!(err.starts_with("cachetop: error: DOCKER_HOST: "), "{err}");
        assert!(!err.contains(secret), "{err}");
        // ... and only when it is used.
        let out = on_empty_dir(dir.path())
            .env("DOCKER_HOST", host)
            .arg("report")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }

    // The config file's host.
    for host in ["", "ftp://x", with_password.as_str()] {
        let config = dir.path().join("host.toml");
        std::fs::write(&config, format!("host = {host:?}\n")).unwrap();
        let out = cachetop()
            .env("DOCKER_HOST", &daemon().host)
            .arg("--config")
            .arg(&config)
            .arg("report")
            .output()
            .unwrap();
        let err = usage_error(&format!("host = {host:?}"), &out);
        assert!(err.contains("is not valid: host: "), "{err}");
        assert!(!err.contains(secret), "{err}");
    }
}

// ---------------------------------------------------------------- selectors

#[test]
fn empty_ids_and_types_and_relative_mount_targets_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["prune", "--id", "", "--dry-run"], "an id cannot be empty"),
        (
            &["prune", "--id", "a", "", "--dry-run"],
            "an id cannot be empty",
        ),
        (&["repair", "", "--dry-run"], "an id cannot be empty"),
        (
            &["prune", "--type", "", "--dry-run"],
            "a type cannot be empty",
        ),
        (
            &["prune", "--type", "  ", "--dry-run"],
            "a type cannot be empty",
        ),
        (
            &["prune", "--mount-target", "root/.cargo", "--dry-run"],
            "absolute path",
        ),
        (
            &["prune", "--mount-target", "", "--dry-run"],
            "absolute path",
        ),
    ];
    for (args, message) in cases {
        let out = on_empty_dir(dir.path()).args(args).output().unwrap();
        let err = usage_error(&format!("{args:?}"), &out);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[test]
fn repeated_mount_targets_are_alternatives() {
    let tag = unique("mt");
    let targets: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|x| format!("/cache/{tag}-{x}"))
        .collect();
    let mut dockerfile = format!("FROM {BASE_IMAGE}\n");
    for t in &targets {
        dockerfile.push_str(&format!(
            "RUN --mount=type=cache,target={t} head -c 100 /dev/zero > {t}/data\n"
        ));
    }
    build(&dockerfile);
    let ids: Vec<String> = targets
        .iter()
        .map(|t| api_mount_record(t)["ID"].as_str().unwrap().to_string())
        .collect();

    let out = cachetop_on_daemon()
        .args(["prune", "--dry-run", "--json", "--mount-target"])
        .arg(&targets[0])
        .arg("--mount-target")
        .arg(format!("{}/", targets[1]))
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let planned: BTreeSet<String> = json_of(&out)["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        planned,
        BTreeSet::from([ids[0].clone(), ids[1].clone()]),
        "exactly the two named mounts, never the third"
    );
    let doc = json_of(&out);
    let reasons = doc["planned"].to_string();
    assert!(
        reasons.contains(&format!("mount target {}", targets[1])),
        "{reasons}"
    );
}

// ---------------------------------------------------------------- the config file

/// cachetop limited to 4 GiB of address space and 20 s: a config read that is not
/// bounded fails here instead of taking the machine's memory or hanging the test.
fn bounded_cachetop(config: &Path) -> assert_cmd::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("cachetop"));
    cmd.env_remove("DOCKER_HOST")
        .env("XDG_CONFIG_HOME", "/nonexistent-cachetop-config")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .arg("--no-docker")
        .arg("--config")
        .arg(config)
        .arg("report");
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(Duration::from_secs(20));
    cmd
}

#[test]
fn config_reads_only_a_small_regular_utf8_file_and_never_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 2 << 20]).unwrap();
    let latin1 = dir.path().join("latin1.toml");
    std::fs::write(&latin1, b"# caf\xe9\nstale_after = \"7d\"\n").unwrap();
    let cases: [(&Path, &str); 6] = [
        (
            Path::new("/dev/zero"),
            "a character device, not a regular file",
        ),
        (
            Path::new("/dev/urandom"),
            "a character device, not a regular file",
        ),
        (&fifo, "a FIFO, not a regular file"),
        (dir.path(), "a directory, not a regular file"),
        (&big, "larger than 1024 KiB"),
        (&latin1, "not UTF-8"),
    ];
    for (path, message) in cases {
        let started = std::time::Instant::now();
        let out = bounded_cachetop(path).output().unwrap();
        let err = usage_error(&format!("--config {}", path.display()), &out);
        assert!(err.contains("cannot read config file"), "{err}");
        assert!(err.contains(message), "{}: {err}", path.display());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
    }
}

#[test]
fn each_os_error_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = Path::new("/etc/passwd/cachetop.toml");
    for path in [not_a_dir, &dir.path().join("missing.toml"), dir.path()] {
        let out = cachetop()
            .arg("--config")
            .arg(path)
            .arg("report")
            .output()
            .unwrap();
        let err = usage_error(&format!("--config {}", path.display()), &out);
        assert!(err.matches("os error").count() <= 1, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for cause in ["Not a directory", "No such file", "a directory"] {
            assert!(err.matches(cause).count() <= 1, "{err}");
        }
    }
}

#[test]
fn a_toml_error_gives_line_and_column_and_a_short_excerpt() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("long.toml");
    let long_line = format!("host = {}\n", "x".repeat(200_000));
    std::fs::write(&config, format!("stale_after = \"7d\"\n{long_line}")).unwrap();
    let out = cachetop()
        .arg("--config")
        .arg(&config)
        .arg("report")
        .output()
        .unwrap();
    let err = usage_error("a 200 KB line", &out);
    assert!(err.contains("line 2, column 8"), "{err}");
    assert!(err.contains("host = xxx"), "{err}");
    assert!(
        err.len() < 1_000,
        "{} bytes of error: the line is echoed",
        err.len()
    );
}

// ---------------------------------------------------------------- numbers

/// A cargo home whose `.global-cache` records other sizes than the disk holds now.
fn cargo_home_with_recorded_sizes(home: &Path) {
    let src = home.join("registry/src/index.crates.io-1949cf8c6b5b557f/a-1.0.0");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(".cargo-ok"), "{\"v\":1}").unwrap();
    std::fs::write(src.join("lib.rs"), vec![b'/'; 50_000]).unwrap();
    let cache = home.join("registry/cache/index.crates.io-1949cf8c6b5b557f");
    std::fs::create_dir_all(&cache).unwrap();
    let now = chrono::Utc::now().timestamp();
    let db = rusqlite::Connection::open(home.join(".global-cache")).unwrap();
    db.execute_batch(&format!(
        "CREATE TABLE registry_index (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, timestamp INTEGER NOT NULL);
         CREATE TABLE registry_crate (registry_id INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, timestamp INTEGER NOT NULL, PRIMARY KEY (registry_id, name));
         CREATE TABLE registry_src (registry_id INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER, timestamp INTEGER NOT NULL, PRIMARY KEY (registry_id, name));
         CREATE TABLE git_db (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL, timestamp INTEGER NOT NULL);
         CREATE TABLE git_checkout (git_id INTEGER NOT NULL, name TEXT UNIQUE NOT NULL, size INTEGER, timestamp INTEGER NOT NULL, PRIMARY KEY (git_id, name));
         CREATE TABLE global_data (last_auto_gc INTEGER NOT NULL);
         INSERT INTO registry_index VALUES (1, 'index.crates.io-1949cf8c6b5b557f', {now});
         INSERT INTO registry_src VALUES (1, 'a-1.0.0', 900, {now});"
    ))
    .unwrap();
}

#[test]
fn totals_are_sums_of_fields_every_entry_shows() {
    let dir = tempfile::tempdir().unwrap();
    cargo_home_with_recorded_sizes(dir.path());
    let out = on_empty_dir(dir.path())
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/report.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");

    let entries = doc["entries"].as_array().unwrap();
    let sum = |field: &str| -> u64 { entries.iter().map(|e| e[field].as_u64().unwrap()).sum() };
    let src = entry(&doc, "registry/src");
    assert_eq!(src["size_bytes"], 900, "recorded by cargo");
    assert!(
        src["disk_bytes"].as_u64().unwrap() >= 50_000,
        "measured: {src:#}"
    );
    assert_eq!(src["effective_bytes"], src["disk_bytes"]);
    let totals = &doc["totals"];
    assert_eq!(totals["size_bytes"], sum("effective_bytes"), "{doc:#}");
    assert_eq!(totals["reported_bytes"], sum("size_bytes"), "{doc:#}");
    assert_ne!(totals["size_bytes"], totals["reported_bytes"]);
}

#[test]
fn sizes_print_consistently_at_unit_boundaries() {
    const TOKEN: &str = "ghp_CachetopSizes0123456789abcdefABCDEF42";
    let t = chrono::Utc::now() - chrono::Duration::days(1);
    let caches: Vec<gha_fake::Cache> = [999u64, 999_999, 999_994, 999_999_999, 1_000_000_000]
        .iter()
        .enumerate()
        .map(|(i, &size)| gha_fake::Cache {
            id: 100 + i as u64,
            git_ref: "refs/heads/main".into(),
            key: format!("size-{size}"),
            version: format!("{:064x}", 1),
            last_accessed_at: t,
            created_at: t,
            size_in_bytes: size,
        })
        .collect();
    let server = gha_fake::FakeServer::start(gha_fake::GithubFake::new("octo/app", TOKEN, caches));
    let out = cachetop()
        .env("GITHUB_TOKEN", TOKEN)
        .args(["--no-docker", "--gha", "octo/app", "--github-api-url"])
        .arg(server.url())
        .arg("report")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let size_of = |key: &str| -> String {
        let row = table
            .lines()
            .find(|l| l.ends_with(key))
            .unwrap_or_else(|| panic!("no row {key}:\n{table}"));
        // SOURCE TYPE SIZE...: the size is the number and unit after the type.
        let cols: Vec<&str> = row.split_whitespace().collect();
        format!("{} {}", cols[2], cols[3])
    };
    assert_eq!(size_of("size-999"), "999 B");
    assert_eq!(size_of("size-999999"), "1 MB");
    assert_eq!(size_of("size-999994"), "999.99 kB");
    assert_eq!(size_of("size-999999999"), "1 GB");
    assert_eq!(size_of("size-1000000000"), "1 GB");
}
