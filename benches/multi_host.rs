//! Budget (issue 15): `cachetop report --json --no-scan` over three Docker hosts takes
//! at most 1.2 times as long as over the slowest of them alone (hosts are read at
//! once). The hosts: the isolated test daemon, a second isolated daemon
//! (scripts/test-daemon.sh with `$CACHETOP_TEST_DAEMON_DIR-bk`, as the BuildKit tests
//! use), and the first daemon again behind a loopback relay that holds every request
//! chunk for 100 ms (a far host), so one host is clearly the slowest. Never the
//! machine's default daemon.
//!
//!     cargo bench --bench multi_host

mod support;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{measure, median, ms};

const RUNS: usize = 11;
const WANT_RECORDS: usize = 200;
/// What the relay adds to every chunk a client sends (each request).
const LATENCY: Duration = Duration::from_millis(100);
const BUDGET: f64 = 1.2;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::env::var("CACHETOP_TEST_DAEMON_DIR")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/tmp/cachetop-testd".to_string());
    let first = start_daemon(root, &base);
    let second = start_daemon(root, &format!("{base}-bk"));
    for host in [&first, &second] {
        let mut round = 0;
        while count_records(host) < WANT_RECORDS {
            fill(host, round);
            round += 1;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let far = slow_relay(
        PathBuf::from(first.trim_start_matches("unix://")),
        dir.path().join("far.sock"),
    );
    let hosts = [first.as_str(), second.as_str(), far.as_str()];

    let bin = env!("CARGO_BIN_EXE_cachetop");
    let report = |hosts: &[&str]| {
        let mut cmd = Command::new(bin);
        for h in hosts {
            cmd.args(["--host", h]);
        }
        cmd.args(["report", "--json", "--no-scan"])
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .env("CARGO_HOME", "/nonexistent")
            .env("CACHETOP_NO_BUILDERS", "1")
            .env_remove("DOCKER_HOST");
        let run = measure(&mut cmd);
        assert!(run.ok, "report over {hosts:?} failed");
        run.wall
    };
    let mut alone: Vec<Vec<Duration>> = vec![Vec::new(); hosts.len()];
    let mut together = Vec::new();
    // Interleaved, so a burst of load on the machine falls on every figure alike.
    for _ in 0..RUNS {
        for (i, h) in hosts.iter().enumerate() {
            alone[i].push(report(&[h]));
        }
        together.push(report(&hosts));
    }
    let alone: Vec<Duration> = alone.into_iter().map(median).collect();
    let together = median(together);
    for (h, d) in hosts.iter().zip(&alone) {
        println!("{h} alone: median {:.1} ms over {RUNS} runs", ms(*d));
    }
    let slowest = alone.iter().copied().max().unwrap();
    println!(
        "all three hosts: median {:.1} ms over {RUNS} runs",
        ms(together)
    );
    let ratio = together.as_secs_f64() / slowest.as_secs_f64();
    println!("ratio to the slowest host alone: {ratio:.2} (budget: at most {BUDGET})");
    if ratio > BUDGET {
        std::process::exit(1);
    }
}

/// Starts (or reuses) an isolated daemon whose state is in `dir`; its address.
fn start_daemon(root: &Path, dir: &str) -> String {
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

/// A unix socket at `at` that relays every connection to the daemon socket `to`,
/// holding each chunk the client sends for [`LATENCY`]; its address.
fn slow_relay(to: PathBuf, at: PathBuf) -> String {
    let listener = UnixListener::bind(&at).expect("bind the relay");
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(daemon) = UnixStream::connect(&to) else {
                continue;
            };
            let (Ok(c2), Ok(d2)) = (client.try_clone(), daemon.try_clone()) else {
                continue;
            };
            std::thread::spawn(move || pipe(client, daemon, LATENCY));
            std::thread::spawn(move || pipe(d2, c2, Duration::ZERO));
        }
    });
    format!("unix://{}", at.display())
}

fn pipe(mut from: UnixStream, mut to: UnixStream, delay: Duration) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                std::thread::sleep(delay);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn count_records(host: &str) -> usize {
    let out = Command::new("curl")
        .args(["-fsS", "--unix-socket", host.trim_start_matches("unix://")])
        .arg("http://docker/v1.41/system/df")
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("df json");
    v["BuildCache"].as_array().map_or(0, |a| a.len())
}

/// One build with 40 RUN steps, each with its own cache mount: about 80 records (new
/// ones each time: the tag is this run's own).
fn fill(host: &str, round: usize) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let round = format!("{round}-{since}");
    let ctx = tempfile::tempdir().unwrap();
    let mut df = String::from("FROM cachetop-busybox:latest\n");
    for i in 0..40 {
        df.push_str(&format!(
            "RUN --mount=type=cache,target=/cache/hosts-{round}-{i} echo {round}-{i} > /cache/hosts-{round}-{i}/f && echo {i} > /step-{i}\n"
        ));
    }
    std::fs::write(ctx.path().join("Dockerfile"), df).unwrap();
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
