//! The JSON documents are the same, byte for byte, for the same inputs: every source
//! at once (a loopback Engine stand-in whose cache mount's files are on this machine, a
//! cargo home, a plain directory, a local cache export, a registry cache), through `report --json`, `prune --dry-run --json`, a
//! real `prune --yes --json` and `repair --dry-run --json`, compared with the documents
//! recorded in `tests/golden/`. Only what differs from run to run is replaced before
//! comparing: the time of the report, the temporary directory, the loopback ports.
//!
//! Recording them again (after a deliberate change of a document, which is a new
//! schema version): `CACHETOP_BLESS=1 scripts/test.sh --test json_golden`.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::registry::*;
use common::replay::{Replay, ReplayServer};
use common::*;
use serde_json::json;

/// Every time in the inputs: long before any run, so every flag is settled.
const WHEN: &str = "2025-03-10T08:00:00Z";

fn when() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_741_593_600)
}

/// BuildKit records of every shape the planner treats differently: a cache mount, a
/// parent and its child, a record shared with an image, one in use, BuildKit's own.
fn system_df() -> Vec<u8> {
    let rec = |id: &str, kind: &str, desc: &str, parents: &[&str], size: u64| {
        json!({"ID": id, "Parents": parents, "Type": kind, "Description": desc,
               "InUse": false, "Shared": false, "Size": size,
               "CreatedAt": WHEN, "LastUsedAt": WHEN, "UsageCount": 2})
    };
    let mut records = vec![
        rec(
            "ufkdtw3x1lkysw5eit7oc8i9m",
            "exec.cachemount",
            "cached mount /cache/cargo from exec /bin/sh -c cargo fetch with id \"cargo\"",
            &[],
            3_145_728,
        ),
        rec(
            "chjwlrx8wdmnl2qxfraxkbn50",
            "regular",
            "mount / from exec /bin/sh -c make",
            &["ztc3rykw5w38w2wu2vjb2c9bd"],
            4_096,
        ),
        rec(
            "ztc3rykw5w38w2wu2vjb2c9bd",
            "regular",
            "mount / from exec /bin/sh -c apt-get update",
            &[],
            8_192,
        ),
        rec(
            "shared0000000000000000000",
            "regular",
            "pulled layer",
            &[],
            1_000,
        ),
        rec("inuse000000000000000000000", "regular", "busy", &[], 2_000),
        rec("internal00000000000000000", "internal", "", &[], 10),
    ];
    records[3]["Shared"] = json!(true);
    records[4]["InUse"] = json!(true);
    // A buildx builder's state volume no container holds, beside a volume of
    // something else (never listed). Without a creation time nor BuildKit's metadata
    // it is not stale, so the prunes leave it.
    let volumes = json!([
        {"Name": STATE_VOLUME, "Driver": "local", "Mountpoint": STATE_MOUNTPOINT,
         "UsageData": {"Size": 4_096, "RefCount": 0}},
        {"Name": "pgdata", "Driver": "local", "Mountpoint": "/nonexistent",
         "UsageData": {"Size": 1, "RefCount": 0}},
    ]);
    serde_json::to_vec(&json!({"BuildCache": records, "Volumes": volumes})).unwrap()
}

const STATE_VOLUME: &str = "buildx_buildkit_golden0_state";
/// Where the stand-in says the state volume is, under the daemon's root directory.
const STATE_MOUNTPOINT: &str = "<ROOT>/volumes/buildx_buildkit_golden0_state/_data";

/// Sets the modification time of everything under `root` (and of `root`).
fn settle_times(root: &Path) {
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            settle_times(&path);
        } else {
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(when()).unwrap();
        }
    }
    std::fs::File::open(root)
        .unwrap()
        .set_modified(when())
        .unwrap();
}

const REG: &str = "index.crates.io-1949cf8c6b5b557f";

/// The daemon's root directory, with the cache mount's files (a cargo registry with a
/// torn `.cargo-ok`) where overlay2 keeps them.
fn docker_root(root: &Path) -> PathBuf {
    let dir = root.join("docker-root");
    let src = dir
        .join("overlay2/ufkdtw3x1lkysw5eit7oc8i9m/diff/registry/src")
        .join(REG);
    std::fs::create_dir_all(src.join("torn-2.0.0")).unwrap();
    std::fs::write(src.join("torn-2.0.0/.cargo-ok"), b"").unwrap();
    std::fs::write(src.join("torn-2.0.0/lib.rs"), vec![b'y'; 4_000]).unwrap();
    let state = dir.join("volumes").join(STATE_VOLUME).join("_data");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("state"), vec![b's'; 4_096]).unwrap();
    settle_times(&dir);
    dir
}

/// A cargo home with a half-extracted crate and a cut-off `.crate`.
fn cargo_home(root: &Path) -> PathBuf {
    let home = root.join("cargo-home");
    std::fs::create_dir_all(home.join("registry/index").join(REG)).unwrap();
    std::fs::write(
        home.join("registry/index").join(REG).join("config.json"),
        br#"{"dl":"https://static.crates.io/crates"}"#,
    )
    .unwrap();
    std::fs::create_dir_all(home.join("registry/cache").join(REG)).unwrap();
    std::fs::write(
        home.join("registry/cache")
            .join(REG)
            .join("cut-1.0.0.crate"),
        b"\x1f\x8b\x08\x00 not the rest",
    )
    .unwrap();
    let src = home.join("registry/src").join(REG);
    std::fs::create_dir_all(src.join("whole-1.0.0")).unwrap();
    std::fs::write(src.join("whole-1.0.0/.cargo-ok"), br#"{"v":1}"#).unwrap();
    std::fs::write(src.join("whole-1.0.0/lib.rs"), b"pub fn f() {}").unwrap();
    std::fs::create_dir_all(src.join("half-1.0.0/src")).unwrap();
    std::fs::write(src.join("half-1.0.0/src/lib.rs"), vec![b'x'; 700]).unwrap();
    std::fs::write(home.join(".package-cache"), b"").unwrap();
    settle_times(&home);
    home
}

/// Any other cache directory.
fn plain_dir(root: &Path) -> PathBuf {
    let dir = root.join("apt-cache");
    std::fs::create_dir_all(dir.join("archives/partial")).unwrap();
    std::fs::write(dir.join("archives/partial/x.deb"), vec![b'd'; 300]).unwrap();
    std::fs::write(dir.join("archives/whole.deb"), vec![b'w'; 1_200]).unwrap();
    settle_times(&dir);
    dir
}

fn blob(root: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    std::fs::write(
        root.join("blobs/sha256")
            .join(d.strip_prefix("sha256:").unwrap()),
        bytes,
    )
    .unwrap();
    d
}

/// A `type=local` export: a cache index naming a layer and a cache config, and an
/// orphaned blob left by an earlier export.
fn local_export(root: &Path) -> PathBuf {
    let dir = root.join("local-export");
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let layer = blob(&dir, &[7u8; 2_000]);
    blob(&dir, &[9u8; 1_500]);
    let cfg = serde_json::to_vec(&json!({"layers": [{"blob": layer}], "records": []})).unwrap();
    let cfg_d = blob(&dir, &cfg);
    let idx = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": GZIP_LAYER, "digest": layer, "size": 2_000,
             "annotations": {"buildkit/createdat": WHEN, "buildkit/description": "RUN make"}},
            {"mediaType": CACHE_CONFIG, "digest": cfg_d, "size": cfg.len()}]}))
    .unwrap();
    let idx_d = blob(&dir, &idx);
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_INDEX, "digest": idx_d, "size": idx.len(),
             "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}))
        .unwrap(),
    )
    .unwrap();
    settle_times(&dir);
    dir
}

/// A registry cache pushed under a fixed name, so its digests never change.
fn registry_cache() -> String {
    let r = registries();
    let repo = "cachetop-golden";
    let specs = [
        LayerSpec::new(1_000).annotated(WHEN),
        LayerSpec::new(2_500).in_config(WHEN),
    ];
    let cache = build_cache(repo, CacheLayout::Index, &specs);
    cache.push(&Api::new(&r.delete), repo, "cache");
    format!("{}/{repo}:cache", r.delete)
}

/// What differs from run to run, and what it is written as in the recorded documents.
struct Scrub(Vec<(String, &'static str)>);

impl Scrub {
    fn apply(&self, out: &[u8]) -> String {
        let mut text = String::from_utf8(out.to_vec()).unwrap();
        for (from, to) in &self.0 {
            text = text.replace(from.as_str(), to);
        }
        // The time of the report, and how long ago the inputs' times are.
        if let Some(at) = text.find("\"generated_at\":\"") {
            let start = at + "\"generated_at\":\"".len();
            let end = start + text[start..].find('"').unwrap();
            text.replace_range(start..end, "<NOW>");
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find("last used ") {
            let (head, tail) = rest.split_at(at + "last used ".len());
            out.push_str(head);
            match tail.find(" ago") {
                Some(end) if tail[..end].chars().all(|c| c.is_ascii_alphanumeric()) => {
                    out.push_str("<AGE>");
                    rest = &tail[end..];
                }
                _ => rest = tail,
            }
        }
        out.push_str(rest);
        scrub_filesystems(&out)
    }
}

/// The figures of the machine's filesystems (where the temporary directory is
/// mounted, its device, how full it is) differ from machine to machine; which sources
/// each holds and what the stale eviction would free there do not.
fn scrub_filesystems(text: &str) -> String {
    let Some(at) = text.find("\"filesystems\":[") else {
        return text.to_string();
    };
    let (head, tail) = text.split_at(at);
    let mut tail = tail.to_string();
    for key in [
        "\"device\":",
        "\"size_bytes\":",
        "\"used_bytes\":",
        "\"free_bytes\":",
    ] {
        let mut from = 0;
        while let Some(i) = tail[from..].find(key) {
            let start = from + i + key.len();
            let end = start + tail[start..].find(|c: char| !c.is_ascii_digit()).unwrap();
            tail.replace_range(start..end, "0");
            from = start;
        }
    }
    let key = "\"path\":\"";
    let mut from = 0;
    while let Some(i) = tail[from..].find(key) {
        let start = from + i + key.len();
        let end = start + tail[start..].find('"').unwrap();
        tail.replace_range(start..end, "<MOUNT>");
        from = start;
    }
    format!("{head}{tail}")
}

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var_os("CACHETOP_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (record it with CACHETOP_BLESS=1)", path.display()));
    assert!(
        want == actual,
        "{name}: the document changed\n--- recorded ({})\n{want}\n--- now\n{actual}",
        path.display()
    );
}

#[test]
fn the_documents_of_every_source_are_the_recorded_ones() {
    let tmp = tempfile::tempdir().unwrap();
    // The real path: no link in it, so nothing is refused for being reached through one.
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    let (home, plain, export) = (cargo_home(&root), plain_dir(&root), local_export(&root));
    let reference = registry_cache();
    let root_dir = docker_root(&root).to_string_lossy().into_owned();
    let df = String::from_utf8(system_df()).unwrap();
    let mut replay = Replay::new("1.41", df.replace("<ROOT>", &root_dir));
    replay.root_dir = root_dir;
    let engine = ReplayServer::start(replay);
    let cfg = tempfile::tempdir().unwrap();
    let scrub = Scrub(vec![
        (engine.addr.to_string(), "<ENGINE>"),
        (registries().delete.clone(), "<REGISTRY>"),
        (root.to_string_lossy().into_owned(), "<TMP>"),
    ]);
    let run = |args: &[&str]| {
        let out = cachetop()
            .env("DOCKER_CONFIG", cfg.path())
            .env_remove("CACHETOP_REGISTRY_PASSWORD")
            .args(["--host", &engine.host()])
            .args(["--dir", home.to_str().unwrap()])
            .args(["--dir", plain.to_str().unwrap()])
            .args(["--dir", export.to_str().unwrap()])
            .args(["--registry", &reference])
            .args(args)
            .output()
            .unwrap();
        assert_no_panic(&out);
        scrub.apply(&out.stdout)
    };
    golden("report", &run(&["report", "--json"]));
    golden("report-no-scan", &run(&["report", "--json", "--no-scan"]));
    golden(
        "prune-dry-run",
        &run(&["prune", "--stale", "--dry-run", "--json"]),
    );
    golden(
        "repair-dry-run",
        &run(&[
            "repair",
            "registry/src",
            "ufkdtw3x1lkysw5eit7oc8i9m",
            "no-such-id",
            "--dry-run",
            "--json",
        ]),
    );
    // The real run last: it deletes (in the stand-in and the temporary directory).
    golden(
        "prune-yes",
        &run(&[
            "prune", "--stale", "--source", "docker", "--source", "dir", "--yes", "--json",
        ]),
    );
}
