//! buildx builders' state volumes on the isolated daemon, named as buildx names them:
//! an orphaned one is flagged and pruned alone; one held by a stopped builder goes
//! with that container (container first), which is never started; one a running
//! builder mounts is in use and never planned; other volumes are never listed.

use crate::common;
use crate::tui_support;

use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const KIND: &str = "buildx.state-volume";

/// Debian's docker CLI against the isolated daemon.
fn docker(args: &[&str]) -> Output {
    std::process::Command::new(DOCKER_CLI)
        .args(["-H", &daemon().host])
        .args(args)
        .output()
        .expect("run the docker CLI")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

fn volume_exists(name: &str) -> bool {
    docker(&["volume", "inspect", name]).status.success()
}

fn container_state(name: &str) -> Option<(String, String)> {
    let out = docker(&[
        "container",
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.StartedAt}}",
        name,
    ]);
    if !out.status.success() {
        return None;
    }
    let line = text(&out.stdout).trim().to_string();
    let (status, started) = line.split_once(' ').unwrap();
    Some((status.to_string(), started.to_string()))
}

/// Removes the test's containers and volumes, before (leftovers of an earlier run)
/// and after (even when the test fails).
struct Cleanup {
    containers: Vec<String>,
    volumes: Vec<String>,
}

impl Cleanup {
    fn new(containers: &[&str], volumes: &[&str]) -> Self {
        let c = Cleanup {
            containers: containers.iter().map(|s| s.to_string()).collect(),
            volumes: volumes.iter().map(|s| s.to_string()).collect(),
        };
        c.run();
        c
    }

    fn run(&self) {
        for name in &self.containers {
            let _ = docker(&["rm", "-f", name]);
        }
        for name in &self.volumes {
            let _ = docker(&["volume", "rm", "-f", name]);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// A volume with `bytes` of content and a BuildKit metadata file, written by a
/// container that is removed after.
fn filled_volume(name: &str, bytes: usize) {
    docker_ok(&["volume", "create", name]);
    let script =
        format!("head -c {bytes} /dev/urandom > /s/blob && echo db > /s/metadata_v2.db && sync");
    docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &format!("{name}:/s"),
        BASE_IMAGE,
        "sh",
        "-c",
        &script,
    ]);
}

/// A builder container as buildx makes it: its state volume at /var/lib/buildkit.
fn builder_args<'a>(name: &'a str, mount: &'a str) -> Vec<&'a str> {
    vec!["--network", "none", "--name", name, "-v", mount]
}

fn report() -> Value {
    let out = cachetop_on_daemon()
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    json_of(&out)
}

fn find<'a>(doc: &'a Value, id: &str) -> Option<&'a Value> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
}

fn prune(args: &[&str]) -> (Output, Value) {
    let out = cachetop_on_daemon()
        .arg("prune")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert_no_panic(&out);
    let doc = json_of(&out);
    (out, doc)
}

fn planned_ids(doc: &Value) -> Vec<&str> {
    doc["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect()
}

fn host_flag() -> String {
    format!("-H {}", daemon().host)
}

/// This machine's clock (the daemon's too), in whole seconds, plus `ahead`.
fn unix_time(ahead: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    (now + ahead).to_string()
}

#[test]
fn an_orphaned_state_volume_is_flagged_and_pruned_alone() {
    let _lock = deletion_lock();
    let (gone, stays) = ("buildx_buildkit_ci0_state", "buildx_buildkit_ci9_state");
    let _cleanup = Cleanup::new(&[], &[gone, stays]);
    filled_volume(gone, 300_000);
    filled_volume(stays, 1_000);

    let doc = report();
    let e = entry(&doc, gone);
    assert_eq!(e["source"], "docker");
    assert_eq!(e["kind"], KIND);
    assert_eq!(e["in_use"], false);
    assert!(flags(e).contains(&"orphaned"), "{e:#}");
    assert!(!flags(e).contains(&"in_use"));
    // The daemon's own measure of the volume.
    assert!(e["size_bytes"].as_u64().unwrap() >= 300_000, "{e:#}");
    assert!(
        e["description"]
            .as_str()
            .unwrap()
            .contains("no builder container left"),
        "{e:#}"
    );
    // Measured on disk when its mountpoint can be read from here (as root).
    let mountpoint = e["details"]["mountpoint"].as_str().unwrap();
    if std::fs::read_dir(mountpoint).is_ok() {
        assert!(e["disk_bytes"].as_u64().unwrap() >= 300_000, "{e:#}");
        assert_eq!(e["content"]["files"], 2, "{e:#}");
    } else {
        assert!(e["content"]["error"].is_string(), "{e:#}");
    }

    let (out, doc) = prune(&["--id", gone, "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(planned_ids(&doc), [gone]);
    assert_eq!(doc["planned"][0]["kind"], KIND);
    assert_eq!(
        doc["equivalent_commands"],
        json!([format!("docker {} volume rm {gone}", host_flag())])
    );
    assert_eq!(doc["deleted"], json!([{"source": "docker", "id": gone}]));
    assert!(!volume_exists(gone), "the chosen volume is still there");
    assert!(volume_exists(stays), "another state volume was removed");
}

#[test]
fn a_stopped_builder_goes_first_then_its_volume_and_is_never_started() {
    let _lock = deletion_lock();
    let (builder, volume) = ("buildx_buildkit_ci1", "buildx_buildkit_ci1_state");
    let _cleanup = Cleanup::new(&[builder], &[volume]);
    // The builder ran once (writing its state) and stopped.
    let mount = format!("{volume}:/var/lib/buildkit");
    let mut args = vec!["run"];
    args.extend(builder_args(builder, &mount));
    args.extend([
        BASE_IMAGE,
        "sh",
        "-c",
        "head -c 200000 /dev/urandom > /var/lib/buildkit/blob",
    ]);
    docker_ok(&args);
    let id = docker_ok(&["container", "inspect", "--format", "{{.Id}}", builder]);
    let (status, started) = container_state(builder).unwrap();
    assert_eq!(status, "exited");
    // Events are counted from the next whole second: the builder's own run is over.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let since = unix_time(0);

    let doc = report();
    let e = entry(&doc, volume);
    assert_eq!(e["kind"], KIND);
    assert_eq!(e["in_use"], false);
    assert!(flags(e).contains(&"orphaned"), "{e:#}");
    // The entry says which stopped container holds it.
    assert_eq!(e["details"]["containers"], format!("{builder} (stopped)"));
    let description = e["description"].as_str().unwrap();
    assert!(
        description == format!("held by its stopped builder container {builder}"),
        "{description}"
    );

    let expected_commands = json!([
        format!("docker {} rm {builder}", host_flag()),
        format!("docker {} volume rm {volume}", host_flag()),
    ]);
    let (out, dry) = prune(&["--type", KIND, "--source", "docker", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(dry["dry_run"], true);
    assert_eq!(planned_ids(&dry), [volume]);
    assert_eq!(dry["equivalent_commands"], expected_commands);
    assert_eq!(dry["deleted"], json!([]));
    assert_eq!(
        container_state(builder),
        Some((status.clone(), started.clone())),
        "a dry run changed the stopped builder"
    );
    assert!(volume_exists(volume));

    // The dry run and the real run print the same plan, both commands in it.
    let plan_of = |t: &str, end: &str| t.split(end).next().unwrap().to_string();
    let dry_text = cachetop_on_daemon()
        .args(["prune", "--type", KIND, "--source", "docker", "--dry-run"])
        .output()
        .unwrap();
    let dry_text = text(&dry_text.stdout);
    assert!(
        dry_text.contains(&format!("docker {} rm {builder}\n", host_flag())),
        "{dry_text}"
    );
    let real = cachetop_on_daemon()
        .args(["prune", "--type", KIND, "--source", "docker", "--yes"])
        .output()
        .unwrap();
    assert_no_panic(&real);
    let real_text = text(&real.stdout);
    assert!(real.status.success(), "{real_text}{}", text(&real.stderr));
    assert_eq!(
        plan_of(&dry_text, "Dry run:"),
        plan_of(&real_text, "Deleted "),
        "dry run and real run printed different plans"
    );
    assert!(real_text.contains("Deleted 1 of 1 planned"), "{real_text}");
    assert_eq!(container_state(builder), None, "the builder is still there");
    assert!(!volume_exists(volume), "the volume is still there");

    // Removed, never started on the way. `--until` is a second ahead: the events of
    // the current second are only all there once it is over.
    let events = docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &unix_time(1),
        "--filter",
        &format!("container={id}"),
        "--format",
        "{{.Status}}",
    ]);
    let events: Vec<&str> = events.lines().collect();
    assert!(events.contains(&"destroy"), "{events:?}");
    assert!(
        !events.contains(&"start"),
        "the stopped builder was started: {events:?}"
    );
}

#[test]
fn a_running_builder_and_its_volume_are_never_planned() {
    let _lock = deletion_lock();
    let (builder, volume) = ("buildx_buildkit_ci2", "buildx_buildkit_ci2_state");
    let _cleanup = Cleanup::new(&[builder], &[volume]);
    let mount = format!("{volume}:/var/lib/buildkit");
    let mut args = vec!["run", "-d"];
    args.extend(builder_args(builder, &mount));
    args.extend([BASE_IMAGE, "sleep", "600"]);
    docker_ok(&args);

    let doc = report();
    let e = entry(&doc, volume);
    assert_eq!(e["kind"], KIND);
    assert_eq!(e["in_use"], true);
    assert!(flags(e).contains(&"in_use"), "{e:#}");
    assert!(!flags(e).contains(&"orphaned"), "{e:#}");

    // Selected by type (a dry run: the plan is the real run's, and other state
    // volumes on the daemon are not this test's to delete), then by its id for real.
    for (selection, run) in [
        (&["--type", KIND][..], "--dry-run"),
        (&["--type", KIND, "--source", "docker"], "--dry-run"),
        (&["--id", volume], "--yes"),
    ] {
        let mut args = selection.to_vec();
        args.push(run);
        let (out, doc) = prune(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            !planned_ids(&doc).contains(&volume),
            "{selection:?}: {doc:#}"
        );
        let commands = doc["equivalent_commands"].to_string();
        assert!(!commands.contains(builder), "{commands}");
        assert_eq!(doc["deleted"], json!([]));
        let kept = doc["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == volume)
            .unwrap_or_else(|| panic!("{volume} not kept with a reason: {doc:#}"));
        assert_eq!(kept["reason"], "in use");
    }
    assert_eq!(container_state(builder).unwrap().0, "running");
    assert!(volume_exists(volume));
}

#[test]
fn volumes_not_named_as_buildx_state_are_never_listed() {
    let _lock = deletion_lock();
    let others = [
        "buildx_buildkit_ci3_state_old",
        "buildx_buildkit__state",
        "cachetop_buildx_buildkit_ci3_state",
        "buildx_buildkit_ci3",
    ];
    let _cleanup = Cleanup::new(&[], &others);
    for v in others {
        filled_volume(v, 100);
    }
    let doc = report();
    for v in others {
        assert!(find(&doc, v).is_none(), "{v} is listed");
    }
    let (out, doc) = prune(&["--type", KIND, "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for v in others {
        assert!(!planned_ids(&doc).contains(&v), "{v} is planned");
        assert!(volume_exists(v), "{v} was removed");
    }
}

async fn settle(s: &mut cachetop::tui::Session) {
    tokio::time::timeout(Duration::from_secs(60), s.settle())
        .await
        .expect("the worker did not finish in 60 s");
}

/// A stopped builder and its state volume, as buildx leaves them.
fn stopped_builder(builder: &str, volume: &str) {
    let mount = format!("{volume}:/var/lib/buildkit");
    let mut args = vec!["run"];
    args.extend(builder_args(builder, &mount));
    args.extend([
        BASE_IMAGE,
        "sh",
        "-c",
        "echo db > /var/lib/buildkit/metadata_v2.db",
    ]);
    docker_ok(&args);
}

#[test]
fn the_screen_deletes_a_stopped_builders_state_with_d_then_y() {
    use cachetop::policy::Policy;
    use cachetop::sources::{SourceSettings, build_sources};
    use cachetop::tui::Session;
    use cachetop::tui::app::{App, Caps, Overlay};
    use cachetop::tui::keys::Mode;
    use cachetop::tui::worker::Worker;
    use ratatui::layout::Rect;

    let _lock = deletion_lock();
    let (builder, volume) = ("buildx_buildkit_ci7", "buildx_buildkit_ci7_state");
    let _cleanup = Cleanup::new(&[builder], &[volume]);
    stopped_builder(builder, volume);

    let lines = |app: &App| -> String {
        app.overlays
            .last()
            .map(|o| {
                o.lines()
                    .iter()
                    .map(|l| l.text.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (confirm, message) = runtime.block_on(async {
        let settings = SourceSettings {
            docker_hosts: vec![cachetop::sources::docker::dial::DockerHost::plain(
                daemon().host.clone(),
            )],
            ..SourceSettings::default()
        };
        let sources = build_sources(&settings, false).await.unwrap();
        let refs: Vec<_> = sources.iter().map(|s| s.source_ref().clone()).collect();
        let worker = Worker {
            sources,
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
            Rect::new(0, 0, 120, 40),
        );
        let mut s = Session::new(app, worker);
        settle(&mut s).await;
        for k in tui_support::keys(&format!("/{volume}<Enter>d")) {
            s.key(k);
        }
        settle(&mut s).await;
        assert_eq!(s.app.mode(), Mode::Confirm);
        assert!(matches!(
            s.app.overlays.last(),
            Some(Overlay::Confirm { .. })
        ));
        let confirm = lines(&s.app);
        assert!(
            container_state(builder).is_some(),
            "d alone removed the builder"
        );
        for k in tui_support::keys("y") {
            s.key(k);
        }
        settle(&mut s).await;
        (confirm, lines(&s.app))
    });
    assert!(
        confirm.contains(&format!("docker {} rm {builder}", host_flag())),
        "{confirm}"
    );
    assert!(
        confirm.contains(&format!("docker {} volume rm {volume}", host_flag())),
        "{confirm}"
    );
    assert!(message.contains("Deleted 1 of 1 planned"), "{message}");
    assert_eq!(container_state(builder), None, "the builder is still there");
    assert!(!volume_exists(volume), "the volume is still there");
}
