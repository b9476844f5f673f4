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
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::{count_records, fill, measure, median, ms, start_test_daemon, test_daemon_base};

const RUNS: usize = 11;
const WANT_RECORDS: usize = 200;
/// What the relay adds to every chunk a client sends (each request).
const LATENCY: Duration = Duration::from_millis(100);
const BUDGET: f64 = 1.2;

fn main() {
    let base = test_daemon_base();
    let first = start_test_daemon(&base);
    let second = start_test_daemon(&format!("{base}-bk"));
    for host in [&first, &second] {
        let mut round = 0;
        while count_records(host) < WANT_RECORDS {
            // New records each time: the round is this run's own.
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            fill(host, "hosts", &format!("{round}-{since}"), 40);
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
