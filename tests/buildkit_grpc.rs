//! BuildKit's gRPC Control API against real BuildKits: the isolated test daemon's
//! embedded one through `POST /grpc`, and a second isolated daemon's through a builder
//! container named as buildx names one (its `buildctl dial-stdio` is a relay; the
//! BuildKit is real), a unix socket, tcp and TLS (scripts/test-buildkit.sh). Each
//! answer is checked against the daemon's own `/system/df`.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cachetop::sources::ErrorKind;
use cachetop::sources::buildkit::{Address, Client, Record, TlsFiles};
use chrono::{DateTime, Utc};
use common::buildkit::*;
use common::*;
use serde_json::Value;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn embedded() -> Address {
    Address::DockerEmbedded {
        docker_host: daemon().host.clone(),
    }
}

fn list(address: &Address) -> Vec<Record> {
    rt().block_on(async {
        let client = Client::connect(address.clone()).await.unwrap();
        client.disk_usage().await.unwrap()
    })
}

fn ids(records: &[Record]) -> BTreeSet<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

fn df_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
        .filter(|t| t.timestamp() > 0)
}

/// Every fact of every record agrees with `/system/df`, one for one.
fn assert_same_as_df(records: &[Record], df: &BTreeMap<String, Value>) {
    assert_eq!(ids(records), df.keys().cloned().collect(), "record ids");
    for r in records {
        let d = &df[&r.id];
        assert_eq!(r.record_type, d["Type"], "{}: type", r.id);
        assert_eq!(r.description, d["Description"], "{}: description", r.id);
        assert_eq!(Some(r.size), d["Size"].as_u64(), "{}: size", r.id);
        assert_eq!(r.in_use, d["InUse"], "{}: in use", r.id);
        assert_eq!(r.shared, d["Shared"], "{}: shared", r.id);
        assert_eq!(
            Some(r.usage_count),
            d["UsageCount"].as_u64(),
            "{}: usage",
            r.id
        );
        assert_eq!(r.created_at, df_time(&d["CreatedAt"]), "{}: created", r.id);
        assert_eq!(
            r.last_used_at,
            df_time(&d["LastUsedAt"]),
            "{}: last used",
            r.id
        );
        // API 1.41 has the single Parent; later ones Parents.
        let parents: Vec<String> = match d.get("Parents").and_then(Value::as_array) {
            Some(ps) => ps.iter().map(|p| p.as_str().unwrap().to_string()).collect(),
            None => d["Parent"]
                .as_str()
                .filter(|p| !p.is_empty())
                .map(|p| vec![p.to_string()])
                .unwrap_or_default(),
        };
        assert_eq!(r.parents, parents, "{}: parents", r.id);
    }
}

#[test]
fn embedded_disk_usage_matches_system_df_one_for_one() {
    let _lock = deletion_lock();
    let tag = unique("grpc-df");
    build_with(
        &format!(
            "FROM {BASE_IMAGE}\nRUN --mount=type=cache,target=/cache/{tag} head -c 3000 /dev/zero > /cache/{tag}/f\nRUN echo {tag} > /layer\n"
        ),
        &[],
    );
    let (records, df) = settled(&daemon().socket, || list(&embedded()));
    assert!(
        records.iter().any(|r| r.record_type == "exec.cachemount"
            && r.description.contains(&format!("/cache/{tag}"))),
        "the new cache mount is listed"
    );
    assert!(
        records.iter().any(|r| !r.parents.is_empty()),
        "parents are read"
    );
    assert_same_as_df(&records, &df);
}

#[test]
fn embedded_prune_deletes_exactly_the_one_id_and_says_so() {
    let _lock = deletion_lock();
    let tag = unique("grpc-prune");
    build_with(
        &format!(
            "FROM {BASE_IMAGE}\nRUN --mount=type=cache,target=/cache/{tag} echo {tag} > /cache/{tag}/f\n"
        ),
        &["-o", "type=tar,dest=/dev/null"],
    );
    let target = api_mount_record(&format!("/cache/{tag}"));
    let id = target["ID"].as_str().unwrap().to_string();
    let before: BTreeSet<String> = api_records()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();
    let deleted = rt().block_on(async {
        let client = Client::connect(embedded()).await.unwrap();
        client.prune_one(&id).await.unwrap()
    });
    assert_eq!(
        ids(&deleted),
        BTreeSet::from([id.clone()]),
        "what BuildKit says it deleted"
    );
    let after: BTreeSet<String> = api_records()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();
    let gone: Vec<_> = before.difference(&after).collect();
    assert_eq!(gone, [&id], "exactly the chosen record is gone");

    // An id that is no longer there deletes nothing.
    let again = rt().block_on(async {
        Client::connect(embedded())
            .await
            .unwrap()
            .prune_one(&id)
            .await
            .unwrap()
    });
    assert!(again.is_empty(), "{again:?}");
    let still: BTreeSet<String> = api_records()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();
    assert!(after.is_subset(&still) || after == still);
}

#[test]
fn a_prune_of_anything_but_a_plain_id_is_refused_before_it_is_sent() {
    let _lock = deletion_lock();
    let before = api_records().len();
    let e = rt().block_on(async {
        let client = Client::connect(embedded()).await.unwrap();
        client.prune_one(".*").await.unwrap_err()
    });
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.message.contains("refusing to prune"), "{}", e.message);
    assert_eq!(api_records().len(), before);
}

#[test]
fn workers_and_version_answer() {
    let (workers, version) = rt().block_on(async {
        let client = Client::connect(embedded()).await.unwrap();
        (
            client.workers().await.unwrap(),
            client.version().await.unwrap(),
        )
    });
    assert!(!workers.is_empty());
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert!(
        workers[0]
            .platforms
            .iter()
            .any(|p| p == &format!("linux/{arch}")),
        "{:?}",
        workers[0].platforms
    );
    // dockerd 20.10's BuildKit has no Info; a newer one names its version.
    if let Some(v) = version {
        assert!(!v.version.is_empty(), "{v:?}");
    }
}

#[test]
fn a_docker_container_builder_lists_the_second_daemons_records() {
    let parts = buildkit_parts();
    build_cache_mounts_on(&parts.docker_host, &unique("builder"), 2);
    let address = Address::parse(
        &format!("docker-container://{}", parts.builder),
        &daemon().host,
        None,
    )
    .unwrap();
    let (records, df) = settled(&parts.docker_socket, || list(&address));
    assert_same_as_df(&records, &df);
    let main: BTreeSet<String> = api_records()
        .iter()
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .collect();
    assert!(
        ids(&records).is_disjoint(&main),
        "not the main daemon's records"
    );
}

#[test]
fn a_prune_through_the_builder_deletes_exactly_its_id_on_the_far_daemon() {
    let parts = buildkit_parts();
    let tag = unique("builder-prune");
    build_cache_mounts_on(&parts.docker_host, &tag, 1);
    let needle = format!("cached mount /cache/{tag}-0 from exec");
    let ((), before) = settled(&parts.docker_socket, || ());
    let id = before
        .values()
        .find(|r| r["Description"].as_str().unwrap().starts_with(&needle) && r["InUse"] == false)
        .map(|r| r["ID"].as_str().unwrap().to_string())
        .expect("the new cache mount");
    let address = Address::parse(
        &format!("docker-container://{}", parts.builder),
        &daemon().host,
        None,
    )
    .unwrap();
    let deleted = rt().block_on(async {
        Client::connect(address)
            .await
            .unwrap()
            .prune_one(&id)
            .await
            .unwrap()
    });
    assert_eq!(ids(&deleted), BTreeSet::from([id.clone()]));
    let after = df_records_at(&parts.docker_socket);
    let gone: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    assert_eq!(gone, [&id], "exactly the chosen record is gone");
}

#[test]
fn unix_tcp_and_tls_relays_list_the_same_records() {
    let parts = buildkit_parts();
    build_cache_mounts_on(&parts.docker_host, &unique("relays"), 1);
    let tls = TlsFiles {
        ca: parts.tls_dir.join("ca.pem"),
        cert: Some(parts.tls_dir.join("client.pem")),
        key: Some(parts.tls_dir.join("client.key")),
        server_name: None,
    };
    let host = &daemon().host;
    for address in [
        Address::parse(&parts.unix, host, None).unwrap(),
        Address::parse(&parts.tcp, host, None).unwrap(),
        Address::parse(&parts.tls, host, Some(tls.clone())).unwrap(),
    ] {
        let (records, df) = settled(&parts.docker_socket, || list(&address));
        assert_same_as_df(&records, &df);
    }
}

fn tls_error(files: TlsFiles) -> cachetop::sources::SourceError {
    let parts = buildkit_parts();
    let address = Address::parse(&parts.tls, &daemon().host, Some(files)).unwrap();
    rt().block_on(async {
        let started = Instant::now();
        let r = match Client::connect(address).await {
            Ok(c) => c.disk_usage().await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(started.elapsed() < Duration::from_secs(30));
        r.unwrap_err()
    })
}

#[test]
fn a_wrong_ca_is_refused_and_named() {
    let dir = &buildkit_parts().tls_dir;
    let e = tls_error(TlsFiles {
        ca: dir.join("other-ca.pem"),
        cert: Some(dir.join("client.pem")),
        key: Some(dir.join("client.key")),
        server_name: None,
    });
    assert_eq!(e.kind, ErrorKind::Auth, "{}", e.message);
    assert!(
        e.message.contains(&format!(
            "not signed by the CA in {}",
            dir.join("other-ca.pem").display()
        )),
        "{}",
        e.message
    );
}

#[test]
fn a_missing_client_certificate_is_refused_and_said() {
    let dir = &buildkit_parts().tls_dir;
    let e = tls_error(TlsFiles {
        ca: dir.join("ca.pem"),
        cert: None,
        key: None,
        server_name: None,
    });
    // The server's alert can be lost as it closes the connection: then a hint.
    assert!(
        matches!(e.kind, ErrorKind::Auth | ErrorKind::NoAnswer),
        "{}",
        e.message
    );
    assert!(e.message.contains("client certificate"), "{}", e.message);
}

#[test]
fn a_certificate_file_that_is_not_there_is_named() {
    let dir = &buildkit_parts().tls_dir;
    let e = tls_error(TlsFiles {
        ca: dir.join("ca.pem"),
        cert: Some(PathBuf::from("/nonexistent/client.pem")),
        key: Some(dir.join("client.key")),
        server_name: None,
    });
    assert!(
        e.message.contains("/nonexistent/client.pem"),
        "{}",
        e.message
    );
    assert!(e.message.contains("--tlscert"), "{}", e.message);
}
