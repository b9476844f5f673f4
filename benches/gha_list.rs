//! `cachetop report --json` over one repository with 10,000 GitHub Actions caches
//! (100 pages of 100), served by the loopback GitHub stand-in of the tests: median
//! wall time and peak RSS of the cachetop process.
//!
//!     cargo bench --bench gha_list
//!
//! The server runs in a child process: Linux carries a parent's peak RSS into a child
//! it spawns, so the measuring process must stay small.

#[path = "../tests/gha/fake.rs"]
mod fake;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fake::{FakeServer, GithubFake, synthetic};
use support::{measure, median, ms};

const RUNS: usize = 7;
const TOKEN: &str = "ghp_BenchToken0123456789abcdefABCDEF0000";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        let n: usize = args[2].parse().unwrap();
        let caches = synthetic(n, chrono::Utc::now(), |i| {
            chrono::Duration::hours((i % 400) as i64)
        });
        let server = FakeServer::start(GithubFake::new("octo/app", TOKEN, caches));
        println!("{}", server.url());
        loop {
            std::thread::park();
        }
    }
    let bin = env!("CARGO_BIN_EXE_cachetop");
    println!("| caches | pages | median wall | max peak RSS |");
    println!("|---:|---:|---:|---:|");
    for n in [10_000usize] {
        let mut server = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", &n.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        let url = url.trim().to_string();
        let mut walls = Vec::new();
        let mut peak = 0;
        for _ in 0..RUNS {
            let run = measure(
                Command::new(bin)
                    .args(["--no-docker", "--gha", "octo/app", "--github-api-url", &url])
                    .args(["report", "--json"])
                    .env("XDG_CONFIG_HOME", "/nonexistent")
                    .env("CARGO_HOME", "/nonexistent")
                    .env("GITHUB_TOKEN", TOKEN)
                    .env_remove("GH_TOKEN")
                    .env_remove("GITHUB_API_URL"),
            );
            assert!(run.ok, "cachetop failed on {n} caches");
            walls.push(run.wall);
            peak = peak.max(run.peak_rss_kib);
        }
        let _ = server.kill();
        let _ = server.wait();
        println!(
            "| {n} | {} | {:.0} ms | {:.1} MB |",
            n.div_ceil(100),
            ms(median(walls)),
            peak as f64 * 1024.0 / 1e6
        );
    }
}
