//! Shared by the bench binaries: timing and peak-RSS measurement of whole commands, and
//! the isolated test daemons (started by scripts/test-daemon.sh, filled with real builds).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Run {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub ok: bool,
}

/// Runs `cmd` to completion with stdout discarded; wall time and the child's peak RSS.
pub fn measure(cmd: &mut Command) -> Run {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    std::mem::forget(child); // already reaped
    Run {
        wall,
        peak_rss_kib: usage.ru_maxrss as u64,
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    }
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `$CACHETOP_TEST_DAEMON_DIR`, or scripts/test-daemon.sh's default when unset or empty.
pub fn test_daemon_base() -> String {
    std::env::var("CACHETOP_TEST_DAEMON_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp/cachetop-testd".to_string())
}

/// Starts (or reuses) an isolated daemon whose state is in `dir`; its address.
pub fn start_test_daemon(dir: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/test-daemon.sh"))
        .env("CACHETOP_TEST_DAEMON_DIR", dir)
        .output()
        .expect("start a test daemon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Build-cache records on the daemon at `host` (`unix://...`), as `/system/df` lists them.
pub fn count_records(host: &str) -> usize {
    let out = Command::new("curl")
        .args(["-fsS", "--unix-socket", host.trim_start_matches("unix://")])
        .arg("http://docker/v1.41/system/df")
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("df json");
    v["BuildCache"].as_array().map_or(0, |a| a.len())
}

/// One build on `host` with `steps` RUN steps, each with a cache mount of its own at
/// `/cache/{prefix}-{round}-{i}`: about two records per step (new ones for a new `round`).
pub fn fill(host: &str, prefix: &str, round: &str, steps: usize) {
    let ctx = tempfile::tempdir().unwrap();
    let mut df = String::from("FROM cachetop-busybox:latest\n");
    for i in 0..steps {
        df.push_str(&format!(
            "RUN --mount=type=cache,target=/cache/{prefix}-{round}-{i} echo {round}-{i} > /cache/{prefix}-{round}-{i}/f && echo {i} > /step-{i}\n"
        ));
    }
    std::fs::write(ctx.path().join("Dockerfile"), df).unwrap();
    // An empty client config: nothing of the machine's docker setup reaches the build.
    let cfg = tempfile::tempdir().unwrap();
    let status = Command::new("/usr/bin/docker")
        .args([
            "build",
            "--network=none",
            "-q",
            "-o",
            "type=tar,dest=/dev/null",
        ])
        .arg(ctx.path())
        .env("DOCKER_HOST", host)
        .env("DOCKER_BUILDKIT", "1")
        .env("DOCKER_CONFIG", cfg.path())
        .status()
        .unwrap();
    assert!(status.success());
}
