//! The adversarial run's I/O classes, kept as a suite: what crosses a process or a
//! network boundary is bounded and honest. Credential helpers that hang, flood or
//! babble (against the real htpasswd registry, which makes cachetop ask them);
//! registries and Engine APIs that answer gigabytes, endlessly or a byte at a time
//! (loopback stand-ins: no real one can be made to); a daemon that dies mid-prune
//! after deleting; fatal signals to the screen on a real terminal (tmux). Memory is
//! never measured here: each test asserts on the error that names the cap.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::hostile::{self, Death, DyingEngine, Reply, Request};
use common::registry::*;
use common::replay::synthetic_df;
use common::tmux::{Tmux, pane_line, read_pid};
use common::*;

/// Longer than any bound under test: a cachetop that hangs fails the test instead.
const HANG: Duration = Duration::from_secs(180);

fn run(cmd: &mut assert_cmd::Command) -> Output {
    let out = cmd.timeout(HANG).output().unwrap();
    assert_no_panic(&out);
    out
}

fn all_text(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn source_error(doc: &Value, kind: &str) -> String {
    doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind)
        .and_then(|s| s["error"].as_str())
        .unwrap_or_else(|| panic!("no failed {kind} source in {doc:#}"))
        .to_string()
}

// ---------------------------------------------------------------- credential helpers

/// Processes whose command line holds `marker` (zombies have none, so are not counted).
fn processes(marker: &str) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-a", "-f", marker])
        .output()
        .expect("run pgrep");
    text(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_string)
        .collect()
}

fn wait_until(what: &str, limit: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A docker config dir whose credsStore is a helper in `bin` running `body`, named
/// with `marker` so that its processes can be found.
struct Helper {
    bin: tempfile::TempDir,
    config: tempfile::TempDir,
    marker: String,
}

impl Helper {
    fn new(tag: &str, body: &str) -> Helper {
        let marker = unique(tag).replace('_', "-");
        let bin = tempfile::tempdir().unwrap();
        let path = bin.path().join(format!("docker-credential-{marker}"));
        let body = body.replace("MARKER", &marker);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = tempfile::tempdir().unwrap();
        std::fs::write(
            config.path().join("config.json"),
            format!(r#"{{"credsStore": "{marker}"}}"#),
        )
        .unwrap();
        Helper {
            bin,
            config,
            marker,
        }
    }

    fn path_env(&self) -> String {
        format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        )
    }

    fn cachetop(&self) -> assert_cmd::Command {
        let mut cmd = cachetop();
        cmd.env("DOCKER_CONFIG", self.config.path())
            .env("PATH", self.path_env())
            .env_remove("CACHETOP_REGISTRY_PASSWORD")
            .arg("--no-docker");
        cmd
    }

    fn left(&self) -> Vec<String> {
        processes(&self.marker)
    }
}

/// A helper that never answers, with a grandchild that would outlive it if only the
/// helper were killed.
const HANGS: &str = "sh -c 'while :; do sleep 1; done' MARKER-grandchild &\nwait";

/// A reference in the htpasswd registry: reading it makes cachetop ask for a password,
/// so it runs the credential helper.
fn basic_reference() -> String {
    format!("{}/nothing-here:buildcache", registries().basic)
}

#[test]
fn a_credential_helper_that_never_answers_fails_report_and_prune_within_the_bound() {
    let h = Helper::new("hang", HANGS);
    let reference = basic_reference();
    for args in [
        vec!["report", "--json"],
        vec!["prune", "--type", "registry.manifest", "--yes", "--json"],
    ] {
        let out = run(h
            .cachetop()
            .env("CACHETOP_CREDENTIAL_HELPER_TIMEOUT", "2")
            .args(["--registry", &reference])
            .args(&args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", all_text(&out));
        let all = all_text(&out);
        let helper = format!("docker-credential-{}", h.marker);
        assert!(
            all.contains(&format!("{helper} did not answer within 2 s")),
            "{args:?}: {all}"
        );
        assert!(all.contains("remove credsStore/credHelpers"), "{all}");
        if args[0] == "report" {
            let err = source_error(&json_of(&out), "registry");
            assert!(err.contains(&helper), "{err}");
        }
        // The helper and its own child are gone with cachetop.
        wait_until("the helper's group to die", Duration::from_secs(10), || {
            h.left().is_empty()
        });
    }
}

#[test]
fn the_default_helper_bound_is_30_seconds() {
    let h = Helper::new("hang30", HANGS);
    let started = Instant::now();
    let out = run(h
        .cachetop()
        .env_remove("CACHETOP_CREDENTIAL_HELPER_TIMEOUT")
        .args(["--registry", &basic_reference(), "report", "--json"]));
    assert_eq!(out.status.code(), Some(1));
    let err = source_error(&json_of(&out), "registry");
    assert!(err.contains("did not answer within 30 s"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(30));
    wait_until("the helper's group to die", Duration::from_secs(10), || {
        h.left().is_empty()
    });
}

#[test]
fn a_credential_helper_that_babbles_or_floods_is_refused_and_never_shown() {
    for (tag, body, expect) in [
        (
            "garbage",
            "echo 'Username: admin, Secret: sekrit-garbage-42'",
            "not a credential",
        ),
        ("binary", "head -c 3000 /dev/urandom", "not a credential"),
        (
            "flood",
            "exec yes sekrit-flood-42",
            "more than 1024 KiB to stdout",
        ),
        (
            "errflood",
            "yes sekrit-errflood-42 >&2",
            "more than 64 KiB to stderr",
        ),
    ] {
        let h = Helper::new(tag, body);
        let out = run(h
            .cachetop()
            .args(["--registry", &basic_reference(), "report", "--json"]));
        assert_eq!(out.status.code(), Some(1), "{tag}");
        let err = source_error(&json_of(&out), "registry");
        assert!(err.contains(expect), "{tag}: {err}");
        assert!(
            err.contains(&format!("docker-credential-{}", h.marker)),
            "{err}"
        );
        assert!(
            !all_text(&out).contains("sekrit"),
            "{tag}: a helper's output was shown"
        );
        wait_until("the helper to die", Duration::from_secs(10), || {
            h.left().is_empty()
        });
    }
}

#[test]
fn a_fatal_signal_to_report_takes_the_waiting_helper_with_it() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGQUIT] {
        let h = Helper::new("sigreport", HANGS);
        let bin = assert_cmd::cargo::cargo_bin("cachetop");
        let mut child = Command::new(bin)
            .env_remove("DOCKER_HOST")
            .env("XDG_CONFIG_HOME", "/nonexistent-cachetop-config")
            .env("CARGO_HOME", NO_CARGO_HOME)
            .env("DOCKER_CONFIG", h.config.path())
            .env("PATH", h.path_env())
            .env("CACHETOP_CREDENTIAL_HELPER_TIMEOUT", "600")
            .args(["--no-docker", "--registry", &basic_reference(), "report"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("the helper to start", Duration::from_secs(30), || {
            h.left().len() >= 2
        });
        // SAFETY: a plain kill of our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        let status = child.wait().unwrap();
        // Ended by the signal, as it would have been without any helper.
        assert_eq!(status.signal(), Some(sig), "{status:?}");
        wait_until("the helper's group to die", Duration::from_secs(10), || {
            h.left().is_empty()
        });
    }
}

/// The screen over a registry whose helper hangs; closed by `close` while the helper
/// still runs, the helper must not outlive it.
fn screen_with_a_hanging_helper(close: impl Fn(&Tmux, i32)) {
    let h = Helper::new("screen", HANGS);
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let command = format!(
        "env -u DOCKER_HOST XDG_CONFIG_HOME=/nonexistent CARGO_HOME={NO_CARGO_HOME} \
         DOCKER_CONFIG={config} PATH={path} CACHETOP_CREDENTIAL_HELPER_TIMEOUT=600 \
         {bin} --no-docker --registry {reference}",
        config = h.config.path().display(),
        path = h.path_env(),
        bin = bin.display(),
        reference = basic_reference(),
    );
    let t = Tmux::start(120, 30, &pane_line(&pidfile, &command));
    let pid = read_pid(&pidfile);
    wait_until("the helper to start", Duration::from_secs(30), || {
        h.left().len() >= 2
    });
    t.wait_for("the screen", |s| s.contains("cachetop │"));
    close(&t, pid);
    let screen = t.wait_for("cachetop to exit", |s| {
        s.contains("cachetop exited") && s.contains("speed")
    });
    assert_eq!(t.display("#{alternate_on}"), "0", "{screen}");
    wait_until("the helper's group to die", Duration::from_secs(10), || {
        h.left().is_empty()
    });
}

#[test]
fn quitting_the_screen_kills_a_helper_that_never_answered() {
    screen_with_a_hanging_helper(|t, _| {
        t.keys(&["q"]);
        // Work is still under way: the screen asks for a second q.
        t.keys(&["q"]);
    });
}

#[test]
fn a_signal_to_the_screen_kills_a_helper_that_never_answered() {
    screen_with_a_hanging_helper(|_, pid| {
        // SAFETY: a plain kill of the pane's cachetop.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    });
}

// ---------------------------------------------------------------- registry bodies

/// `report --json` over a registry stand-in; the registry source's error.
fn registry_error(server: &hostile::Server) -> String {
    let reference = format!("{}/app:cache", server.addr);
    let out = run(cachetop()
        .env("DOCKER_CONFIG", "/nonexistent-docker-config")
        .args(["--no-docker", "--registry", &reference, "report", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    source_error(&json_of(&out), "registry")
}

/// A stand-in serving `cache` (manifest and config) unless `hostile` answers first.
fn cache_registry(
    cache: Cache,
    hostile: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static,
) -> hostile::Server {
    hostile::registry(move |req| {
        if let Some(r) = hostile(req) {
            return r;
        }
        let p = req.path();
        if p.contains("/manifests/") {
            Reply::with_header(
                200,
                &[
                    ("Content-Type", cache.media_type),
                    ("Docker-Content-Digest", &cache.digest),
                ],
                cache.manifest.clone(),
            )
        } else if p.ends_with(&cache.config_digest) {
            Reply::json(200, cache.config.clone())
        } else {
            Reply::json(404, r#"{"errors":[{"code":"BLOB_UNKNOWN"}]}"#)
        }
    })
}

fn small_cache() -> Cache {
    build_cache("hostile", CacheLayout::Index, &[LayerSpec::new(300)])
}

#[test]
fn a_manifest_that_claims_gigabytes_is_refused_before_reading() {
    let server = hostile::registry(|req| {
        assert!(req.path().contains("/manifests/"));
        Reply::ClaimsLength {
            status: 200,
            length: 3_000_000_000,
        }
    });
    let err = registry_error(&server);
    assert!(
        err.contains("claims 3000000000 bytes (Content-Length)"),
        "{err}"
    );
    assert!(err.contains("at most 4 MiB of a manifest"), "{err}");
}

#[test]
fn an_endless_manifest_is_cut_off_at_the_cap() {
    for chunk in [vec![b' '; 64 << 10], b"{\"schemaVersion\":2,".to_vec()] {
        let server = hostile::registry(move |_| Reply::Endless {
            status: 200,
            chunk: chunk.clone(),
        });
        let err = registry_error(&server);
        assert!(err.contains("sent more than 4 MiB"), "{err}");
        assert!(err.contains("at most 4 MiB of a manifest"), "{err}");
    }
}

#[test]
fn a_manifest_that_trickles_is_cut_off_by_the_time_limit() {
    let server = hostile::registry(|_| Reply::Trickle {
        status: 200,
        every: Duration::from_millis(500),
    });
    let err = registry_error(&server);
    assert!(err.contains("did not answer within 60 s"), "{err}");
}

#[test]
fn configs_that_claim_or_send_too_much_are_refused() {
    // Sent without end, and with a Content-Length far over the cap.
    let cache = small_cache();
    let config = cache.config_digest.clone();
    let server = cache_registry(cache.clone(), move |req| {
        req.path().ends_with(&config).then(|| Reply::Endless {
            status: 200,
            chunk: vec![b' '; 256 << 10],
        })
    });
    let err = registry_error(&server);
    assert!(err.contains("sent more than 64 MiB"), "{err}");
    assert!(err.contains("at most 64 MiB of a config"), "{err}");

    let config = cache.config_digest.clone();
    let server = cache_registry(cache, move |req| {
        req.path()
            .ends_with(&config)
            .then_some(Reply::ClaimsLength {
                status: 200,
                length: 3_000_000_000,
            })
    });
    let err = registry_error(&server);
    assert!(
        err.contains("claims 3000000000 bytes (Content-Length)") && err.contains("64 MiB"),
        "{err}"
    );

    // A descriptor that claims it: refused without asking for the blob at all.
    let huge = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": CACHE_CONFIG, "digest": format!("sha256:{}", "c".repeat(64)),
         "size": 3_000_000_000u64}]});
    let manifest = serde_json::to_vec(&huge).unwrap();
    let server = hostile::registry(move |req| {
        if req.path().contains("/manifests/") {
            Reply::json(200, manifest.clone())
        } else {
            Reply::Endless {
                status: 200,
                chunk: vec![b' '; 64 << 10],
            }
        }
    });
    let err = registry_error(&server);
    assert!(
        err.contains("claims 3000000000 bytes; cachetop reads at most 64 MiB of a config"),
        "{err}"
    );
    assert_eq!(server.requests("/blobs/"), 0);
}

#[test]
fn an_endless_token_or_error_answer_is_bounded() {
    // A token service (this same stand-in) that never stops talking.
    let realm = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let named = realm.clone();
    let server = hostile::Server::start(move |req, _| match req.path() {
        "/v2/" => Reply::with_header(
            401,
            &[(
                "WWW-Authenticate",
                &format!(
                    "Bearer realm=\"{}/token\",service=\"x\"",
                    named.get().unwrap()
                ),
            )],
            "",
        ),
        "/token" => Reply::Endless {
            status: 200,
            chunk: vec![b' '; 64 << 10],
        },
        _ => Reply::json(404, "{}"),
    });
    realm.set(server.url()).unwrap();
    let err = registry_error(&server);
    assert!(err.contains("at most 1 MiB of a token answer"), "{err}");

    // A 404 whose body never ends: only its start is read, and the status speaks.
    let server = hostile::registry(|_| Reply::Endless {
        status: 404,
        chunk: vec![b'x'; 64 << 10],
    });
    let err = registry_error(&server);
    assert!(
        err.contains("has no manifest") && err.contains("(404)"),
        "{err}"
    );
}

#[test]
fn a_registry_that_accepts_a_delete_and_keeps_the_manifest_is_explained() {
    let cache = small_cache();
    let server = cache_registry(cache.clone(), |req| {
        (req.method == "DELETE").then(|| {
            Reply::json(
                202,
                r#"{"errors":[{"code":"UNSUPPORTED","message":"raw distribution words"}]}"#,
            )
        })
    });
    let reference = format!("{}/app:cache", server.addr);
    let out = run(cachetop()
        .env("DOCKER_CONFIG", "/nonexistent-docker-config")
        .args(["--no-docker", "--registry", &reference])
        .args(["prune", "--type", "registry.manifest", "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    let doc = json_of(&out);
    assert_eq!(doc["deleted"], serde_json::json!([]));
    let reason = doc["skipped"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains(&cache.digest), "{reason}");
    assert!(reason.contains("still serves it"), "{reason}");
    assert!(reason.contains("counts it as kept"), "{reason}");
    assert!(reason.contains("cachetop report"), "{reason}");
    // Not Docker's or distribution's words.
    assert!(!reason.contains("holds a reference"), "{reason}");
    assert!(!reason.contains("raw distribution words"), "{reason}");
    assert_eq!(server.requests("DELETE "), 1);
}

// ---------------------------------------------------------------- Engine API bodies

fn engine_report(server: &hostile::Server) -> (Output, String) {
    let out = run(cachetop().args([
        "--host",
        &format!("tcp://{}", server.addr),
        "report",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    let err = source_error(&json_of(&out), "docker");
    (out, err)
}

#[test]
fn an_endless_or_giant_system_df_is_refused_at_its_cap() {
    let server = hostile::engine(Vec::new(), |req, _| {
        (req.route() == "/system/df").then(|| Reply::Endless {
            status: 200,
            chunk: vec![b' '; 1 << 20],
        })
    });
    let (_, err) = engine_report(&server);
    assert!(
        err.contains("sent more than 256 MiB in answer to /system/df"),
        "{err}"
    );
    assert!(err.contains("at most 256 MiB"), "{err}");

    let server = hostile::engine(Vec::new(), |req, _| {
        (req.route() == "/system/df").then_some(Reply::ClaimsLength {
            status: 200,
            length: 3_000_000_000,
        })
    });
    let (_, err) = engine_report(&server);
    assert!(
        err.contains("claims 3000000000 bytes (Content-Length) in answer to /system/df"),
        "{err}"
    );
}

#[test]
fn a_giant_info_version_or_error_answer_is_bounded() {
    let df = synthetic_df(3);
    for (route, reply, expect) in [
        (
            "/info",
            Reply::Endless {
                status: 200,
                chunk: vec![b' '; 1 << 20],
            },
            "sent more than 8 MiB in answer to /info",
        ),
        (
            "/info",
            Reply::ClaimsLength {
                status: 200,
                length: 1 << 40,
            },
            "at most 8 MiB",
        ),
        (
            "/version",
            Reply::Endless {
                status: 200,
                chunk: vec![b' '; 64 << 10],
            },
            "sent more than 1 MiB in answer to /version",
        ),
        (
            // An error answer is read only as far as its message needs.
            "/system/df",
            Reply::Endless {
                status: 500,
                chunk: b"{\"message\":\"".to_vec(),
            },
            "answered /system/df?type=build-cache&type=volume&verbose=1 with HTTP 500",
        ),
    ] {
        let server = hostile::engine(df.clone(), move |req, _| {
            (req.route() == route).then(|| reply.clone())
        });
        let (out, err) = engine_report(&server);
        assert!(err.contains(expect), "{route}: {err}");
        assert!(
            all_text(&out).len() < 100_000,
            "{route}: the body was echoed"
        );
    }
}

#[test]
fn an_endless_prune_answer_is_bounded_and_the_record_checked_again() {
    let df = synthetic_df(8);
    let id = format!("r{:024}", 3);
    let server = hostile::engine(df, |req, _| {
        (req.route() == "/build/prune").then(|| Reply::Endless {
            status: 200,
            chunk: vec![b' '; 1 << 20],
        })
    });
    let out = run(cachetop().args([
        "--host",
        &format!("tcp://{}", server.addr),
        "prune",
        "--id",
        &id,
        "--yes",
        "--json",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    // The stand-in still lists the record: kept, and said why.
    assert_eq!(doc["deleted"], serde_json::json!([]));
    let reason = doc["skipped"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("at most 16 MiB"), "{reason}");
    assert!(
        reason.contains("still lists it, so it was kept"),
        "{reason}"
    );
}

// ---------------------------------------------------------------- dying mid-prune

/// Five apt cache mounts of a synthetic daemon (no children, not in use, not shared).
fn five_ids() -> Vec<String> {
    [3, 7, 11, 15, 19]
        .iter()
        .map(|i| format!("r{:024}", i))
        .collect()
}

fn prune_dying(engine: &DyingEngine, ids: &[String]) -> Value {
    let out = run(cachetop()
        .args(["--host", &engine.host(), "prune", "--yes", "--json", "--id"])
        .args(ids));
    assert_eq!(out.status.code(), Some(1), "{}", all_text(&out));
    json_of(&out)
}

fn deleted_ids(doc: &Value) -> Vec<String> {
    doc["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

fn reason<'a>(doc: &'a Value, id: &str) -> &'a str {
    doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .and_then(|s| s["reason"].as_str())
        .unwrap_or_else(|| panic!("{id} not skipped in {doc:#}"))
}

/// The ids in the order the plan deletes them.
fn planned_ids(doc: &Value) -> Vec<String> {
    doc["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_daemon_that_restarts_mid_prune_is_credited_with_what_it_deleted() {
    let engine = DyingEngine::start(
        &synthetic_df(40),
        3,
        Death::DeletesThenRestarts(Duration::from_secs(2)),
    );
    let doc = prune_dying(&engine, &five_ids());
    let order = planned_ids(&doc);
    let gone: Vec<String> = order.iter().filter(|i| !engine.holds(i)).cloned().collect();
    assert_eq!(gone, order[..3].to_vec());
    assert_eq!(deleted_ids(&doc), gone, "12 gone, 11 reported again");
    for id in &order[3..] {
        assert!(reason(&doc, id).contains("not attempted"), "{doc:#}");
    }
}

#[test]
fn a_daemon_that_dies_before_deleting_leaves_the_record_kept() {
    let engine = DyingEngine::start(
        &synthetic_df(40),
        3,
        Death::DiesThenRestarts(Duration::from_secs(2)),
    );
    let doc = prune_dying(&engine, &five_ids());
    let order = planned_ids(&doc);
    assert!(engine.holds(&order[2]));
    assert_eq!(deleted_ids(&doc), order[..2].to_vec());
    let r = reason(&doc, &order[2]);
    assert!(r.contains("still lists it, so it was kept"), "{r}");
}

#[test]
fn a_daemon_that_dies_for_good_leaves_the_last_delete_unknown_never_failed() {
    let engine = DyingEngine::start(&synthetic_df(40), 2, Death::DeletesThenDies);
    let doc = prune_dying(&engine, &five_ids());
    let order = planned_ids(&doc);
    // Really gone: the first two; reported deleted: the first; the second, whose
    // answer never came, is unknown: never "failed".
    let gone: Vec<String> = order.iter().filter(|i| !engine.holds(i)).cloned().collect();
    assert_eq!(gone, order[..2].to_vec());
    assert_eq!(deleted_ids(&doc), order[..1].to_vec());
    let r = reason(&doc, &order[1]);
    assert!(
        r.starts_with("unknown: re-check with `cachetop report`"),
        "{r}"
    );
    assert!(!r.contains("delete failed"), "{r}");
    for id in &order[2..] {
        assert!(reason(&doc, id).contains("not attempted"), "{doc:#}");
    }
    // Still a valid prune document.
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prune.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&doc), "{doc:#}");
}

// ---------------------------------------------------------------- signals to the screen

/// The screen on a real terminal (no daemon, one directory), stopped by `sig`.
fn signal_the_screen(sig: i32, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let command = format!(
        "env -u DOCKER_HOST -u NO_COLOR XDG_CONFIG_HOME=/nonexistent CARGO_HOME={NO_CARGO_HOME} \
         {} --no-docker --dir {}",
        bin.display(),
        cache.path().display()
    );
    let t = Tmux::start(100, 30, &pane_line(&pidfile, &command));
    t.wait_for("the screen", |s| {
        s.contains("cachetop │") && s.contains("ok:")
    });
    assert_eq!(t.display("#{alternate_on}"), "1");
    assert_eq!(t.display("#{cursor_flag}"), "0");
    let pid = read_pid(&pidfile);
    // SAFETY: a plain kill of the pane's cachetop.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    // Until stty's local-modes line ("... icanon ... echo ... echoctl ...", each with
    // "-" when raw) is on the screen: its first line can show before the rest.
    let screen = t.wait_for("cachetop to exit", |s| {
        s.contains("cachetop exited") && s.contains("echoctl")
    });
    assert!(screen.contains("cachetop exited 1"), "{name}:\n{screen}");
    assert!(
        screen.contains(&format!("stopped by {name}; the terminal was restored")),
        "{name}:\n{screen}"
    );
    assert_eq!(
        t.display("#{alternate_on} #{cursor_flag}"),
        "0 1",
        "{name} left the alternate screen on or the cursor hidden"
    );
    assert!(
        screen.contains(" icanon") && screen.contains(" echo "),
        "{name} left the terminal raw:\n{screen}"
    );
}

#[test]
fn sigquit_restores_the_terminal() {
    signal_the_screen(libc::SIGQUIT, "SIGQUIT");
}

#[test]
fn every_other_fatal_signal_restores_the_terminal() {
    for (sig, name) in [
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGRTMIN() + 3, "a real-time signal"),
        (libc::SIGRTMAX(), "a real-time signal"),
    ] {
        signal_the_screen(sig, name);
    }
}
