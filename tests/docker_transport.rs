//! How cachetop reaches one Docker daemon: over ssh (a real sshd whose key runs
//! `docker system dial-stdio` against the isolated daemon), in TLS (a second isolated
//! daemon with `--tlsverify`), and through docker contexts written by docker's own CLI.
//! Every listing is checked against the daemon's own API.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use cachetop::sources::buildkit::{Address, Client, TlsFiles};
use cachetop::sources::docker::dial::{self, DockerHost};
use common::buildkit::*;
use common::remote::*;
use common::*;
use serde_json::Value;

fn ok_json(out: &Output) -> Value {
    assert_no_panic(out);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    json_of(out)
}

fn records_of(doc: &Value) -> BTreeMap<String, Value> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] != "buildx.state-volume")
        .map(|e| (e["id"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn api_ids() -> BTreeMap<String, Value> {
    api_records()
        .into_iter()
        .map(|r| (r["ID"].as_str().unwrap().to_string(), r))
        .collect()
}

/// The entries of `doc` are the daemon's records one for one: every record that stayed
/// through the run is listed with its size, and nothing is listed that the daemon
/// did not have.
/// The report `run` makes lists the daemon's records one for one. Other tests build
/// and prune on this daemon meanwhile, and dockerd's `/system/df` leaves a record out
/// of a read now and then, so a mismatch is read again (up to three times) before it
/// fails: a real mismatch repeats, a passing one does not.
fn one_for_one(run: impl Fn() -> Value) -> Value {
    let mut last = String::new();
    for _ in 0..3 {
        let before = api_ids();
        let doc = run();
        match check_one_for_one(&doc, &before) {
            Ok(()) => return doc,
            Err(why) => last = why,
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("{last}");
}

fn check_one_for_one(doc: &Value, before: &BTreeMap<String, Value>) -> Result<(), String> {
    let after = api_ids();
    let listed = records_of(doc);
    for (id, r) in before.iter().filter(|(id, _)| after.contains_key(*id)) {
        let Some(e) = listed.get(id) else {
            return Err(format!("{id} is not listed"));
        };
        if after[id]["Size"] == r["Size"] && e["size_bytes"] != r["Size"] {
            return Err(format!("{id}: size {} vs {}", e["size_bytes"], r["Size"]));
        }
    }
    for id in listed.keys() {
        if !(before.contains_key(id) || after.contains_key(id)) {
            return Err(format!("{id} is listed but the daemon never had it"));
        }
    }
    Ok(())
}

#[test]
fn records_over_ssh_match_the_api_one_for_one_and_their_content_is_left_to_that_host() {
    let (_, id) = built_mount("over-ssh");
    let s = ssh();
    let doc = one_for_one(|| {
        ok_json(
            &cachetop_with_ssh()
                .args(["--host", &s.host, "report", "--json"])
                .output()
                .unwrap(),
        )
    });
    let src = &doc["sources"][0];
    assert_eq!(src["name"], s.host.as_str());
    assert_eq!(src["ok"], true, "{src}");
    assert_eq!(src["details"]["api_version"], "1.41");
    // The record is on the far side: its files are not looked for here.
    let e = entry(&doc, &id);
    assert_eq!(e["source_name"], s.host.as_str());
    assert_eq!(e["content"]["path"], "");
    assert_eq!(e["disk_bytes"], Value::Null);
    let why = e["content"]["error"].as_str().unwrap();
    assert!(
        why.contains("runs on another machine") && why.contains("run cachetop on that machine"),
        "{why}"
    );

    // The same sshd by address: user and port go to ssh as -l and -p.
    let doc = ok_json(
        &cachetop_with_ssh()
            .args(["--host", &s.url, "report", "--json", "--no-scan"])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["sources"][0]["ok"], true, "{}", doc["sources"][0]);
    assert!(records_of(&doc).contains_key(&id));
}

#[test]
fn a_prune_over_ssh_deletes_exactly_the_chosen_id_with_the_dry_runs_plan() {
    let _lock = deletion_lock();
    let (_, keep) = built_mount("ssh-keep");
    let (_, gone) = built_mount("ssh-gone");
    let s = ssh();
    let before: BTreeSet<String> = api_ids().into_keys().collect();
    let prune = |extra: &str| {
        ok_json(
            &cachetop_with_ssh()
                .args(["--host", &s.host, "prune", "--id", &gone, extra, "--json"])
                .output()
                .unwrap(),
        )
    };
    let dry = prune("--dry-run");
    assert_eq!(dry["dry_run"], true);
    assert!(api_record(&gone).is_some(), "a dry run deleted the record");
    let real = prune("--yes");
    assert_eq!(dry["planned"], real["planned"], "the plans differ");
    assert_eq!(real["planned"].as_array().unwrap().len(), 1);
    assert_eq!(real["planned"][0]["source_name"], s.host.as_str());
    assert_eq!(
        real["deleted"],
        serde_json::json!([{"source": "docker", "id": gone}])
    );
    let cmd = real["equivalent_commands"][0].as_str().unwrap();
    assert!(
        cmd.starts_with(&format!("docker -H {} builder prune", s.host)),
        "{cmd}"
    );
    assert!(
        api_record(&gone).is_none(),
        "the chosen record is still there"
    );
    assert!(api_record(&keep).is_some(), "another record was deleted");
    // dockerd's /system/df can leave out a record for one read while builds run
    // beside this test: a record counts as gone only when a few reads agree.
    let mut missing: Vec<String> = Vec::new();
    for _ in 0..5 {
        let after: BTreeSet<String> = api_ids().into_keys().collect();
        missing = before
            .iter()
            .filter(|id| **id != gone && !after.contains(*id))
            .cloned()
            .collect();
        if missing.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(missing.is_empty(), "{missing:?} disappeared");
}

#[test]
fn a_refused_key_or_an_unknown_host_key_is_a_failed_source_in_ssh_words() {
    let s = ssh();
    for (host, said) in [
        (&s.wrong_key, "Permission denied (publickey)"),
        (&s.unknown_host, "Host key verification failed"),
    ] {
        let out = cachetop_with_ssh()
            .args(["--host", host, "report", "--json"])
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let doc = json_of(&out);
        let src = &doc["sources"][0];
        assert_eq!(src["ok"], false);
        let error = src["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!(
                "cannot reach the Docker daemon at {host} over ssh: ssh said: "
            )) && error.contains(said),
            "{error}"
        );
    }
}

/// A docker config directory with contexts made by docker's own CLI.
fn docker_cli(config: &Path, args: &[&str]) {
    let out = std::process::Command::new(DOCKER_CLI)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_context_made_by_docker_picks_the_daemon_and_names_it() {
    let (_, id) = built_mount("context");
    let config = tempfile::tempdir().unwrap();
    let d = daemon();
    docker_cli(
        config.path(),
        &[
            "context",
            "create",
            "ci-east",
            "--docker",
            &format!("host={}", d.host),
        ],
    );
    let report = |cmd: &mut assert_cmd::Command| {
        ok_json(
            &cmd.env("DOCKER_CONFIG", config.path())
                .args(["report", "--json", "--no-scan"])
                .output()
                .unwrap(),
        )
    };
    let named = |doc: &Value| {
        let src = &doc["sources"][0];
        assert_eq!(src["ok"], true, "{src}");
        assert_eq!(src["name"], d.host.as_str());
        assert_eq!(src["details"]["context"], "ci-east");
        assert!(records_of(doc).contains_key(&id));
    };
    // --context, DOCKER_CONTEXT, and the current context `docker context use` sets.
    named(&report(cachetop().args(["--context", "ci-east"])));
    named(&report(cachetop().env("DOCKER_CONTEXT", "ci-east")));
    docker_cli(config.path(), &["context", "use", "ci-east"]);
    let doc = report(&mut cachetop());
    named(&doc);
    // DOCKER_HOST wins over the current context, as in docker.
    let out = cachetop()
        .env("DOCKER_CONFIG", config.path())
        .env("DOCKER_HOST", "unix:///nonexistent/cachetop-docker.sock")
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    assert_eq!(
        doc["sources"][0]["name"],
        "unix:///nonexistent/cachetop-docker.sock"
    );
    // A prune through a context prints the docker command with the same context.
    let out = cachetop()
        .env("DOCKER_CONFIG", config.path())
        .args(["prune", "--id", &id, "--dry-run", "--json"])
        .output()
        .unwrap();
    let plan = ok_json(&out);
    let cmd = plan["equivalent_commands"][0].as_str().unwrap();
    assert!(
        cmd.starts_with("docker --context ci-east builder prune"),
        "{cmd}"
    );
    // --context repeats: each context's daemon is a host of its own; one that is down
    // is a failed source named by its address, the other still listed, exit 1.
    docker_cli(
        config.path(),
        &[
            "context",
            "create",
            "ci-down",
            "--docker",
            "host=unix:///nonexistent/cachetop-down.sock",
        ],
    );
    let out = cachetop()
        .env("DOCKER_CONFIG", config.path())
        .args(["--context", "ci-east", "--context", "ci-down"])
        .args(["report", "--json", "--no-scan"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let docker: Vec<&Value> = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "docker")
        .collect();
    assert_eq!(docker.len(), 2, "{}", doc["sources"]);
    assert_eq!(docker[0]["ok"], true, "{}", docker[0]);
    assert_eq!(docker[0]["details"]["context"], "ci-east");
    assert_eq!(docker[0]["host"], d.host.as_str());
    assert_eq!(docker[1]["ok"], false, "{}", docker[1]);
    assert_eq!(docker[1]["name"], "unix:///nonexistent/cachetop-down.sock");
    assert!(records_of(&doc).contains_key(&id));
    // A context that is not there is a usage error that names it.
    let out = cachetop()
        .env("DOCKER_CONFIG", config.path())
        .args(["--context", "nope", "report"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("there is no docker context \"nope\""),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_context_over_ssh_reads_the_daemon_on_the_far_side() {
    let s = ssh();
    let config = tempfile::tempdir().unwrap();
    docker_cli(
        config.path(),
        &[
            "context",
            "create",
            "runner-3",
            "--docker",
            &format!("host={}", s.host),
        ],
    );
    let doc = one_for_one(|| {
        ok_json(
            &cachetop_with_ssh()
                .env("DOCKER_CONFIG", config.path())
                .args(["--context", "runner-3", "report", "--json", "--no-scan"])
                .output()
                .unwrap(),
        )
    });
    let src = &doc["sources"][0];
    assert_eq!(src["name"], s.host.as_str());
    assert_eq!(src["details"]["context"], "runner-3");
}

fn tls_args<'a>(t: &'a TlsDaemon, ca: &'a Path) -> Vec<String> {
    vec![
        "--host".into(),
        t.host.clone(),
        "--tlsverify".into(),
        "--tlscacert".into(),
        ca.display().to_string(),
        "--tlscert".into(),
        t.certs.join("client.pem").display().to_string(),
        "--tlskey".into(),
        t.certs.join("client.key").display().to_string(),
    ]
}

#[test]
fn a_tls_daemon_is_read_with_its_certificates_and_a_wrong_ca_is_refused_by_name() {
    let t = tls_daemon();
    let doc = ok_json(
        &cachetop()
            .args(tls_args(t, &t.certs.join("ca.pem")))
            .args(["report", "--json"])
            .output()
            .unwrap(),
    );
    let src = &doc["sources"][0];
    assert_eq!(src["ok"], true, "{src}");
    assert_eq!(src["name"], t.host.as_str());
    assert_eq!(src["details"]["api_version"], "1.41");

    // The same, from DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, named as docker names them.
    let certs = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("ca.pem", "ca.pem"),
        ("client.pem", "cert.pem"),
        ("client.key", "key.pem"),
    ] {
        std::fs::copy(t.certs.join(from), certs.path().join(to)).unwrap();
    }
    let doc = ok_json(
        &cachetop()
            .env("DOCKER_HOST", &t.host)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", certs.path())
            .args(["report", "--json", "--no-scan"])
            .output()
            .unwrap(),
    );
    assert_eq!(doc["sources"][0]["ok"], true, "{}", doc["sources"][0]);

    // A CA that did not sign the daemon's certificate: refused, naming the file.
    let other = t.certs.join("other-ca.pem");
    let out = cachetop()
        .args(tls_args(t, &other))
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    let error = doc["sources"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("not signed by the CA in {}", other.display())),
        "{error}"
    );
    // Without the client certificate the daemon refuses the connection.
    let out = cachetop()
        .args([
            "--host",
            &t.host,
            "--tlsverify",
            "--tlscacert",
            &t.certs.join("ca.pem").display().to_string(),
            "report",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["sources"][0]["ok"], false);
    // A CA file that is not PEM is named with why.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not a certificate\n").unwrap();
    let out = cachetop()
        .args(tls_args(t, junk.path()))
        .args(["report", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let error = doc["sources"][0]["error"].as_str().unwrap();
    assert!(
        error.contains(&junk.path().display().to_string()) && error.contains("no PEM"),
        "{error}"
    );
}

#[test]
fn a_tls_context_made_by_docker_carries_its_certificates() {
    let t = tls_daemon();
    let config = tempfile::tempdir().unwrap();
    let c = |f: &str| t.certs.join(f).display().to_string();
    docker_cli(
        config.path(),
        &[
            "context",
            "create",
            "secure",
            "--docker",
            &format!(
                "host={},ca={},cert={},key={}",
                t.host,
                c("ca.pem"),
                c("client.pem"),
                c("client.key")
            ),
        ],
    );
    let out = cachetop()
        .env("DOCKER_CONFIG", config.path())
        .args(["--context", "secure", "report", "--json", "--no-scan"])
        .output()
        .unwrap();
    let doc = ok_json(&out);
    let src = &doc["sources"][0];
    assert_eq!(src["ok"], true, "{src}");
    assert_eq!(src["details"]["context"], "secure");
    // Nothing of the certificates reaches the output, not even where they are.
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("BEGIN"), "{all}");
    assert!(!all.contains(&config.path().display().to_string()), "{all}");
}

#[test]
fn credentials_in_a_host_address_are_refused_without_repeating_them() {
    for host in [
        "tcp://ci:hunter2@127.0.0.1:2375",
        "ssh://ci:hunter2@runner",
        "http://ci:hunter2@runner:2375",
    ] {
        let out = cachetop()
            .args(["--host", host, "report"])
            .output()
            .unwrap();
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{host}");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains("hunter2"), "{all}");
        assert!(all.contains("password"), "{all}");
        let out = cachetop()
            .env("DOCKER_HOST", host)
            .args(["report"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{host}");
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains("hunter2"), "{all}");
    }
}

#[test]
fn a_builder_container_is_reached_through_the_daemon_over_ssh() {
    let p = buildkit_parts();
    build_cache_mounts_on(&p.docker_host, &unique("ssh-builder"), 1);
    let name = format!("docker-container://{}", p.builder);
    let s = ssh();
    let (doc, df) = settled(&p.docker_socket, || {
        ok_json(
            &cachetop_with_ssh()
                .args(["--host", &s.host, "--builder", &name])
                .args(["report", "--json", "--no-scan"])
                .output()
                .unwrap(),
        )
    });
    let src = doc["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name.as_str())
        .unwrap_or_else(|| panic!("no source {name}: {doc:#}"));
    assert_eq!(src["ok"], true, "{src}");
    let listed: BTreeSet<String> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source_name"] == name.as_str())
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!listed.is_empty());
    assert_eq!(listed, df.keys().cloned().collect::<BTreeSet<_>>());
}

#[test]
fn the_daemons_own_buildkit_is_reached_through_its_tls_connection() {
    let t = tls_daemon();
    let unix = format!("unix://{}", t.socket.display());
    build_cache_mounts_on(&unix, &unique("tls-grpc"), 1);
    dial::register(&DockerHost {
        url: t.host.clone(),
        tls: Some(TlsFiles {
            ca: t.certs.join("ca.pem"),
            cert: Some(t.certs.join("client.pem")),
            key: Some(t.certs.join("client.key")),
            server_name: None,
        }),
        context: None,
    });
    let address = Address::DockerEmbedded {
        docker_host: t.host.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (records, df) = settled(&t.socket, || {
        rt.block_on(async {
            let client = Client::connect(address.clone()).await.unwrap();
            client.disk_usage().await.unwrap()
        })
    });
    let ids: BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
    assert!(!ids.is_empty());
    assert_eq!(ids, df.keys().cloned().collect::<BTreeSet<_>>());
}
