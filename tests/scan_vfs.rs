//! Cache-mount content on the `vfs` storage driver (`<root>/vfs/dir/<ID>`), on a
//! second isolated daemon started by scripts/test-daemon.sh with
//! CACHETOP_TEST_STORAGE_DRIVER=vfs. Never the machine's default daemon.

use crate::common;
use crate::scan_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use scan_support::*;
use serde_json::{Value, json};

/// The vfs daemon's address; its state lives beside the main test daemon's.
fn vfs_daemon() -> String {
    let base = std::env::var("CACHETOP_TEST_DAEMON_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp/cachetop-testd".to_string());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-daemon.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("CACHETOP_TEST_DAEMON_DIR", format!("{base}-vfs"))
        .env("CACHETOP_TEST_STORAGE_DRIVER", "vfs")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/test-daemon.sh (vfs) failed:\n{}",
        text(&out.stderr)
    );
    let host = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        host.starts_with("unix:///") && host.ends_with("-vfs/docker.sock"),
        "{host}"
    );
    host
}

fn get(host: &str, path: &str) -> Value {
    let out = Command::new("curl")
        .args(["-fsS", "--unix-socket", host.trim_start_matches("unix://")])
        .arg(format!("http://docker{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn vfs_cache_mounts_are_found_under_vfs_dir_and_scanned() {
    let host = vfs_daemon();
    let info = get(&host, "/v1.41/info");
    assert_eq!(info["Driver"], "vfs");
    let reg = registry_name();
    let tag = unique("vfs");
    let ctx = tempfile::tempdir().unwrap();
    copy_tree(&cargo_home().join("registry"), &ctx.path().join("registry"));
    let target = "/usr/local/cargo/registry";
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!(
            "FROM {BASE_IMAGE}\nRUN --mount=type=cache,id={tag},target={target} \
             --mount=type=bind,source=registry,target=/seed \
             cp -a /seed/. {target}/ && : > {target}/src/{reg}/{ITOA}/.cargo-ok && echo {tag}\n"
        ),
    )
    .unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let out = Command::new(DOCKER_CLI)
        .args(["build", "--network=none", "-q"])
        .arg(ctx.path())
        .env("DOCKER_HOST", &host)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record = get(&host, "/v1.41/system/df")["BuildCache"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["Type"] == "exec.cachemount"
                && r["Description"].as_str().is_some_and(|d| d.contains(&tag))
        })
        .cloned()
        .expect("the cache mount record");
    let id = record["ID"].as_str().unwrap();
    let content = PathBuf::from(info["DockerRootDir"].as_str().unwrap())
        .join("vfs/dir")
        .join(id);
    assert!(content.join("src").is_dir());

    let out = cachetop()
        .args(["--host", &host, "report", "--json"])
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc = json_of(&out);
    let e = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap();
    assert_eq!(e["content"]["path"], content.to_str().unwrap());
    let on_disk = files(&content);
    assert_eq!(e["disk_bytes"], on_disk.values().sum::<u64>());
    let rel = Path::new("src").join(&reg).join(ITOA);
    assert_eq!(
        e["findings"],
        json!([{
            "kind": "cargo.torn_marker",
            "path": rel.to_str().unwrap(),
            "detail": e["findings"][0]["detail"],
            "bytes": bytes_under(&on_disk, &rel),
        }])
    );
}
