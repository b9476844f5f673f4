//! Budget (design.md §7): `cachetop report --json` over 10,000 records in at most
//! 150 ms and 60 MB peak RSS; over 100,000 in 1.5 s and 300 MB. The records come
//! from a loopback replay of a `/system/df` answer.
//!
//!     cargo bench --bench report_replay
//!
//! The replay server runs in a child process: Linux carries a parent's peak RSS into
//! a child it spawns, so the measuring process must stay small.

#[path = "../tests/common/replay.rs"]
mod replay;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use replay::{Replay, ReplayServer, synthetic_df};
use support::{measure, median, ms};

const RUNS: usize = 7;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        let n: usize = args[2].parse().unwrap();
        let server = ReplayServer::start(Replay::new("1.41", synthetic_df(n)));
        println!("{} {}", server.host(), synthetic_df(n).len());
        loop {
            std::thread::park();
        }
    }
    let bin = env!("CARGO_BIN_EXE_cachetop");
    let mut over = false;
    println!("| records | body | median wall | max peak RSS | budget |");
    println!("|---:|---:|---:|---:|---|");
    for (n, budget_ms, budget_mb) in [(10_000usize, 150.0, 60.0), (100_000, 1500.0, 300.0)] {
        let mut server = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", &n.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let (host, body_len) = line.trim().split_once(' ').unwrap();
        let body_mb = body_len.parse::<f64>().unwrap() / 1e6;
        let mut walls = Vec::new();
        let mut peak = 0;
        for _ in 0..RUNS {
            let run = measure(
                Command::new(bin)
                    .args(["--host", host, "report", "--json"])
                    .env("XDG_CONFIG_HOME", "/nonexistent")
                    .env("CARGO_HOME", "/nonexistent"),
            );
            assert!(run.ok, "cachetop failed on {n} records");
            walls.push(run.wall);
            peak = peak.max(run.peak_rss_kib);
        }
        let _ = server.kill();
        let _ = server.wait();
        let wall = median(walls);
        let peak_mb = peak as f64 * 1024.0 / 1e6;
        let fits = ms(wall) <= budget_ms && peak_mb <= budget_mb;
        over |= !fits;
        println!(
            "| {n} | {body_mb:.1} MB | {:.0} ms | {peak_mb:.1} MB | {} ({budget_ms} ms, {budget_mb} MB) |",
            ms(wall),
            if fits { "within" } else { "OVER" }
        );
    }
    if over {
        std::process::exit(1);
    }
}
