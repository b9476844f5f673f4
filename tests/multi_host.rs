//! Many Docker hosts in one view, through the cachetop binary: the isolated daemon and
//! the second one (scripts/test-daemon.sh, scripts/test-buildkit.sh), a host nobody
//! listens on and one that accepts and never answers. Each host's entries are checked
//! against that daemon's own `/system/df`, each prune against what is left there.

use crate::common;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::buildkit::*;
use common::remote::*;
use common::tmux::{self, Tmux};
use common::*;
use serde_json::Value;

/// A tcp host that accepts connections and never answers: a daemon that hangs.
fn hanging_host() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    format!("tcp://{addr}")
}

/// A unix socket path nobody listens on: a daemon that is down.
fn down_host(dir: &Path) -> String {
    format!("unix://{}", dir.join("down.sock").display())
}

/// The ids of a daemon's build-cache records, as cachetop's entries of that host
/// (docker records only: state volumes are not /system/df records).
fn record_ids_of(doc: &Value, host: &str) -> BTreeSet<String> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["host"] == host && e["source"] == "docker")
        .filter(|e| e["kind"] != "buildx.state-volume")
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// The id of the cache mount record `build_cache_mounts_on(_, tag, 1)` left at a
/// daemon's socket.
fn mount_record_at(socket: &Path, tag: &str) -> String {
    let needle = format!("cached mount /cache/{tag}-0 from exec");
    df_records_at(socket)
        .into_iter()
        .find(|(_, r)| {
            r["Description"]
                .as_str()
                .is_some_and(|d| d.starts_with(&needle))
        })
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no cache mount record for {tag} at {}", socket.display()))
}

/// The same build on both local daemons: alike records, each with an id of its own.
/// The cache mount record's id on the test daemon, then on the second one.
fn alike_mounts_on_both(tag: &str) -> (String, String) {
    let (main, second) = (daemon(), buildkit_parts());
    build_cache_mounts_on(&main.host, tag, 1);
    build_cache_mounts_on(&second.docker_host, tag, 1);
    let ids = (
        mount_record_at(&main.socket, tag),
        mount_record_at(&second.docker_socket, tag),
    );
    assert_ne!(ids.0, ids.1);
    ids
}

/// A real `prune --json` planned and printed what its dry run did, and deleted the
/// one record `victim`, on `host`.
fn real_run_did_the_dry_run(done: &Value, dry: &Value, victim: &str, host: &str) {
    assert_eq!(
        done["planned"], dry["planned"],
        "the real run planned otherwise"
    );
    assert_eq!(
        done["equivalent_commands"], dry["equivalent_commands"],
        "the real run printed other commands"
    );
    let deleted = done["deleted"].as_array().unwrap();
    assert_eq!(deleted.len(), 1, "{done:#}");
    assert_eq!(deleted[0]["id"], victim);
    assert_eq!(deleted[0]["host"], host);
}

/// Runs a `report --json` that a failed host makes exit 1: its document, and how
/// long it took.
fn failing_report(mut cmd: assert_cmd::Command) -> (Value, Duration) {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    let took = start.elapsed();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    (json_of(&out), took)
}

/// The line of a report table that heads a host's sources.
fn host_heading(table: &str, host: &str) -> String {
    table
        .lines()
        .find(|l| l.starts_with(&format!("[{host}] ")))
        .unwrap_or_else(|| panic!("no heading for {host}:\n{table}"))
        .to_string()
}

fn source_of<'a>(doc: &'a Value, host: &str) -> &'a Value {
    doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "docker" && s["name"] == host)
        .unwrap_or_else(|| panic!("no docker source {host} in {doc:#}"))
}

#[test]
fn report_lists_every_host_names_the_failed_ones_and_exits_1_within_the_timeout() {
    let main = daemon();
    let second = buildkit_parts();
    let tag = unique("hosts");
    build_cache_mounts_on(&main.host, &format!("{tag}-a"), 1);
    build_cache_mounts_on(&second.docker_host, &format!("{tag}-b"), 1);
    let dir = tempfile::tempdir().unwrap();
    let down = down_host(dir.path());
    let hang = hanging_host();
    let hosts = [
        main.host.as_str(),
        second.docker_host.as_str(),
        down.as_str(),
        hang.as_str(),
    ];
    let run = |json: bool| {
        let mut cmd = cachetop();
        for h in hosts {
            cmd.args(["--host", h]);
        }
        cmd.args(["--host-timeout", "3s", "report", "--no-scan"]);
        if json {
            cmd.arg("--json");
        }
        let start = Instant::now();
        let out = cmd.output().unwrap();
        (out, start.elapsed())
    };
    // Read while both daemons' records hold still, so each listing can be compared
    // with the daemon's own.
    let ((doc, out, took), main_records) = settled(&main.socket, || {
        let ((out, took), second_records) = settled(&second.docker_socket, || run(true));
        assert_no_panic(&out);
        let doc = json_of(&out);
        let listed = record_ids_of(&doc, &second.docker_host);
        let want: BTreeSet<String> = second_records.keys().cloned().collect();
        assert_eq!(
            listed, want,
            "the second host's entries are not its daemon's records one for one"
        );
        (doc, out, took)
    });
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed host makes the report exit 1"
    );
    let want: BTreeSet<String> = main_records.keys().cloned().collect();
    assert_eq!(
        record_ids_of(&doc, &main.host),
        want,
        "the first host's entries are not its daemon's records one for one"
    );
    assert!(
        took < Duration::from_secs(20),
        "the hanging host held the report for {took:?} (timeout 3s)"
    );

    // Every host is a source of its own, named with its host, in the order given.
    let names: Vec<&str> = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "docker")
        .map(|s| s["host"].as_str().unwrap())
        .collect();
    assert_eq!(names, hosts);
    for ok in [&main.host, &second.docker_host] {
        let s = source_of(&doc, ok);
        assert_eq!(s["ok"], true, "{s:#}");
    }
    let s = source_of(&doc, &down);
    assert_eq!(s["ok"], false);
    assert!(
        s["error"].as_str().unwrap().contains("down.sock"),
        "the failure does not name the host: {s:#}"
    );
    let s = source_of(&doc, &hang);
    assert_eq!(
        s["error"],
        format!("no answer from the Docker host {hang} within 3s (--host-timeout)")
    );
    let err = text(&out.stderr);
    assert!(err.contains(&down) && err.contains(&hang), "{err}");
    // Each entry says which host it is on.
    assert!(
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["host"] == main.host.as_str() || e["host"] == second.docker_host.as_str()),
        "an entry of no host or of a failed one: {doc:#}"
    );

    // The table groups by host: a heading per host, failures on theirs.
    let (out, _) = run(false);
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    let heading = |h: &str| host_heading(&table, h);
    assert!(!heading(&main.host).contains("FAILED"), "{table}");
    assert!(heading(&down).contains("FAILED"), "{table}");
    assert!(
        heading(&hang).contains("FAILED: docker no answer"),
        "{table}"
    );
    let b_row = table
        .lines()
        .position(|l| l.contains(&format!("/cache/{tag}-b-0")))
        .unwrap_or_else(|| panic!("no row of the second host's mount:\n{table}"));
    let b_heading = table
        .lines()
        .position(|l| l.starts_with(&format!("[{}] ", second.docker_host)))
        .unwrap();
    let next_heading = table
        .lines()
        .position(|l| l.starts_with(&format!("[{down}] ")))
        .unwrap();
    assert!(
        b_heading < b_row && b_row < next_heading,
        "the second host's row is not under its heading:\n{table}"
    );
}

#[test]
fn prune_by_id_deletes_on_the_one_host_that_has_it_after_the_same_plan_as_the_dry_run() {
    let _lock = deletion_lock();
    let main = daemon();
    let second = buildkit_parts();
    let (kept, victim) = alike_mounts_on_both(&unique("hosts-prune"));
    let prune = |extra: &[&str]| {
        let mut cmd = cachetop();
        cmd.args(["--host", &main.host, "--host", &second.docker_host]);
        cmd.args(["prune", "--id", &victim]).args(extra);
        let out = cmd.output().unwrap();
        assert_no_panic(&out);
        out
    };

    let dry = prune(&["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let plan = text(&dry.stdout);
    assert!(
        plan.contains(&format!(" [{}] 1 entry", second.docker_host)),
        "the plan does not name the host it deletes on:\n{plan}"
    );
    assert!(!plan.contains(&format!(" [{}]", main.host)), "{plan}");
    let command = format!(
        "docker -H {} builder prune --force --filter 'id=^{victim}$'",
        second.docker_host
    );
    assert!(
        plan.contains(&command),
        "no exact command for its host:\n{plan}"
    );

    let dry_json = json_of(&prune(&["--dry-run", "--json"]));
    let planned = dry_json["planned"].as_array().unwrap();
    assert_eq!(planned.len(), 1, "{dry_json:#}");
    assert_eq!(planned[0]["id"], victim.as_str());
    assert_eq!(planned[0]["host"], second.docker_host.as_str());

    let real = prune(&["--yes", "--json"]);
    assert_eq!(real.status.code(), Some(0), "{}", text(&real.stderr));
    real_run_did_the_dry_run(&json_of(&real), &dry_json, &victim, &second.docker_host);
    assert!(
        !df_records_at(&second.docker_socket).contains_key(&victim),
        "the record is still on the second host"
    );
    assert!(
        df_records_at(&main.socket).contains_key(&kept),
        "the alike record of the other host went too"
    );
}

#[test]
fn the_screen_shows_a_host_column_and_both_hosts_records() {
    let main = daemon();
    let second = buildkit_parts();
    let tag = unique("hosts-tui");
    build_cache_mounts_on(&main.host, &format!("{tag}-a"), 1);
    build_cache_mounts_on(&second.docker_host, &format!("{tag}-b"), 1);
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let command = format!(
        "{} --host {} --host {}",
        bin.display(),
        main.host,
        second.docker_host
    );
    let line = format!(
        "env -u DOCKER_HOST -u NO_COLOR CACHETOP_NO_BUILDERS=1 XDG_CONFIG_HOME=/nonexistent \
         CARGO_HOME={NO_CARGO_HOME} {}",
        tmux::pane_line(&dir.path().join("pid"), &command)
    );
    let t = Tmux::start(200, 50, &line);
    t.wait_for("the table", |s| s.contains("MOUNT / DESCRIPTION"));
    // Only this test's two mounts.
    t.keys(&["/"]);
    t.type_text(&tag);
    t.keys(&["Enter"]);
    let screen = t.wait_for("both hosts' mounts", |s| {
        s.contains(&format!("/cache/{tag}-a-0")) && s.contains(&format!("/cache/{tag}-b-0"))
    });
    let head = screen
        .lines()
        .find(|l| l.contains("MOUNT / DESCRIPTION"))
        .unwrap();
    assert!(head.contains("HOST"), "no HOST column: {head:?}\n{screen}");
    let row = |target: &str| {
        screen
            .lines()
            .find(|l| l.contains(target))
            .unwrap()
            .to_string()
    };
    let a = row(&format!("/cache/{tag}-a-0"));
    let b = row(&format!("/cache/{tag}-b-0"));
    // The second daemon's socket is in a directory ending in -bk (test-buildkit.sh).
    assert!(b.contains("-bk/docker.sock"), "{b:?}");
    assert!(
        a.contains("docker.sock") && !a.contains("-bk/docker.sock"),
        "{a:?}"
    );
    // The header has a line per host.
    let header_hosts = screen
        .lines()
        .take(6)
        .filter(|l| l.contains("docker.sock") && l.contains("entries"))
        .count();
    assert_eq!(header_hosts, 2, "not a header line per host:\n{screen}");
    t.keys(&["q"]);
    t.wait_for("cachetop to exit", |s| s.contains("cachetop exited 0"));
}

/// cachetop reaching `hosts`, its plain `ssh` reading the test's ssh config.
fn over_hosts(hosts: &[&str]) -> assert_cmd::Command {
    let mut cmd = cachetop_with_ssh();
    for h in hosts {
        cmd.args(["--host", h]);
    }
    cmd
}

#[test]
fn three_hosts_one_over_ssh_one_down_list_the_two_name_the_failure_and_exit_1() {
    let main = daemon();
    let second = buildkit_parts();
    let s = ssh();
    let tag = unique("three");
    build_cache_mounts_on(&main.host, &format!("{tag}-a"), 1);
    build_cache_mounts_on(&second.docker_host, &format!("{tag}-b"), 1);
    let dir = tempfile::tempdir().unwrap();
    let down = down_host(dir.path());
    // The isolated daemon over ssh, the second one by its socket, one that is down.
    let hosts = [s.host.as_str(), second.docker_host.as_str(), down.as_str()];
    let run = || {
        let out = over_hosts(&hosts)
            .args(["report", "--json", "--no-scan"])
            .output()
            .unwrap();
        assert_no_panic(&out);
        out
    };
    let ((doc, out), main_records) = settled(&main.socket, || {
        let (out, second_records) = settled(&second.docker_socket, run);
        let doc = json_of(&out);
        let want: BTreeSet<String> = second_records.keys().cloned().collect();
        assert_eq!(
            record_ids_of(&doc, &second.docker_host),
            want,
            "the unix host's entries are not its daemon's records one for one"
        );
        (doc, out)
    });
    assert_eq!(
        out.status.code(),
        Some(1),
        "a host that is down makes the report exit 1"
    );
    let want: BTreeSet<String> = main_records.keys().cloned().collect();
    assert!(!want.is_empty());
    assert_eq!(
        record_ids_of(&doc, &s.host),
        want,
        "the ssh host's entries are not its daemon's records one for one"
    );
    // The two daemons' records are apart: none is listed under the other's host.
    let second_ids = record_ids_of(&doc, &second.docker_host);
    assert!(want.is_disjoint(&second_ids), "{doc:#}");

    let names: Vec<&str> = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "docker")
        .map(|x| x["host"].as_str().unwrap())
        .collect();
    assert_eq!(names, hosts, "not a docker source per host, in order");
    for ok in [&s.host, &second.docker_host] {
        let src = source_of(&doc, ok);
        assert_eq!(src["ok"], true, "{src:#}");
        assert_eq!(src["host"], ok.as_str());
    }
    let src = source_of(&doc, &down);
    assert_eq!(src["ok"], false);
    assert_eq!(src["host"], down.as_str());
    let error = src["error"].as_str().unwrap();
    assert!(
        error.contains("down.sock"),
        "the failure does not name the host: {src:#}"
    );
    assert!(
        text(&out.stderr).contains(&down),
        "stderr does not name the failed host: {}",
        text(&out.stderr)
    );
    for e in doc["entries"].as_array().unwrap() {
        assert!(
            e["host"] == s.host.as_str() || e["host"] == second.docker_host.as_str(),
            "an entry of no host or of the failed one: {e:#}"
        );
    }
    // Records of the ssh host are on another machine: no content is looked for here.
    let a = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["host"] == s.host.as_str()
                && e["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(&format!("/cache/{tag}-a-0")))
        })
        .unwrap_or_else(|| panic!("no entry of the ssh host's mount: {doc:#}"));
    assert_eq!(a["disk_bytes"], Value::Null, "{a:#}");

    // With discovery on, the ssh host's builder container is found and read through
    // that host, and named with it.
    let p = buildkit_parts();
    let out = over_hosts(&hosts)
        .env_remove("CACHETOP_NO_BUILDERS")
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let builder = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] != "docker" && x["name"].as_str().unwrap().contains(&p.builder))
        .unwrap_or_else(|| {
            panic!(
                "the ssh host's builder {} was not found: {doc:#}",
                p.builder
            )
        });
    assert_eq!(builder["host"], s.host.as_str(), "{builder:#}");
    assert_eq!(builder["ok"], true, "{builder:#}");

    // The table: a heading per host, the failure on the down one's.
    let out = over_hosts(&hosts)
        .args(["report", "--no-scan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = text(&out.stdout);
    let heading = |h: &str| host_heading(&table, h);
    assert!(!heading(&s.host).contains("FAILED"), "{table}");
    assert!(!heading(&second.docker_host).contains("FAILED"), "{table}");
    assert!(heading(&down).contains("FAILED"), "{table}");
    let a_row = table
        .lines()
        .position(|l| l.contains(&format!("/cache/{tag}-a-0")))
        .unwrap_or_else(|| panic!("no row of the ssh host's mount:\n{table}"));
    let a_heading = table
        .lines()
        .position(|l| l.starts_with(&format!("[{}] ", s.host)))
        .unwrap();
    let b_heading = table
        .lines()
        .position(|l| l.starts_with(&format!("[{}] ", second.docker_host)))
        .unwrap();
    assert!(
        a_heading < a_row && a_row < b_heading,
        "the ssh host's row is not under its heading:\n{table}"
    );
}

/// The daemon `docker -H HOST` reaches, by its root directory (each isolated daemon
/// has its own; their IDs come from one machine-wide key), with the test's ssh on PATH.
fn daemon_root(host: &str) -> String {
    let s = ssh();
    let path = std::env::var("PATH").unwrap_or_default();
    let out = std::process::Command::new(DOCKER_CLI)
        .env("PATH", format!("{}:{path}", s.bin.display()))
        .env_remove("DOCKER_CONTEXT")
        .args(["-H", host, "info", "--format", "{{.DockerRootDir}}"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker -H {host} info: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

#[test]
fn prune_by_id_over_ssh_deletes_it_there_only_and_prints_a_command_for_that_host() {
    let _lock = deletion_lock();
    let main = daemon();
    let second = buildkit_parts();
    let s = ssh();
    let tag = unique("three-prune");
    let (victim, kept) = alike_mounts_on_both(&tag);
    // Builds hold their records for a moment after they end, and a daemon building
    // something else may leave a record out of one listing: compare listings that
    // hold still. Only this test's builds are compared: other tests prune on the
    // same daemons meanwhile (what cachetop deleted is checked by its own answer).
    let records = |socket: &Path| -> BTreeSet<String> {
        settled(socket, || ())
            .1
            .into_iter()
            .filter(|(_, r)| r["Description"].as_str().is_some_and(|d| d.contains(&tag)))
            .map(|(id, _)| id)
            .collect()
    };
    let before_main = records(&main.socket);
    let before_second = records(&second.docker_socket);
    // The mount and what else the build left: something to stay beside the victim.
    assert!(
        before_main.contains(&victim) && before_main.len() > 1,
        "{before_main:?}"
    );
    assert!(
        before_second.contains(&kept) && before_second.len() > 1,
        "{before_second:?}"
    );
    let prune = |extra: &[&str]| {
        let out = over_hosts(&[&s.host, &second.docker_host])
            .args(["prune", "--id", &victim])
            .args(extra)
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        out
    };

    let plan = text(&prune(&["--dry-run"]).stdout);
    assert!(
        plan.contains(&format!(" [{}] 1 entry", s.host)),
        "the plan does not name the ssh host:\n{plan}"
    );
    assert!(
        !plan.contains(&format!(" [{}]", second.docker_host)),
        "{plan}"
    );
    let command = format!(
        "docker -H {} builder prune --force --filter 'id=^{victim}$'",
        s.host
    );
    assert!(
        plan.contains(&command),
        "no exact command for the ssh host:\n{plan}"
    );
    // What that command's `docker -H` reaches is the daemon the record is on.
    assert_eq!(daemon_root(&s.host), daemon_root(&main.host));
    assert_ne!(daemon_root(&s.host), daemon_root(&second.docker_host));

    let dry = json_of(&prune(&["--dry-run", "--json"]));
    assert_eq!(dry["planned"].as_array().unwrap().len(), 1, "{dry:#}");
    assert_eq!(dry["planned"][0]["id"], victim.as_str());
    assert_eq!(dry["planned"][0]["host"], s.host.as_str());
    assert_eq!(dry["equivalent_commands"], serde_json::json!([command]));
    assert!(
        df_records_at(&main.socket).contains_key(&victim),
        "a dry run deleted the record"
    );

    real_run_did_the_dry_run(
        &json_of(&prune(&["--yes", "--json"])),
        &dry,
        &victim,
        &s.host,
    );
    let after_main = records(&main.socket);
    assert!(!after_main.contains(&victim), "the record is still there");
    for id in before_main.iter().filter(|id| **id != victim) {
        assert!(
            after_main.contains(id),
            "{id} disappeared from the ssh host"
        );
    }
    let after_second = records(&second.docker_socket);
    assert!(
        after_second.contains(&kept),
        "the alike record of the other host went too"
    );
    for id in &before_second {
        assert!(
            after_second.contains(id),
            "{id} disappeared from the unix host"
        );
    }
}

#[test]
fn a_context_with_a_host_is_refused_as_a_usage_error() {
    let out = cachetop()
        .args([
            "--context",
            "ci-east",
            "--host",
            "unix:///nonexistent/cachetop.sock",
        ])
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("--context") && err.contains("give either --host or --context, not both"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

#[test]
fn an_ssh_host_that_never_answers_costs_one_timeout_even_while_builders_are_looked_for() {
    let s = ssh();
    // sshd's address with its user, at a port that accepts and never says a word.
    let user = s.url["ssh://".len()..].split('@').next().unwrap();
    let hang = hanging_host().replace("tcp://", &format!("ssh://{user}@"));
    let mut cmd = over_hosts(&[&s.host, &hang]);
    cmd.env_remove("CACHETOP_NO_BUILDERS").args([
        "--host-timeout",
        "10s",
        "report",
        "--json",
        "--no-scan",
    ]);
    let (doc, took) = failing_report(cmd);
    assert_eq!(source_of(&doc, &s.host)["ok"], true);
    assert_eq!(
        source_of(&doc, &hang)["error"],
        format!("no answer from the Docker host {hang} within 10s (--host-timeout)")
    );
    // Looking for its builders (bounded at 5s) and listing it share the 10s: the
    // listing does not start a timeout of its own after it.
    assert!(
        took < Duration::from_secs(14),
        "the hanging ssh host held the report for {took:?} (timeout 10s)"
    );
}

#[test]
fn no_hosts_root_directory_is_ever_emptied_as_a_dir() {
    let main = daemon();
    let second = buildkit_parts();
    let root = std::path::PathBuf::from(daemon_root(&second.docker_host));
    let before = std::fs::read_dir(&root).unwrap().count();
    let home = tempfile::tempdir().unwrap();
    // The second daemon's root, given as a cache directory while both are read.
    let prune = |extra: &[&str]| {
        let out = cachetop()
            .env("HOME", home.path())
            .args(["--host", &main.host, "--host", &second.docker_host])
            .args(["--dir", root.to_str().unwrap()])
            .args(["prune", "--source", "dir"])
            .args(extra)
            .output()
            .unwrap();
        assert_no_panic(&out);
        out
    };
    for extra in [&["--dry-run"][..], &["--yes"]] {
        let out = prune(extra);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("it is Docker's root directory"),
            "{}",
            text(&out.stderr)
        );
    }
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), before);
    // The daemon still answers from the same root.
    assert_eq!(daemon_root(&second.docker_host), root.to_str().unwrap());
}

#[test]
fn a_hanging_host_holds_a_cache_directory_no_longer_than_its_timeout() {
    let hang = hanging_host();
    let cache = tempfile::tempdir().unwrap();
    std::fs::create_dir(cache.path().join("pkg")).unwrap();
    std::fs::write(cache.path().join("pkg/blob"), vec![7u8; 4096]).unwrap();
    let mut cmd = cachetop();
    cmd.args(["--host", &daemon().host, "--host", &hang])
        .args(["--dir", cache.path().to_str().unwrap()])
        .args(["--host-timeout", "1s", "report", "--json", "--no-scan"]);
    let (doc, took) = failing_report(cmd);
    let dir = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "dir")
        .unwrap_or_else(|| panic!("no dir source in {doc:#}"));
    assert_eq!(dir["ok"], true, "{dir:#}");
    // The directory waits for the hosts' root directories (it must never empty one),
    // but no longer than --host-timeout: before, 5 s whatever the timeout.
    assert!(
        took < Duration::from_millis(4500),
        "the hanging host held the report for {took:?} (timeout 1s)"
    );
}
