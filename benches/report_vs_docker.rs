//! Budget (design.md §7): against a real daemon holding 200 or more records, the wall
//! time of `cachetop report --json --no-scan` is no more than `docker system df -v`'s
//! (`docker` does not look inside cache mounts either).
//! Uses the isolated test daemon (scripts/test-daemon.sh), never the default one.
//!
//!     cargo bench --bench report_vs_docker

mod support;

use std::path::Path;
use std::process::Command;

use support::{measure, median, ms};

const RUNS: usize = 15;
const WANT_RECORDS: usize = 200;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/test-daemon.sh"))
        .output()
        .expect("start the test daemon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host = String::from_utf8(out.stdout).unwrap().trim().to_string();

    let mut records = count_records(&host);
    let mut round = 0;
    while records < WANT_RECORDS {
        fill(&host, round);
        round += 1;
        records = count_records(&host);
    }

    let bin = env!("CARGO_BIN_EXE_cachetop");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let a = measure(
            Command::new(bin)
                .args(["--host", &host, "report", "--json", "--no-scan"])
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

fn count_records(host: &str) -> usize {
    let out = Command::new("curl")
        .args(["-fsS", "--unix-socket", host.trim_start_matches("unix://")])
        .arg("http://docker/v1.41/system/df")
        .output()
        .expect("curl");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("df json");
    v["BuildCache"].as_array().map_or(0, |a| a.len())
}

/// One build with 40 RUN steps, each with its own cache mount: about 80 records.
fn fill(host: &str, round: usize) {
    let ctx = tempfile::tempdir().unwrap();
    let mut df = String::from("FROM cachetop-busybox:latest\n");
    for i in 0..40 {
        df.push_str(&format!(
            "RUN --mount=type=cache,target=/cache/bench-{round}-{i} echo {round}-{i} > /cache/bench-{round}-{i}/f && echo {i} > /step-{i}\n"
        ));
    }
    std::fs::write(ctx.path().join("Dockerfile"), df).unwrap();
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
        .status()
        .unwrap();
    assert!(status.success());
}
