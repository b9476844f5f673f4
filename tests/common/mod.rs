//! Shared test support: the isolated Docker daemon, real BuildKit builds, and an
//! independent reader of the Engine API to check cachetop against.
#![allow(dead_code)]

pub mod buildkit;
pub mod hostile;
pub mod registry;
pub mod remote;
pub mod replay;
pub mod tmpfs;
pub mod tmux;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

pub const BASE_IMAGE: &str = "cachetop-busybox:latest";
/// Debian's 20.10 CLI: it builds with BuildKit without the buildx plugin.
pub const DOCKER_CLI: &str = "/usr/bin/docker";

pub struct TestDaemon {
    pub host: String,
    pub socket: PathBuf,
}

/// The isolated daemon started by scripts/test-daemon.sh (or the one it already started).
/// Never the machine's default daemon.
pub fn daemon() -> &'static TestDaemon {
    static DAEMON: OnceLock<TestDaemon> = OnceLock::new();
    DAEMON.get_or_init(|| {
        let host = match std::env::var("CACHETOP_TEST_DOCKER_HOST") {
            Ok(h) if !h.is_empty() => h,
            _ => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-daemon.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .output()
                    .expect("run scripts/test-daemon.sh");
                assert!(
                    out.status.success(),
                    "scripts/test-daemon.sh failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            }
        };
        let socket = PathBuf::from(
            host.strip_prefix("unix://")
                .unwrap_or_else(|| panic!("test daemon must be a unix socket, got {host}")),
        );
        assert_ne!(
            socket,
            Path::new("/var/run/docker.sock"),
            "tests must never use the default daemon"
        );
        assert_ne!(socket, Path::new("/run/docker.sock"));
        TestDaemon { host, socket }
    })
}

/// Held by every test of a binary that deletes records, so a test that checks
/// "nothing else was deleted" does not see another test's deletion.
pub fn deletion_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A name no other test (or earlier run) uses.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{tag}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos % 1_000_000_000
    )
}

/// Runs a real BuildKit build of `dockerfile` on the isolated daemon.
pub fn try_build(dockerfile: &str) -> Output {
    try_build_with(dockerfile, &[])
}

/// A build with extra `docker build` arguments, e.g. `-o type=tar,dest=/dev/null`
/// to leave records that no image shares.
pub fn try_build_with(dockerfile: &str, extra: &[&str]) -> Output {
    let d = daemon();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    Command::new(DOCKER_CLI)
        .args(["build", "--network=none", "--progress=plain", "-q"])
        .args(extra)
        .arg(ctx.path())
        .env("DOCKER_HOST", &d.host)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .expect("run /usr/bin/docker build")
}

pub fn build(dockerfile: &str) {
    build_with(dockerfile, &[]);
}

pub fn build_with(dockerfile: &str, extra: &[&str]) {
    let out = try_build_with(dockerfile, extra);
    assert!(
        out.status.success(),
        "docker build failed:\n{dockerfile}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Dockerfile with one RUN step that writes `bytes` into a cache mount at `target`.
pub fn cache_mount_dockerfile(target: &str, bytes: usize) -> String {
    format!(
        "FROM {BASE_IMAGE}\nRUN --mount=type=cache,target={target} head -c {bytes} /dev/zero > {target}/data\n"
    )
}

/// GET over the daemon's socket with plain HTTP/1.0, independent of cachetop's client.
/// A 500 is retried: dockerd fails `/system/df` now and then while records change.
pub fn api_get(path: &str) -> Value {
    let d = daemon();
    let mut last = String::new();
    for attempt in 0..5u64 {
        let mut s = UnixStream::connect(&d.socket).expect("connect to the test daemon");
        write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
            return serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        }
        last = text.clone();
        std::thread::sleep(std::time::Duration::from_millis(200 * (attempt + 1)));
    }
    panic!("{path} kept failing:\n{last}")
}

/// Every build-cache record, as the daemon itself lists them.
pub fn api_records() -> Vec<Value> {
    let df = api_get("/v1.41/system/df");
    df["BuildCache"].as_array().cloned().unwrap_or_default()
}

pub fn api_record(id: &str) -> Option<Value> {
    api_records().into_iter().find(|r| r["ID"] == id)
}

/// The cache-mount record whose description names `target`, once it has settled.
///
/// A fresh cache mount of 40 kB under `/cache/<unique tag>`, built on the test
/// daemon: its target and the id of its settled record.
pub fn built_mount(tag: &str) -> (String, String) {
    let target = format!("/cache/{}", unique(tag));
    build(&cache_mount_dockerfile(&target, 40_000));
    let id = api_mount_record(&target)["ID"]
        .as_str()
        .unwrap()
        .to_string();
    (target, id)
}

/// Right after a build, dockerd 20.10 can still list the mount under an in-use record
/// that BuildKit then replaces with a new id (and a size of 0 until measured), so wait
/// until two reads a moment apart agree on one record that is not in use.
pub fn api_mount_record(target: &str) -> Value {
    let needle = format!("cached mount {target} from exec");
    let find = || {
        api_records().into_iter().find(|r| {
            r["Description"]
                .as_str()
                .is_some_and(|d| d.starts_with(&needle))
        })
    };
    let mut last: Option<Value> = None;
    for _ in 0..50 {
        let now = find();
        if let (Some(a), Some(b)) = (&last, &now)
            && a["ID"] == b["ID"]
            && a["Size"] == b["Size"]
            && b["InUse"] == false
        {
            return b.clone();
        }
        last = now;
        std::thread::sleep(std::time::Duration::from_millis(150));
    }
    last.unwrap_or_else(|| panic!("no settled cache mount record for {target}"))
}

/// A CARGO_HOME that does not exist, so the machine's own cargo home is never read.
pub const NO_CARGO_HOME: &str = "/nonexistent-cachetop-cargo-home";

/// The cachetop binary with no inherited daemon address, user config or cargo home.
pub fn cachetop() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("cachetop").unwrap();
    // No builder is looked for (the test daemon runs one): tests of builders name
    // theirs, or turn discovery back on.
    cmd.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("BUILDKIT_HOST")
        .env("CACHETOP_NO_BUILDERS", "1")
        .env("BUILDX_CONFIG", "/nonexistent-cachetop-buildx")
        .env("XDG_CONFIG_HOME", "/nonexistent-cachetop-config")
        .env("CARGO_HOME", NO_CARGO_HOME)
        // A prune lock of its own: two tests' prunes never wait on each other (a
        // waiting prune says so on stderr); tests of the lock set theirs.
        .env("CACHETOP_LOCK_DIR", own_lock_dir())
        .env_remove("NO_COLOR");
    cmd
}

/// A fresh directory for one run's prune lock, under the build's temp dir.
pub fn own_lock_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("prune-locks")
        .join(unique("lock"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// cachetop against the isolated daemon.
pub fn cachetop_on_daemon() -> assert_cmd::Command {
    let mut cmd = cachetop();
    cmd.args(["--host", &daemon().host]);
    cmd
}

pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The entry with this id in a report document.
pub fn entry<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no entry {id} in {doc:#}"))
}

/// An entry's flags, as their JSON names.
pub fn flags(e: &Value) -> Vec<&str> {
    e["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts that cachetop failed like a tool, not like a crash.
pub fn assert_no_panic(out: &Output) {
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "cachetop panicked:\n{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
}

/// A real BuildKit build of the context directory `ctx` (with its Dockerfile) on the
/// isolated daemon.
pub fn try_build_context(ctx: &Path) -> Output {
    let cfg = tempfile::tempdir().unwrap();
    Command::new(DOCKER_CLI)
        .args(["build", "--network=none", "--progress=plain", "-q"])
        .arg(ctx)
        .env("DOCKER_HOST", &daemon().host)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .expect("run /usr/bin/docker build")
}

/// The cache-mount record whose RUN command names `cache_id` (dockerd 20.10 does not
/// put the id itself in the description), waiting a bounded time for it to show.
pub fn cache_mount_record(cache_id: &str) -> Value {
    let find = || {
        api_records().into_iter().find(|r| {
            r["Type"] == "exec.cachemount"
                && r["Description"]
                    .as_str()
                    .is_some_and(|d| d.contains(cache_id))
        })
    };
    for _ in 0..40 {
        if let Some(r) = find() {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    panic!("no cache mount record for {cache_id} after 10 s")
}
