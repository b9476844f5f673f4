//! Budget (design.md §7): against a real daemon holding 200 or more records, the wall
//! time of `cachetop report --json --no-scan` is no more than `docker system df -v`'s
//! (`docker` does not look inside cache mounts either), both reading the daemon alone.
//! Uses the isolated test daemon (scripts/test-daemon.sh), never the default one.
//!
//!     cargo bench --bench report_vs_docker

mod support;

use std::process::Command;

use support::{count_records, fill, measure, median, ms, start_test_daemon, test_daemon_base};

const RUNS: usize = 15;
const WANT_RECORDS: usize = 200;

fn main() {
    let host = start_test_daemon(&test_daemon_base());

    let mut records = count_records(&host);
    let mut round = 0;
    while records < WANT_RECORDS {
        // About 80 records a round.
        fill(&host, "bench", &round.to_string(), 40);
        round += 1;
        records = count_records(&host);
    }

    let bin = env!("CARGO_BIN_EXE_cachetop");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let a = measure(
            Command::new(bin)
                // The daemon alone, as `docker system df` reads it: builder
                // containers on it (the test setup runs one) are other sources.
                .args([
                    "--host",
                    &host,
                    "--no-builders",
                    "report",
                    "--json",
                    "--no-scan",
                ])
                .env("XDG_CONFIG_HOME", "/nonexistent")
                .env("CARGO_HOME", "/nonexistent"),
        );
        assert!(a.ok);
        ours.push(a.wall);
        let b = measure(
            Command::new("/usr/bin/docker")
                .args(["system", "df", "-v"])
                .env("DOCKER_HOST", &host),
        );
        assert!(b.ok);
        theirs.push(b.wall);
    }
    let (a, b) = (median(ours), median(theirs));
    let ratio = a.as_secs_f64() / b.as_secs_f64();
    println!("records on the daemon: {records}");
    println!(
        "cachetop report --json --no-scan: median {:.1} ms over {RUNS} runs",
        ms(a)
    );
    println!(
        "docker system df -v:    median {:.1} ms over {RUNS} runs",
        ms(b)
    );
    println!("ratio: {ratio:.2} (budget: at most 1.0)");
    if ratio > 1.0 {
        std::process::exit(1);
    }
}
