//! `cachetop prune` against the isolated daemon: exactly the chosen ids go, dry runs
//! and unconfirmed runs delete nothing, and the plan reads the same either way.

use crate::common;

use common::*;

fn mount(tag: &str) -> (String, String) {
    let target = format!("/cache/{}", unique(tag));
    build(&cache_mount_dockerfile(&target, 50_000));
    let id = api_mount_record(&target)["ID"]
        .as_str()
        .unwrap()
        .to_string();
    (target, id)
}

#[test]
fn deletes_exactly_the_chosen_id() {
    let _lock = deletion_lock();
    let (_, keep) = mount("keep");
    let (_, gone) = mount("gone");
    let before: Vec<String> = api_records()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();

    let out = cachetop_on_daemon()
        .args(["prune", "--id", &gone, "--yes", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["planned"].as_array().unwrap().len(), 1);
    assert_eq!(
        doc["deleted"],
        serde_json::json!([{"source": "docker", "id": gone}])
    );
    assert_eq!(doc["reclaimed_bytes"], 50_000);
    let cmd = doc["equivalent_commands"][0].as_str().unwrap();
    assert!(cmd.contains(&format!("'id=^{gone}$'")), "{cmd}");
    assert!(cmd.contains(&daemon().host), "{cmd}");

    assert!(
        api_record(&gone).is_none(),
        "the chosen record is still there"
    );
    assert!(api_record(&keep).is_some(), "another record was deleted");
    // Nothing else went either (records made by other tests meanwhile may have come).
    let after: Vec<String> = api_records()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();
    for id in before.iter().filter(|id| **id != gone) {
        assert!(after.contains(id), "{id} disappeared");
    }
}

#[test]
fn a_dry_run_deletes_nothing_and_prints_the_same_plan_as_the_real_run() {
    let _lock = deletion_lock();
    let (target, id) = mount("dry");
    let dry = cachetop_on_daemon()
        .args(["prune", "--mount-target", &target, "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    assert!(api_record(&id).is_some(), "a dry run deleted the record");
    let dry_text = text(&dry.stdout);
    assert!(dry_text.contains("Dry run: nothing deleted."), "{dry_text}");
    assert!(dry_text.contains(&id));
    assert!(
        dry_text.contains(&format!("mount target {target}")),
        "{dry_text}"
    );

    let real = cachetop_on_daemon()
        .args(["prune", "--mount-target", &target, "--yes"])
        .output()
        .unwrap();
    assert!(real.status.success(), "{}", text(&real.stderr));
    let real_text = text(&real.stdout);
    let plan_of = |t: &str, end: &str| t.split(end).next().unwrap().to_string();
    assert_eq!(
        plan_of(&dry_text, "Dry run:"),
        plan_of(&real_text, "Deleted "),
        "dry run and real run printed different plans"
    );
    assert!(real_text.contains("Deleted 1 of 1 planned"), "{real_text}");
    assert!(api_record(&id).is_none());
}

#[test]
fn without_yes_and_without_a_terminal_nothing_is_deleted() {
    let (_, id) = mount("noyes");
    let out = cachetop_on_daemon()
        .args(["prune", "--id", &id, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["dry_run"], true);
    assert_eq!(doc["planned"][0]["id"], id.as_str());
    assert_eq!(doc["deleted"], serde_json::json!([]));
    assert!(text(&out.stderr).contains("nothing deleted"));
    assert!(api_record(&id).is_some());
}

#[test]
fn stale_and_type_selectors_pick_only_matching_records() {
    let _lock = deletion_lock();
    let (target, id) = mount("stale");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (fresh_target, fresh) = mount("fresh");
    let out = cachetop_on_daemon()
        .args([
            "--stale-after",
            "2s",
            "prune",
            "--stale",
            "--type",
            "exec.cachemount",
            "--unused-for",
            "1s",
            "--dry-run",
            "--json",
        ])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let planned: Vec<&str> = doc["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert!(planned.contains(&id.as_str()), "{planned:?}");
    assert!(
        !planned.contains(&fresh.as_str()),
        "a fresh record was planned"
    );
    for p in doc["planned"].as_array().unwrap() {
        assert_eq!(p["kind"], "exec.cachemount");
        let reasons: Vec<&str> = p["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(
            reasons.iter().any(|r| r.starts_with("stale: last used")),
            "{reasons:?}"
        );
    }
    // Narrowed to our mount, it really goes, and the fresh one stays.
    let out = cachetop_on_daemon()
        .args([
            "--stale-after",
            "2s",
            "prune",
            "--stale",
            "--mount-target",
            &target,
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(api_record(&id).is_none());
    assert!(api_record(&fresh).is_some());
    let _ = fresh_target;
}

/// Two RUN steps exported to a tar, so no image shares their records: the second
/// step's record is a child of the first's. Returns (parent, child).
fn parent_and_child() -> (String, String) {
    let tag = unique("parent");
    build_with(
        &format!("FROM {BASE_IMAGE}\nRUN echo {tag} > /a\nRUN echo {tag} > /b\n"),
        &["-o", "type=tar,dest=/dev/null"],
    );
    let records = api_records();
    let find = |file: &str| {
        records
            .iter()
            .find(|r| {
                r["Description"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("echo {tag} > {file}"))
            })
            .unwrap_or_else(|| panic!("no record for the step writing {file}"))
    };
    let (parent, child) = (find("/a"), find("/b"));
    assert_eq!(child["Parent"], parent["ID"]);
    assert_eq!(parent["Shared"], false);
    (
        parent["ID"].as_str().unwrap().to_string(),
        child["ID"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_record_held_by_a_child_is_kept_with_the_reason() {
    let _lock = deletion_lock();
    let (parent, child) = parent_and_child();
    let out = cachetop_on_daemon()
        .args(["prune", "--id", &parent, "--yes", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["planned"], serde_json::json!([]));
    let reason = doc["skipped"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("has child records that stay ({child})")),
        "{reason}"
    );
    assert!(api_record(&parent).is_some());
}

#[test]
fn a_parent_goes_together_with_its_child_child_first() {
    let _lock = deletion_lock();
    let (parent, child) = parent_and_child();
    let out = cachetop_on_daemon()
        .args(["prune", "--id", &parent, &child, "--yes", "--json"])
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
    assert_eq!(planned, vec![child.as_str(), parent.as_str()]);
    assert_eq!(doc["deleted"].as_array().unwrap().len(), 2);
    assert!(api_record(&parent).is_none());
    assert!(api_record(&child).is_none());
}

#[test]
fn prune_without_a_selector_is_a_usage_error() {
    let out = cachetop_on_daemon()
        .args(["prune", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("never prunes everything"));
}

#[test]
fn read_only_refuses_to_prune() {
    let _lock = deletion_lock();
    let (_, id) = mount("ro");
    let out = cachetop_on_daemon()
        .args(["--read-only", "prune", "--id", &id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(api_record(&id).is_some());
}

/// Runs cachetop on a pseudo-terminal (util-linux `script`), typing `answer`.
fn on_a_terminal(args: &[&str], answer: &str) -> std::process::Output {
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let mut line = format!("{} --host {}", bin.display(), daemon().host);
    for a in args {
        line.push(' ');
        line.push_str(a);
    }
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env_remove("DOCKER_HOST")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{answer}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn on_a_terminal_it_asks_and_only_yes_deletes() {
    let _lock = deletion_lock();
    let (_, id) = mount("ask");
    let out = on_a_terminal(&["prune", "--id", &id], "n");
    let screen = text(&out.stdout);
    assert!(screen.contains("Delete 1 entry (50 kB)? [y/N]"), "{screen}");
    assert!(screen.contains("Nothing deleted."), "{screen}");
    assert!(api_record(&id).is_some(), "answering n deleted the record");

    let out = on_a_terminal(&["prune", "--id", &id], "");
    assert!(text(&out.stdout).contains("Nothing deleted."));
    assert!(
        api_record(&id).is_some(),
        "the default answer deleted the record"
    );

    let out = on_a_terminal(&["prune", "--id", &id], "y");
    let screen = text(&out.stdout);
    assert!(screen.contains("Deleted 1 of 1 planned"), "{screen}");
    assert!(api_record(&id).is_none());
}

#[test]
fn an_id_no_entry_has_is_named_and_fails_the_run() {
    let _lock = deletion_lock();
    let (_, id) = mount("known");
    let out = cachetop_on_daemon()
        .args(["prune", "--id", &id, "nosuchrecord", "--yes", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(
        doc["deleted"][0]["id"],
        id.as_str(),
        "the known id still goes"
    );
    assert_eq!(doc["skipped"][0]["id"], "nosuchrecord");
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("no entry has this id")
    );
    // With --json, stderr holds only warnings: the id that named nothing is one.
    assert!(
        text(&out.stderr).contains("cachetop: warning: nosuchrecord: no entry has this id"),
        "{}",
        text(&out.stderr)
    );
    assert!(api_record(&id).is_none());
}
