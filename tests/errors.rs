//! Failures a user must be able to act on: a clear message, the documented exit
//! code, never a panic or a debug dump.

use crate::common;

use common::replay::{PruneBehaviour, Replay, ReplayServer, synthetic_df};
use common::*;

#[test]
fn no_daemon_at_the_address() {
    let out = cachetop()
        .args([
            "--host",
            "unix:///tmp/cachetop-no-such.sock",
            "report",
            "--json",
        ])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("no Docker daemon at unix:///tmp/cachetop-no-such.sock"),
        "{err}"
    );
    assert!(err.contains("--host or DOCKER_HOST"), "{err}");
    // The document still comes out, naming the failed source.
    let doc = json_of(&out);
    assert_eq!(doc["sources"][0]["ok"], false);
    assert!(
        doc["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("no Docker daemon")
    );
    assert_eq!(doc["entries"], serde_json::json!([]));

    let refused = cachetop()
        .args(["--host", "tcp://127.0.0.1:9", "report"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("connection refused"));
}

#[test]
fn docker_host_from_the_environment_is_used() {
    let out = cachetop()
        .env("DOCKER_HOST", "unix:///tmp/cachetop-env-host.sock")
        .arg("report")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unix:///tmp/cachetop-env-host.sock"));
}

#[test]
fn permission_denied_on_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let host = format!("unix://{}", path.display());
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    // Root ignores socket permissions, so drop to nobody for this one.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        std::process::Command::new(&bin)
    };
    let out = cmd
        .args(["--host", &host, "report"])
        .env_remove("DOCKER_HOST")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("CARGO_HOME", NO_CARGO_HOME)
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("permission denied on the Docker socket"),
        "{err}"
    );
    assert!(err.contains("docker group"), "{err}");
}

#[test]
fn an_api_too_old_for_build_cache_listing() {
    let server = ReplayServer::start(Replay::new("1.30", synthetic_df(3)));
    let out = cachetop()
        .args(["--host", &server.host(), "report"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("speaks API 1.30, older than 1.39"), "{err}");
    assert!(err.contains("upgrade the engine"), "{err}");
    // And a prune is never sent to it.
    let out = cachetop()
        .args([
            "--host",
            &server.host(),
            "prune",
            "--source",
            "docker",
            "--yes",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(server.prunes.lock().unwrap().is_empty());
}

#[test]
fn a_malformed_answer() {
    for body in [
        &br#"{"BuildCache":[{"ID":42}]}"#[..],
        b"<html>bad gateway</html>",
        br#"{"BuildCache":[{"ID":"a","Size":1"#,
    ] {
        let server = ReplayServer::start(Replay::new("1.41", body.to_vec()));
        let out = cachetop()
            .args(["--host", &server.host(), "report"])
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.contains("sent an answer to /system/df that cachetop cannot read"),
            "{err}"
        );
    }
}

#[test]
fn a_passing_server_error_is_retried_and_a_lasting_one_is_reported() {
    let mut replay = Replay::new("1.41", synthetic_df(5));
    replay.df_failures = 2;
    let server = ReplayServer::start(replay);
    let out = cachetop()
        .args(["--host", &server.host(), "report", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json_of(&out)["entries"].as_array().unwrap().len(), 5);

    let mut replay = Replay::new("1.41", synthetic_df(5));
    replay.df_failures = 100;
    let server = ReplayServer::start(replay);
    let out = cachetop()
        .args(["--host", &server.host(), "report"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("answered /system/df?type=build-cache&type=volume&verbose=1 with HTTP 500 Internal Server Error: failed to compute usage"),
        "{err}"
    );
}

#[test]
fn absurd_sizes_from_the_daemon_do_not_overflow_a_total() {
    let huge = i64::MAX;
    let body = format!(
        r#"{{"BuildCache":[{{"ID":"a","Type":"regular","Size":{huge}}},{{"ID":"b","Type":"regular","Size":{huge}}},{{"ID":"c","Type":"regular","Size":{huge}}}]}}"#
    );
    let server = ReplayServer::start(Replay::new("1.41", body));
    let out = cachetop()
        .args(["--host", &server.host(), "report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json_of(&out)["totals"]["size_bytes"], u64::MAX);
    let out = cachetop()
        .args([
            "--host",
            &server.host(),
            "prune",
            "--type",
            "regular",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn newer_api_shapes_are_read_from_a_replayed_daemon() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/docker/df-v1.53.json"
    ))
    .unwrap();
    let server = ReplayServer::start(Replay::new("1.53", body));
    let out = cachetop()
        .args(["--host", &server.host(), "report", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["entries"].as_array().unwrap().len(), 3);
    assert_eq!(doc["entries"][0]["cache_id"], "cargo-registry");
    assert_eq!(doc["sources"][0]["details"]["api_version"], "1.53");
}

#[test]
fn a_prune_filter_the_daemon_rejects() {
    let mut replay = Replay::new("1.41", synthetic_df(8));
    replay.prune = PruneBehaviour::Fail(
        400,
        "failed to prune build cache: Invalid filter 'id'".into(),
    );
    let server = ReplayServer::start(replay);
    let out = cachetop()
        .args([
            "--host",
            &server.host(),
            "prune",
            "--id",
            &format!("r{:024}", 2),
            "--yes",
        ])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(all.contains("refused the prune (HTTP 400)"), "{all}");
    assert!(all.contains("Invalid filter 'id'"), "{all}");
}

#[test]
fn unknown_options_and_bad_values_are_usage_errors() {
    for args in [
        &["prune", "--filter", "id=x"][..],
        &["report", "--fail-on", "ancient"],
        &["--stale-after", "7", "report"],
        &["prune", "--source", "ftp", "--yes"],
    ] {
        let out = cachetop().args(args).output().unwrap();
        assert_no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_daemon_that_vanishes_mid_prune_loses_nothing_unplanned() {
    let mut replay = Replay::new("1.41", synthetic_df(40));
    replay.prune = PruneBehaviour::VanishAfter(1);
    let server = ReplayServer::start(replay);
    // Records 3, 7, 11 are apt cache mounts: no children, not in use, not shared.
    let ids: Vec<String> = [3, 7, 11].iter().map(|i| format!("r{:024}", i)).collect();
    let out = cachetop()
        .args(["--host", &server.host(), "prune", "--yes", "--json", "--id"])
        .args(&ids)
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let doc = json_of(&out);
    assert_eq!(doc["deleted"].as_array().unwrap().len(), 1);
    let skipped = doc["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2);
    assert!(
        skipped
            .iter()
            .any(|s| s["reason"].as_str().unwrap().contains("delete failed"))
    );
    assert!(
        skipped
            .iter()
            .any(|s| s["reason"].as_str().unwrap().contains("not attempted"))
    );
    // Only the first planned id ever reached the daemon.
    assert_eq!(server.prunes.lock().unwrap().len(), 1);
}

#[test]
fn no_subcommand_off_a_terminal_points_to_report() {
    let out = cachetop().arg("--no-docker").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cachetop report"));
}

#[test]
fn a_bad_config_file_names_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "stale_afterr = \"7d\"\n").unwrap();
    let out = cachetop()
        .args(["--config", cfg.to_str().unwrap(), "report"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("c.toml") && err.contains("stale_afterr"),
        "{err}"
    );
}
