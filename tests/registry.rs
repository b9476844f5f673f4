//! The registry source against Debian's docker-registry on loopback: BuildKit caches
//! in both manifest layouts pushed through the registry API, a real image built with
//! inline cache by the isolated daemon, deleting by digest where the registry allows it
//! and says no (405), and what damaged content looks like.

use crate::common;

use std::process::Output;

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use serde_json::Value;

use common::registry::*;
use common::*;

/// cachetop with no docker credentials and no registry password from the machine.
fn cachetop_reg() -> (assert_cmd::Command, tempfile::TempDir) {
    let cfg = tempfile::tempdir().unwrap();
    let mut cmd = cachetop();
    cmd.env("DOCKER_CONFIG", cfg.path())
        .env_remove("CACHETOP_REGISTRY_PASSWORD")
        .arg("--no-docker");
    (cmd, cfg)
}

fn report(args: &[&str]) -> (Value, Output) {
    let (mut cmd, _cfg) = cachetop_reg();
    let out = cmd.args(args).args(["report", "--json"]).output().unwrap();
    assert_no_panic(&out);
    (json_of(&out), out)
}

fn t(when: DateTime<Utc>) -> String {
    when.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn time_of(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc))
}

fn new_repo(tag: &str) -> String {
    unique(tag).replace('_', "-")
}

#[test]
fn a_cache_in_either_layout_lists_every_layer_with_its_size_and_time() {
    let r = registries();
    let api = Api::new(&r.delete);
    let now = Utc::now().trunc_subsecs(0);
    let (old, fresh, mid) = (
        now - Duration::days(30),
        now - Duration::hours(1),
        now - Duration::days(2),
    );
    for layout in [CacheLayout::Index, CacheLayout::ImageManifest] {
        let repo = new_repo("layout");
        let specs = [
            LayerSpec::new(1000).annotated(&t(old)),
            LayerSpec::new(2500).in_config(&t(fresh)),
            // The annotation wins over the cache config.
            LayerSpec::new(4096).annotated(&t(mid)).in_config(&t(old)),
            LayerSpec::new(10),
        ];
        let cache = build_cache(&repo, layout, &specs);
        cache.push(&api, &repo, "buildcache");
        let reference = format!("{}/{repo}:buildcache", r.delete);

        // What the registry itself says it holds.
        let served = api.get_manifest(&repo, "buildcache");
        assert_eq!(served.status, 200);
        assert_eq!(
            served.headers["docker-content-digest"].to_str().unwrap(),
            cache.digest
        );

        let (doc, out) = report(&["--registry", &reference]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let src = &doc["sources"][0];
        assert_eq!(src["kind"], "registry");
        assert_eq!(src["name"], reference.as_str());
        assert_eq!(src["ok"], true);
        assert_eq!(
            src["details"]["layout"],
            match layout {
                CacheLayout::Index => "cache-index",
                CacheLayout::ImageManifest => "cache-image-manifest",
            }
        );
        assert_eq!(doc["entries"].as_array().unwrap().len(), 5, "{doc:#}");

        let m = entry(&doc, &cache.digest);
        assert_eq!(m["kind"], "registry.manifest");
        assert_eq!(m["source"], "registry");
        assert_eq!(m["source_name"], reference.as_str());
        assert_eq!(
            m["size_bytes"],
            (cache.manifest.len() + cache.config.len()) as u64
        );
        assert_eq!(
            time_of(&m["created_at"]),
            Some(fresh),
            "newest layer's time"
        );
        assert_eq!(flags(m), Vec::<&str>::new());
        assert_eq!(m["details"]["layers"], "4");
        assert_eq!(
            m["details"]["layers_bytes"],
            (1000 + 2500 + 4096 + 10).to_string()
        );
        assert_eq!(m["details"]["cache_records"], "4");
        assert!(m["description"].as_str().unwrap().contains(&reference));

        let want = [
            (Some(old), vec!["stale"], "buildkit/createdat annotation"),
            (Some(fresh), vec![], "cache config createdAt"),
            (Some(mid), vec![], "buildkit/createdat annotation"),
            (None, vec![], ""),
        ];
        for (i, ((digest, bytes), (created, fl, from))) in cache.layers.iter().zip(want).enumerate()
        {
            let e = entry(&doc, digest);
            assert_eq!(e["kind"], "registry.layer");
            assert_eq!(e["size_bytes"], bytes.len() as u64);
            assert_eq!(e["size_bytes"], specs[i].size as u64);
            assert_eq!(time_of(&e["created_at"]), created, "layer {i}");
            assert_eq!(flags(e), fl, "layer {i}");
            assert_eq!(
                e["description"],
                format!("layer {}/4 of {reference}", i + 1).as_str()
            );
            assert_eq!(e["details"]["media_type"], GZIP_LAYER);
            assert_eq!(e["details"]["manifest"], cache.digest.as_str());
            assert_eq!(e["details"]["ref"], reference.as_str());
            if from.is_empty() {
                assert!(e["details"].get("created_from").is_none());
            } else {
                assert_eq!(e["details"]["created_from"], from);
            }
        }

        // A shorter stale window makes the two-day-old layer stale too.
        let (doc, _) = report(&["--registry", &reference, "--stale-after", "1d"]);
        assert_eq!(flags(entry(&doc, &cache.layers[2].0)), vec!["stale"]);
        assert_eq!(flags(entry(&doc, &cache.layers[1].0)), Vec::<&str>::new());
    }
}

#[test]
fn an_image_built_with_inline_cache_lists_its_layers_with_history_times() {
    let r = registries();
    let d = daemon();
    let repo = new_repo("inline");
    let image = format!("{}/{repo}:latest", r.delete);
    build_with(
        &format!(
            "FROM {BASE_IMAGE}\nRUN head -c 30000 /dev/urandom > /a\nRUN head -c 70000 /dev/urandom > /b\n"
        ),
        &["--build-arg", "BUILDKIT_INLINE_CACHE=1", "-t", &image],
    );
    let cfg = tempfile::tempdir().unwrap();
    let push = std::process::Command::new(DOCKER_CLI)
        .args(["push", &image])
        .env("DOCKER_HOST", &d.host)
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", text(&push.stderr));

    // The registry's own view: manifest, config, history.
    let api = Api::new(&r.delete);
    let served = api.get_manifest(&repo, "latest");
    assert_eq!(served.status, 200);
    let digest = served.headers["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    let manifest: Value = serde_json::from_slice(&served.body).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config: Value = serde_json::from_slice(&api.get_blob(&repo, config_digest).body).unwrap();
    assert!(
        config.get("moby.buildkit.cache.v0").is_some(),
        "the daemon did not write inline cache: {config:#}"
    );
    let history: Vec<&Value> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["empty_layer"] != true)
        .collect();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), history.len());
    assert!(layers.len() >= 3);

    let (doc, out) = report(&["--registry", &image]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(doc["sources"][0]["details"]["layout"], "inline-cache");
    let m = entry(&doc, &digest);
    assert_eq!(m["kind"], "registry.manifest");
    assert_eq!(m["details"]["layout"], "inline-cache");
    assert!(
        m["details"]["cache_records"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    let mut newest = None;
    for (i, (l, h)) in layers.iter().zip(&history).enumerate() {
        let e = entry(&doc, l["digest"].as_str().unwrap());
        assert_eq!(e["kind"], "registry.layer");
        assert_eq!(e["size_bytes"], l["size"]);
        let created = time_of(&h["created"]).map(|t| t.trunc_subsecs(0));
        assert_eq!(time_of(&e["created_at"]), created, "layer {i}");
        newest = newest.max(created);
        let by = h["created_by"].as_str().unwrap_or("");
        if !by.is_empty() {
            assert_eq!(e["details"]["description"], by);
            assert!(e["description"].as_str().unwrap().ends_with(by));
        }
    }
    assert_eq!(time_of(&m["created_at"]), newest);
    assert!(doc["entries"].as_array().unwrap().iter().any(|e| {
        e["details"]["description"]
            .as_str()
            .is_some_and(|s| s.contains("head -c 70000"))
    }));
}

#[test]
fn an_image_without_cache_is_a_clear_error() {
    let r = registries();
    let api = Api::new(&r.delete);
    let repo = new_repo("plain");
    let layer = layer_bytes(&repo, 0, 100);
    api.push_blob(&repo, &layer);
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    api.push_blob(&repo, config);
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": config.len()},
        "layers": [{"mediaType": GZIP_LAYER, "digest": sha256(&layer), "size": 100}]});
    api.push_manifest(
        &repo,
        "v1",
        OCI_MANIFEST,
        &serde_json::to_vec(&manifest).unwrap(),
    );
    let (doc, out) = report(&["--registry", &format!("{}/{repo}:v1", r.delete)]);
    assert_eq!(out.status.code(), Some(1));
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(err.contains("an image without BuildKit cache"), "{err}");
    assert!(err.contains("BUILDKIT_INLINE_CACHE=1"), "{err}");
    assert!(text(&out.stderr).contains("an image without BuildKit cache"));

    let (doc, out) = report(&["--registry", &format!("{}/{repo}:nope", r.delete)]);
    assert_eq!(out.status.code(), Some(1));
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("has no manifest") && err.contains("MANIFEST_UNKNOWN"),
        "{err}"
    );
}

#[test]
fn wrong_media_types_and_damaged_content_are_clear_errors() {
    let r = registries();
    let api = Api::new(&r.delete);

    // A manifest whose config is neither a cache config nor an image config.
    let repo = new_repo("helm");
    let cfg = br#"{"name":"chart"}"#;
    api.push_blob(&repo, cfg);
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": sha256(cfg), "size": cfg.len()},
        "layers": []});
    api.push_manifest(
        &repo,
        "chart",
        OCI_MANIFEST,
        &serde_json::to_vec(&m).unwrap(),
    );
    let (doc, out) = report(&["--registry", &format!("{}/{repo}:chart", r.delete)]);
    assert_eq!(out.status.code(), Some(1));
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("helm.config") && err.contains(CACHE_CONFIG),
        "{err}"
    );

    // A cache config blob that is not JSON.
    let repo = new_repo("badcfg");
    let junk = b"this is not a cache config".to_vec();
    api.push_blob(&repo, &junk);
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": CACHE_CONFIG, "digest": sha256(&junk), "size": junk.len()}]});
    api.push_manifest(&repo, "c", OCI_INDEX, &serde_json::to_vec(&m).unwrap());
    let (doc, _) = report(&["--registry", &format!("{}/{repo}:c", r.delete)]);
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("cache config") && err.contains("not valid JSON"),
        "{err}"
    );

    // Stored bytes that no longer match their digest: the cache config, then the
    // manifest itself.
    let repo = new_repo("damaged");
    let cache = build_cache(&repo, CacheLayout::Index, &[LayerSpec::new(300)]);
    cache.push(&api, &repo, "c");
    corrupt_stored_blob("delete", &cache.config_digest);
    let (doc, out) = report(&["--registry", &format!("{}/{repo}:c", r.delete)]);
    assert_eq!(out.status.code(), Some(1));
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(err.contains("does not match its digest"), "{err}");
    assert!(err.contains(&cache.config_digest), "{err}");

    // distribution itself refuses to serve a damaged manifest (500): cachetop says
    // which manifest failed.
    let repo = new_repo("damagedmanifest");
    let cache = build_cache(&repo, CacheLayout::ImageManifest, &[LayerSpec::new(300)]);
    cache.push(&api, &repo, "c");
    corrupt_stored_blob("delete", &cache.digest);
    let reference = format!("{}/{repo}:c", r.delete);
    let (doc, out) = report(&["--registry", &reference]);
    assert_eq!(out.status.code(), Some(1));
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(
        err.contains(&format!("failed to serve manifest {reference} (HTTP 500)")),
        "{err}"
    );
}

fn prune(args: &[&str]) -> (Value, Output) {
    let (mut cmd, _cfg) = cachetop_reg();
    let out = cmd.args(args).output().unwrap();
    assert_no_panic(&out);
    (json_of(&out), out)
}

#[test]
fn prune_deletes_the_manifest_by_digest_where_deleting_is_allowed() {
    let r = registries();
    let api = Api::new(&r.delete);
    let repo = new_repo("prune");
    let cache = build_cache(
        &repo,
        CacheLayout::Index,
        &[LayerSpec::new(2000).annotated("2025-01-01T00:00:00Z")],
    );
    cache.push(&api, &repo, "buildcache");
    let reference = format!("{}/{repo}:buildcache", r.delete);

    let (plan, out) = prune(&[
        "--registry",
        &reference,
        "prune",
        "--source",
        "registry",
        "--stale",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let planned: Vec<&str> = plan["planned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(planned, vec![cache.digest.as_str()], "only the manifest");
    assert_eq!(
        plan["equivalent_commands"][0],
        format!("crane delete {}/{repo}@{}", r.delete, cache.digest).as_str()
    );
    let kept = plan["skipped"].as_array().unwrap();
    assert!(kept.iter().any(|s| s["id"] == cache.layers[0].0.as_str()
        && s["reason"].as_str().unwrap().contains("garbage collection")));
    assert_eq!(
        api.get_manifest(&repo, &cache.digest).status,
        200,
        "dry run deleted"
    );

    let (done, out) = prune(&[
        "--registry",
        &reference,
        "prune",
        "--source",
        "registry",
        "--stale",
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(done["deleted"][0]["id"], cache.digest.as_str());
    assert_eq!(done["deleted"].as_array().unwrap().len(), 1);
    assert_eq!(api.get_manifest(&repo, &cache.digest).status, 404);
    assert_eq!(
        api.get_manifest(&repo, "buildcache").status,
        404,
        "the tag went with it"
    );
    // Layers are left for the registry's garbage collection.
    assert_eq!(api.get_blob(&repo, &cache.layers[0].0).status, 200);
}

#[test]
fn prune_says_clearly_when_the_registry_does_not_allow_deleting() {
    let r = registries();
    let api = Api::new(&r.nodelete);
    let repo = new_repo("nodelete");
    let cache = build_cache(&repo, CacheLayout::ImageManifest, &[LayerSpec::new(500)]);
    cache.push(&api, &repo, "buildcache");
    let reference = format!("{}/{repo}:buildcache", r.nodelete);
    let (done, out) = prune(&[
        "--registry",
        &reference,
        "prune",
        "--source",
        "registry",
        "--type",
        "registry.manifest",
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "a refused delete is a failure");
    assert_eq!(done["deleted"], serde_json::json!([]));
    let reason = done["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == cache.digest.as_str())
        .unwrap()["reason"]
        .as_str()
        .unwrap();
    assert!(
        reason.contains("does not allow deleting manifests (405"),
        "{reason}"
    );
    assert!(reason.contains("storage.delete.enabled"), "{reason}");
    assert!(text(&out.stderr).contains("405") || text(&out.stdout).contains("405"));
    assert_eq!(
        api.get_manifest(&repo, "buildcache").status,
        200,
        "still there"
    );
}

#[test]
fn a_manifest_that_a_multi_platform_index_references_is_never_deleted() {
    let r = registries();
    let api = Api::new(&r.delete);
    let repo = new_repo("multi");
    let now = Utc::now().trunc_subsecs(0);
    let amd = build_inline_image(
        &format!("{repo}-amd64"),
        &[100, 200],
        &[&t(now - Duration::days(20)), &t(now - Duration::days(10))],
    );
    let arm = build_inline_image(
        &format!("{repo}-arm64"),
        &[300],
        &[&t(now - Duration::days(9))],
    );
    amd.push(&api, &repo, &amd.digest);
    arm.push(&api, &repo, &arm.digest);
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": amd.digest, "size": amd.manifest.len(),
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": OCI_MANIFEST, "digest": arm.digest, "size": arm.manifest.len(),
         "platform": {"os": "linux", "architecture": "arm64"}}]});
    let index = serde_json::to_vec(&index).unwrap();
    let index_digest = api.push_manifest(&repo, "multi", OCI_INDEX, &index);
    let reference = format!("{}/{repo}:multi", r.delete);

    let (doc, out) = report(&["--registry", &reference]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let idx = entry(&doc, &index_digest);
    assert_eq!(idx["details"]["layout"], "multi-platform-index");
    assert_eq!(idx["details"]["manifests"], "2");
    assert_eq!(time_of(&idx["created_at"]), Some(now - Duration::days(9)));
    let child = entry(&doc, &amd.digest);
    assert_eq!(child["details"]["index"], index_digest.as_str());
    assert_eq!(child["details"]["platform"], "linux/amd64");
    assert_eq!(
        time_of(&child["created_at"]),
        Some(now - Duration::days(10))
    );
    assert_eq!(entry(&doc, &arm.layers[0].0)["size_bytes"], 300);

    // Everything is stale: the children are kept, only the index goes.
    let (done, out) = prune(&[
        "--registry",
        &reference,
        "prune",
        "--source",
        "registry",
        "--stale",
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let deleted: Vec<&str> = done["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(deleted, vec![index_digest.as_str()]);
    for c in [&amd.digest, &arm.digest] {
        let s = done["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == c.as_str())
            .unwrap();
        assert!(
            s["reason"]
                .as_str()
                .unwrap()
                .contains("multi-platform index"),
            "{s}"
        );
        assert_eq!(
            api.get_manifest(&repo, c).status,
            200,
            "child {c} was deleted"
        );
    }
    assert_eq!(api.get_manifest(&repo, &index_digest).status, 404);
}

#[test]
fn unreachable_registries_and_bad_references_are_clear_errors() {
    let (doc, out) = report(&["--registry", "127.0.0.1:9/app:cache"]);
    assert_eq!(out.status.code(), Some(1));
    let err = doc["sources"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("cannot connect to registry 127.0.0.1:9 over http"),
        "{err}"
    );

    let (mut cmd, _cfg) = cachetop_reg();
    let out = cmd
        .args(["--registry", "Not A Ref", "report"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not an image reference"),
        "{}",
        text(&out.stderr)
    );
}
