//! Builders as sources, through the cachetop binary, against real BuildKits: the
//! second isolated daemon's, reached through the builder container named as buildx
//! names one (its `buildctl dial-stdio` is a relay), a unix socket, tcp and TLS
//! (scripts/test-buildkit.sh). Each report is checked against that daemon's own
//! `/system/df`; each prune against what is left there.

use crate::common;
use crate::tui_support;

use std::collections::BTreeMap;
use std::path::Path;

use std::sync::Arc;
use std::time::Duration;

use cachetop::policy::{Policy, classify};
use cachetop::prune::{Selector, build_plan, execute};
use cachetop::sources::SharedSource;
use cachetop::sources::buildkit::{Address, BuildkitSource};
use cachetop::tui::Session;
use cachetop::tui::app::{App, Caps};
use cachetop::tui::worker::Worker;
use common::buildkit::*;
use common::*;
use ratatui::layout::Rect;
use serde_json::Value;

/// cachetop with discovery on, reading buildx's store from `store` (none when absent).
fn discovering(store: &Path) -> assert_cmd::Command {
    let mut cmd = cachetop();
    cmd.env_remove("CACHETOP_NO_BUILDERS")
        .env("BUILDX_CONFIG", store);
    cmd
}

fn report(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out)
}

/// The report, whether or not every source could be read.
fn report_any(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    json_of(&out)
}

fn source<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {:#}", doc["sources"]))
}

fn entries_of<'a>(doc: &'a Value, name: &str) -> BTreeMap<String, &'a Value> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source_name"] == name)
        .map(|e| (e["id"].as_str().unwrap().to_string(), e))
        .collect()
}

/// The builder's entries are the far daemon's records, one for one and fact for fact.
fn assert_entries_match_df(doc: &Value, name: &str, df: &BTreeMap<String, Value>) {
    let entries = entries_of(doc, name);
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        df.keys().collect::<Vec<_>>(),
        "entries of {name} against /system/df"
    );
    for (id, e) in &entries {
        let d = &df[id];
        assert_eq!(e["source"], "buildkit");
        assert_eq!(e["kind"], d["Type"], "{id}");
        assert_eq!(e["description"], d["Description"], "{id}");
        assert_eq!(e["size_bytes"], d["Size"], "{id}");
        assert_eq!(e["in_use"], d["InUse"], "{id}");
        assert_eq!(e["shared"], d["Shared"], "{id}");
        assert_eq!(e["usage_count"], d["UsageCount"], "{id}");
        let parent = d["Parent"].as_str().unwrap_or_default();
        let parents = e["details"]["parents"].as_str().unwrap_or_default();
        assert_eq!(parents, parent, "{id}: parents");
        if d["Type"] == "exec.cachemount" {
            let target = d["Description"]
                .as_str()
                .unwrap()
                .strip_prefix("cached mount ")
                .unwrap()
                .split(" from exec ")
                .next()
                .unwrap();
            assert_eq!(e["mount_target"], target, "{id}");
            let why = e["content"]["error"].as_str().unwrap();
            assert!(why.contains("not read"), "{why}");
        }
    }
}

fn assert_builder_details(s: &Value) {
    assert_eq!(s["kind"], "buildkit");
    assert_eq!(s["ok"], true, "{s:#}");
    let d = &s["details"];
    let workers = d["workers"].as_array().unwrap();
    assert!(!workers.is_empty(), "{d:#}");
    let platforms = workers[0]["platforms"].as_array().unwrap();
    assert!(
        platforms
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("linux/")),
        "{d:#}"
    );
    assert!(
        d["summary"].as_str().unwrap().starts_with("BuildKit"),
        "{d:#}"
    );
    assert!(d["summary"].as_str().unwrap().contains("GC:"), "{d:#}");
}

#[test]
fn a_docker_container_builder_is_a_source_named_after_its_address() {
    let p = buildkit_parts();
    build_cache_mounts_on(&p.docker_host, &unique("src"), 1);
    let name = format!("docker-container://{}", p.builder);
    let (doc, df) = settled(&p.docker_socket, || {
        report(cachetop_on_daemon().args(["--builder", &name]))
    });
    let s = source(&doc, &name);
    assert_builder_details(s);
    assert_eq!(s["details"]["transport"], "docker-container");
    assert_entries_match_df(&doc, &name, &df);
    // The daemon's own records are its own source, not mixed in.
    assert_eq!(source(&doc, &daemon().host)["kind"], "docker");
}

#[test]
fn buildkit_host_and_tls_builders_stand_without_the_daemon() {
    let p = buildkit_parts();
    let empty = tempfile::tempdir().unwrap();
    let (doc, df) = settled(&p.docker_socket, || {
        report(
            discovering(empty.path())
                .env("BUILDKIT_HOST", &p.unix)
                .arg("--no-docker"),
        )
    });
    assert_eq!(doc["sources"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_builder_details(source(&doc, &p.unix));
    assert_entries_match_df(&doc, &p.unix, &df);

    let tls = &p.tls_dir;
    let (doc, df) = settled(&p.docker_socket, || {
        report(cachetop().args([
            "--no-docker",
            "--builder",
            &p.tls,
            "--tlscacert",
            tls.join("ca.pem").to_str().unwrap(),
            "--tlscert",
            tls.join("client.pem").to_str().unwrap(),
            "--tlskey",
            tls.join("client.key").to_str().unwrap(),
        ]))
    });
    assert_eq!(source(&doc, &p.tls)["details"]["transport"], "tcp+tls");
    assert_entries_match_df(&doc, &p.tls, &df);
}

#[test]
fn discovery_finds_the_running_builder_and_names_it_from_buildx_store() {
    let p = buildkit_parts();
    let store = tempfile::tempdir().unwrap();
    let node = p.builder.strip_prefix("buildx_buildkit_").unwrap();
    std::fs::create_dir(store.path().join("instances")).unwrap();
    std::fs::write(
        store.path().join("instances/cachetop"),
        format!(
            r#"{{"Name":"cachetop","Driver":"docker-container","Nodes":[{{"Name":"{node}",
            "Endpoint":"{}","Platforms":null,"DriverOpts":null,"Flags":null,"Files":null}}],
            "Dynamic":false}}"#,
            daemon().host
        ),
    )
    .unwrap();
    let name = format!("docker-container://{}", p.builder);
    // Other tests run builder-like containers of their own that fail as sources: the
    // run may fail, the builder's source must not.
    let doc = report_any(discovering(store.path()).args(["--host", &daemon().host]));
    let s = source(&doc, &name);
    assert_eq!(s["ok"], true, "{s:#}");
    assert_eq!(s["details"]["builder"], "cachetop", "{s:#}");
    assert_eq!(source(&doc, &daemon().host)["kind"], "docker");
    // The daemon's embedded BuildKit is its docker source, never a builder as well.
    let doc = report_any(
        discovering(store.path())
            .args(["--host", &daemon().host])
            .env("BUILDKIT_HOST", &daemon().host),
    );
    let named_daemon: Vec<&str> = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == daemon().host.as_str())
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(named_daemon, ["docker"], "{:#}", doc["sources"]);
    // --no-builders: the daemon alone.
    let doc = report(
        discovering(store.path())
            .args(["--host", &daemon().host, "--no-builders"])
            .env("BUILDKIT_HOST", &p.unix),
    );
    assert_eq!(doc["sources"].as_array().unwrap().len(), 1, "{doc:#}");
}

/// cachetop reading only the builder at `address`: standalone addresses without the
/// daemon, a docker-container builder through it.
fn on_builder(address: &str) -> assert_cmd::Command {
    let mut cmd = if address.starts_with("docker-container://") {
        cachetop_on_daemon()
    } else {
        let mut c = cachetop();
        c.arg("--no-docker");
        c
    };
    cmd.args(["--builder", address]);
    cmd.args(tls_flags_for(address));
    cmd
}

/// buildctl's TLS flags for the test's TLS buildkitd (none for the other addresses),
/// which cachetop takes too.
fn tls_flags_for(address: &str) -> Vec<String> {
    let p = buildkit_parts();
    if address != p.tls {
        return Vec::new();
    }
    let file = |name: &str| p.tls_dir.join(name).to_str().unwrap().to_string();
    vec![
        "--tlscacert".into(),
        file("ca.pem"),
        "--tlscert".into(),
        file("client.pem"),
        "--tlskey".into(),
        file("client.key"),
    ]
}

/// A dry run names the exact id, then `prune --yes --source buildkit --id` deletes
/// exactly that record from the far BuildKit and its sibling stays.
fn prune_exactly_one_through(address: &str, tag: &str) {
    let p = buildkit_parts();
    build_cache_mounts_on(&p.docker_host, tag, 2);
    let (doc, before) = settled(&p.docker_socket, || report_any(&mut on_builder(address)));
    assert_eq!(source(&doc, address)["ok"], true, "{doc:#}");
    let target = format!("/cache/{tag}-0");
    let victim = entries_of(&doc, address)
        .into_iter()
        .find(|(_, e)| e["mount_target"] == target.as_str())
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no entry for {target}"));
    let dry = on_builder(address)
        .args([
            "prune",
            "--dry-run",
            "--source",
            "buildkit",
            "--id",
            &victim,
        ])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let plan = text(&dry.stdout);
    // The same TLS files as cachetop used, so the command reaches the same BuildKit.
    let tls = tls_flags_for(address)
        .iter()
        .map(|f| format!(" {f}"))
        .collect::<String>();
    assert!(
        plan.contains(&format!(
            "buildctl --addr {address}{tls} prune --filter id=={victim}"
        )),
        "{plan}"
    );
    if address.starts_with("docker-container://") {
        // buildctl reaches the builder through the docker CLI: the same daemon.
        assert!(
            plan.contains(&format!("DOCKER_HOST={} buildctl", daemon().host)),
            "{plan}"
        );
    }
    assert!(df_records_at(&p.docker_socket).contains_key(&victim));
    let out = on_builder(address)
        .args([
            "prune", "--yes", "--json", "--source", "buildkit", "--id", &victim,
        ])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let deleted: Vec<&str> = doc["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, [victim.as_str()], "{doc:#}");
    let after = df_records_at(&p.docker_socket);
    assert!(!after.contains_key(&victim));
    for id in before.keys().filter(|id| **id != victim) {
        let was = &before[id];
        // Only records a concurrent build may recycle could go; the sibling stays.
        if was["Description"]
            .as_str()
            .unwrap()
            .contains(&format!("/cache/{tag}-1 "))
        {
            assert!(after.contains_key(id), "{id} was not planned but went");
        }
    }
}

#[test]
fn prune_through_grpc_deletes_exactly_the_planned_record() {
    let p = buildkit_parts();
    prune_exactly_one_through(&p.unix, &unique("bkprune"));
}

#[test]
fn prune_through_grpc_in_tls_deletes_exactly_the_planned_record() {
    let p = buildkit_parts();
    prune_exactly_one_through(&p.tls, &unique("bktlsprune"));
}

#[test]
fn prune_through_a_docker_container_builder_deletes_exactly_the_planned_record() {
    let p = buildkit_parts();
    let address = format!("docker-container://{}", p.builder);
    prune_exactly_one_through(&address, &unique("bkcprune"));
}

#[test]
fn builders_found_but_not_readable_are_failed_sources_never_silence() {
    let p = buildkit_parts();
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir(store.path().join("instances")).unwrap();
    // A remote builder whose node is behind a container: buildx can, cachetop cannot.
    std::fs::write(
        store.path().join("instances/far"),
        r#"{"Name":"far","Driver":"remote","Nodes":[{"Name":"far0",
        "Endpoint":"docker-container://elsewhere","Platforms":null,"DriverOpts":null,
        "Flags":null,"Files":null}],"Dynamic":false}"#,
    )
    .unwrap();
    let out = discovering(store.path())
        .env("BUILDKIT_HOST", "kube-pod://buildkitd")
        .args(["--no-docker", "--builder", &p.unix])
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    let doc = json_of(&out);
    for (name, says) in [
        ("kube-pod://buildkitd", "BUILDKIT_HOST"),
        ("docker-container://elsewhere", "buildx builder far"),
    ] {
        let s = source(&doc, name);
        assert_eq!(s["kind"], "buildkit", "{s:#}");
        assert_eq!(s["ok"], false, "{s:#}");
        let err = s["error"].as_str().unwrap();
        assert!(err.starts_with("not read: ") && err.contains(says), "{err}");
        assert!(err.contains("--no-builders"), "{err}");
    }
    // The builder that can be read still is, and the run says something failed.
    assert_eq!(source(&doc, &p.unix)["ok"], true);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

#[test]
fn a_builder_that_cannot_answer_is_a_failed_source_with_a_clear_message() {
    let plain = Container::start(&unique("buildx_buildkit_nobuildctl"), BASE_IMAGE, &[]);
    let name = format!("docker-container://{}", plain.name);
    let out = cachetop_on_daemon()
        .args(["--builder", &name, "report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    let doc = json_of(&out);
    let s = source(&doc, &name);
    assert_eq!(s["ok"], false);
    let err = s["error"].as_str().unwrap();
    assert!(
        err.contains(&format!("container {} has no buildctl", plain.name)),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1), "a failed source fails the run");
    // The daemon's source is still read.
    assert_eq!(source(&doc, &daemon().host)["ok"], true);
}

async fn settle(s: &mut Session) {
    tokio::time::timeout(Duration::from_secs(120), s.settle())
        .await
        .expect("the worker did not finish");
}

/// The screen's d then y prunes a builder's record through the same worker and
/// execution path as the daemon's: exactly the chosen id goes from the far daemon.
#[test]
fn the_screen_prunes_a_builders_record_with_d_and_y() {
    let p = buildkit_parts();
    let tag = unique("bkscreen");
    build_cache_mounts_on(&p.docker_host, &tag, 2);
    let target = format!("/cache/{tag}-0");
    // The build's records settle (no longer in use) before the screen reads them.
    let _ = settled(&p.docker_socket, || ());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let victim = rt.block_on(async {
        let path = p.unix.strip_prefix("unix://").unwrap();
        let source: SharedSource = Arc::new(BuildkitSource::new(Address::Unix(path.into()), None));
        let refs = vec![source.source_ref().clone()];
        let worker = Worker {
            sources: vec![source],
            policy: Policy::default(),
            scanner: None,
            repair: None,
            clock: Arc::new(chrono::Utc::now),
        }
        .spawn();
        let caps = Caps {
            read_only: false,
            repair: false,
        };
        let app = App::new(
            refs,
            Policy::default(),
            caps,
            chrono::Utc::now(),
            Rect::new(0, 0, 160, 40),
        );
        let mut s = Session::new(app, worker);
        settle(&mut s).await;
        let victim = s
            .app
            .list
            .entries()
            .iter()
            .find(|e| e.mount.as_ref().is_some_and(|m| m.target == target))
            .map(|e| e.id.clone())
            .unwrap_or_else(|| panic!("no entry for {target}"));
        for k in tui_support::keys(&format!("/{tag}-0<Enter>d")) {
            s.key(k);
        }
        settle(&mut s).await;
        let df = df_records_at(&p.docker_socket);
        let ours: Vec<_> = df
            .values()
            .filter(|r| r["Description"].as_str().unwrap().contains(&tag))
            .collect();
        assert!(
            df.contains_key(&victim),
            "d alone deleted {victim}? records of {tag}: {ours:#?}"
        );
        assert_eq!(
            s.app.mode(),
            cachetop::tui::keys::Mode::Confirm,
            "{:#?}",
            s.app.overlays
        );
        for k in tui_support::keys("y") {
            s.key(k);
        }
        settle(&mut s).await;
        assert!(
            s.app.list.entries().iter().all(|e| e.id != victim),
            "{:#?}",
            s.app.overlays
        );
        victim
    });
    let after = df_records_at(&p.docker_socket);
    assert!(!after.contains_key(&victim), "{victim} is still there");
    assert!(
        after.values().any(|r| r["Description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cached mount /cache/{tag}-1 "))),
        "the sibling went too"
    );
}

/// A builder that stops while a prune re-reads it: the prune fails, says so, and
/// nothing is deleted.
#[test]
fn a_builder_stopped_during_a_prune_deletes_nothing() {
    let p = buildkit_parts();
    // Enough records that the throttled answer (512 bytes every 100 ms) takes seconds.
    if df_records_at(&p.docker_socket).len() < 60 {
        build_cache_mounts_on(&p.docker_host, &unique("slowprune"), 40);
    }
    let mount = format!(
        "{}:/run/buildkit-relay/docker.sock",
        p.docker_socket.display()
    );
    let c = Container::start(
        &unique("buildx_buildkit_slowprune"),
        &p.image,
        &["-v", &mount, "-e", "RELAY_THROTTLE_MS=100"],
    );
    let address = Address::parse(
        &format!("docker-container://{}", c.name),
        &daemon().host,
        None,
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (victim, outcome) = rt.block_on(async {
        let source: SharedSource = Arc::new(BuildkitSource::new(address, None));
        let now = chrono::Utc::now();
        let mut entries = source.list().await.unwrap().entries;
        classify(&mut entries, &Policy::default(), now);
        let victim = entries
            .iter()
            .find(|e| e.kind == "exec.cachemount" && !e.in_use && !e.shared)
            .unwrap()
            .id
            .clone();
        let selector = Selector {
            ids: vec![victim.clone()],
            ..Default::default()
        };
        let plan = build_plan(&entries, &selector, now);
        assert_eq!(plan.items.len(), 1, "{plan:?}");
        let running =
            tokio::spawn(
                async move { execute(&plan, &[source], &cachetop::plan::quietly()).await },
            );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !running.is_finished(),
            "the re-read ended before the builder stopped"
        );
        let name = c.name.clone();
        tokio::task::spawn_blocking(move || {
            assert!(docker_on(&daemon().host, &["kill", &name]).status.success());
        })
        .await
        .unwrap();
        (victim, running.await.unwrap())
    });
    assert_eq!(outcome.planned_done(), 0, "{outcome:?}");
    assert!(outcome.done.is_empty(), "{outcome:?}");
    assert!(!outcome.is_clean(), "{outcome:?}");
    let reason = &outcome.skipped.last().unwrap().reason;
    assert!(reason.contains(&c.name), "{reason}");
    assert!(df_records_at(&p.docker_socket).contains_key(&victim));
}
