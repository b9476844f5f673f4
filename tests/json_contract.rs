//! The JSON documents scripts depend on, validated against the published schemas.

use crate::common;

use common::*;
use serde_json::{Value, json};

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/assets/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn a_real_report_matches_the_published_schema() {
    build(&cache_mount_dockerfile(
        &format!("/cache/{}", unique("schema")),
        4096,
    ));
    let out = cachetop_on_daemon()
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert!(!doc["entries"].as_array().unwrap().is_empty());
    assert_valid(&schema("report.schema.json"), &doc);
    // Sizes are integers, never strings like `docker buildx du --format json` prints.
    assert!(
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["size_bytes"].is_u64())
    );
}

#[test]
fn the_schema_rejects_a_document_with_a_missing_or_stringly_field() {
    build(&cache_mount_dockerfile(
        &format!("/cache/{}", unique("schema-neg")),
        16,
    ));
    let out = cachetop_on_daemon()
        .args(["report", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let v = schema("report.schema.json");
    let mut missing = doc.clone();
    missing["entries"][0]
        .as_object_mut()
        .unwrap()
        .remove("disk_bytes");
    assert!(!v.is_valid(&missing));
    let mut stringly = doc.clone();
    stringly["entries"][0]["size_bytes"] = json!("4096");
    assert!(!v.is_valid(&stringly));
    let mut local_time = doc;
    local_time["generated_at"] = json!("2026-11-21T10:00:00+02:00");
    assert!(!v.is_valid(&local_time));
}

#[test]
fn real_prune_documents_match_the_published_schema() {
    let target = format!("/cache/{}", unique("schema-prune"));
    build(&cache_mount_dockerfile(&target, 64));
    let v = schema("prune.schema.json");
    for args in [
        &[
            "prune",
            "--mount-target",
            target.as_str(),
            "--dry-run",
            "--json",
        ][..],
        &[
            "prune",
            "--mount-target",
            target.as_str(),
            "--yes",
            "--json",
        ],
        &[
            "prune",
            "--mount-target",
            target.as_str(),
            "--yes",
            "--json",
        ],
    ] {
        let out = cachetop_on_daemon().args(args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_valid(&v, &json_of(&out));
    }
}

#[test]
fn a_failed_source_still_gives_a_valid_document() {
    let out = cachetop()
        .args([
            "--host",
            "unix:///tmp/cachetop-absent.sock",
            "report",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_valid(&schema("report.schema.json"), &json_of(&out));
}

#[test]
fn a_builder_state_volume_is_an_entry_of_the_published_schema() {
    let volume = "buildx_buildkit_contract0_state";
    let docker = |args: &[&str]| {
        std::process::Command::new(DOCKER_CLI)
            .args(["-H", &daemon().host])
            .args(args)
            .output()
            .unwrap()
    };
    let _ = docker(&["volume", "rm", "-f", volume]);
    assert!(docker(&["volume", "create", volume]).status.success());

    let out = cachetop_on_daemon()
        .args(["report", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_valid(&schema("report.schema.json"), &doc);
    let e = entry(&doc, volume);
    assert_eq!(e["kind"], "buildx.state-volume");
    assert_eq!(e["source"], "docker");
    assert_eq!(e["details"]["builder"], "buildx_buildkit_contract0");
    assert!(doc["sources"][0]["details"]["state_volumes"].as_u64() >= Some(1));

    let out = cachetop_on_daemon()
        .args(["prune", "--id", volume, "--yes", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_valid(&schema("prune.schema.json"), &doc);
    assert_eq!(doc["planned"][0]["kind"], "buildx.state-volume");
    assert_eq!(doc["deleted"], json!([{"source": "docker", "id": volume}]));
    assert!(!docker(&["volume", "inspect", volume]).status.success());
}
