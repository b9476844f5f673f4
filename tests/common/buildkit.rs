//! Test support for BuildKit's gRPC API: the parts scripts/test-buildkit.sh starts (a
//! second isolated daemon whose real BuildKit is reached through a `buildctl` relay in
//! a builder container, on a unix socket, on tcp and in TLS), builds on that daemon,
//! and an independent reader of either daemon's `/system/df` to check cachetop against.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use super::{BASE_IMAGE, DOCKER_CLI, daemon};

pub struct BuildkitParts {
    /// The second daemon, whose embedded BuildKit every relay reaches.
    pub docker_host: String,
    pub docker_socket: PathBuf,
    /// The builder container on the main test daemon (`buildx_buildkit_cachetop0`).
    pub builder: String,
    /// Its image: busybox with the relay as /usr/bin/buildctl.
    pub image: String,
    pub unix: String,
    pub tcp: String,
    pub tls: String,
    pub tls_dir: PathBuf,
    pub relay: PathBuf,
}

/// The parts from scripts/test-buildkit.sh (started when the test run did not).
pub fn buildkit_parts() -> &'static BuildkitParts {
    static P: OnceLock<BuildkitParts> = OnceLock::new();
    P.get_or_init(|| {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let vars: BTreeMap<String, String> = match env("CACHETOP_TEST_BUILDKIT_DOCKER_HOST") {
            Some(_) => std::env::vars()
                .filter(|(k, _)| k.starts_with("CACHETOP_TEST_BUILDKIT_"))
                .collect(),
            None => {
                // The main daemon first, so both scripts agree on it.
                let _ = daemon();
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-buildkit.sh");
                let out = Command::new("bash")
                    .arg(&script)
                    .output()
                    .expect("run scripts/test-buildkit.sh");
                assert!(
                    out.status.success(),
                    "scripts/test-buildkit.sh failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }
        };
        let get = |k: &str| {
            vars.get(&format!("CACHETOP_TEST_BUILDKIT_{k}"))
                .cloned()
                .unwrap_or_else(|| panic!("scripts/test-buildkit.sh did not say {k}"))
        };
        let docker_host = get("DOCKER_HOST");
        let docker_socket = PathBuf::from(docker_host.strip_prefix("unix://").unwrap());
        assert_ne!(docker_socket, Path::new("/var/run/docker.sock"));
        assert_ne!(
            docker_socket,
            daemon().socket,
            "the BuildKit daemon is a second one"
        );
        BuildkitParts {
            docker_host,
            docker_socket,
            builder: get("BUILDER"),
            image: get("IMAGE"),
            unix: get("UNIX"),
            tcp: get("TCP"),
            tls: get("TLS"),
            tls_dir: PathBuf::from(get("TLS_DIR")),
            relay: PathBuf::from(get("RELAY")),
        }
    })
}

/// A real BuildKit build of `dockerfile` on the daemon at `host`.
pub fn build_on(host: &str, dockerfile: &str) -> Output {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    Command::new(DOCKER_CLI)
        .args(["build", "--network=none", "--progress=plain", "-q"])
        .args(["-o", "type=tar,dest=/dev/null"])
        .arg(ctx.path())
        .env("DOCKER_HOST", host)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .expect("run /usr/bin/docker build")
}

/// A build on the BuildKit daemon that must succeed; one cache mount per tag, so each
/// call leaves records of its own.
pub fn build_cache_mounts_on(host: &str, tag: &str, mounts: usize) {
    let mut df = format!("FROM {BASE_IMAGE}\n");
    for i in 0..mounts {
        df.push_str(&format!(
            "RUN --mount=type=cache,target=/cache/{tag}-{i} echo {tag}-{i} > /cache/{tag}-{i}/f\n"
        ));
    }
    let out = build_on(host, &df);
    assert!(
        out.status.success(),
        "build on {host} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `/usr/bin/docker` against the daemon at `host`.
pub fn docker_on(host: &str, args: &[&str]) -> Output {
    let cfg = tempfile::tempdir().unwrap();
    Command::new(DOCKER_CLI)
        .args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", cfg.path())
        .output()
        .expect("run /usr/bin/docker")
}

/// GET over a daemon's socket with plain HTTP/1.0, independent of cachetop's clients;
/// a 500 is retried (dockerd fails `/system/df` now and then while records change).
pub fn api_get_at(socket: &Path, path: &str) -> Value {
    let mut last = String::new();
    for attempt in 0..5u64 {
        let mut s = UnixStream::connect(socket).expect("connect to a test daemon");
        write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
            return serde_json::from_str(body).unwrap();
        }
        last = text.clone();
        std::thread::sleep(Duration::from_millis(200 * (attempt + 1)));
    }
    panic!("{path} kept failing:\n{last}")
}

/// Every build-cache record of the daemon at `socket`, by id.
pub fn df_records_at(socket: &Path) -> BTreeMap<String, Value> {
    api_get_at(socket, "/v1.41/system/df")["BuildCache"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r["ID"].as_str().unwrap().to_string(), r))
        .collect()
}

/// The daemon's records once two reads a moment apart agree (builds settle their
/// records for a moment after they end), then `read` between two more equal reads:
/// what `read` returned and the records it must match.
pub fn settled<T>(socket: &Path, mut read: impl FnMut() -> T) -> (T, BTreeMap<String, Value>) {
    for _ in 0..50 {
        let before = df_records_at(socket);
        let got = read();
        let after = df_records_at(socket);
        if before == after {
            return (got, after);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the records of {} never settled", socket.display())
}

/// A builder-like container on the main test daemon from `image`, running a sleep,
/// with `extra` `docker run` arguments; removed when dropped.
pub struct Container {
    pub name: String,
}

impl Container {
    pub fn start(name: &str, image: &str, extra: &[&str]) -> Container {
        let host = &daemon().host;
        let _ = docker_on(host, &["rm", "-f", name]);
        let mut args = vec!["run", "-d", "--name", name, "--network=none"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[image, "sleep", "2147483647"]);
        let out = docker_on(host, &args);
        assert!(
            out.status.success(),
            "docker run {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Container {
            name: name.to_string(),
        }
    }

    pub fn kill(&self) {
        let out = docker_on(&daemon().host, &["kill", &self.name]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker_on(&daemon().host, &["rm", "-f", &self.name]);
    }
}
