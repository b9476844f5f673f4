//! Issue 12: what an idle screen costs. The real screen loop and its worker run with
//! `--interval 5s` against the Docker source reading 1,000 build-cache records from a
//! loopback replay of `/system/df` (served by a child process, so only cachetop's own
//! work is counted), with content scans and the disk reading on; nobody presses a key.
//! The process's CPU time (getrusage, user + system) over the idle window, after the
//! first full refresh, is scaled to CPU seconds per minute.
//!
//!     cargo bench --bench idle_screen
//!
//! `IDLE_SECS` sets the idle window (default 30 s, scaled to a minute); the same
//! window with refreshing off is measured too, as the floor.

#[path = "../tests/common/replay.rs"]
mod replay;
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use cachetop::cli::GlobalArgs;
use cachetop::config::{ConfigFile, Env, resolve};
use cachetop::inventory::Inventory;
use cachetop::scan::OnDisk;
use cachetop::tui::app::{App, Caps};
use cachetop::tui::view::Theme;
use cachetop::tui::worker::{LiveOptions, Worker};
use cachetop::tui::{Session, drive};
use replay::{Replay, ReplayServer, synthetic_df};

const RECORDS: usize = 1_000;
const INTERVAL: Duration = Duration::from_secs(5);

/// CPU time this process has used so far, user and system.
fn cpu() -> Duration {
    // SAFETY: getrusage only fills in the plain struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

struct Idle {
    cpu: Duration,
    wall: Duration,
    refreshes: u64,
}

fn idle_run(host: &str, interval: Option<Duration>, window: Duration) -> Idle {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let args = GlobalArgs {
            hosts: vec![host.to_string()],
            no_builders: true,
            no_cargo_home: true,
            ..Default::default()
        };
        let settings = resolve(&args, &ConfigFile::default(), &Env::default()).unwrap();
        let sources = cachetop::sources::build_sources(&settings.sources, true)
            .await
            .unwrap();
        let (w, h) = (160u16, 48u16);
        let app = App::new(
            sources.iter().map(|s| s.source_ref().clone()).collect(),
            settings.policy.clone(),
            Caps::default(),
            Utc::now(),
            Rect::new(0, 0, w, h),
        );
        let worker = Worker {
            sources,
            policy: settings.policy.clone(),
            scanner: Some(Arc::new(OnDisk)),
            repair: None,
            clock: Arc::new(Utc::now),
        }
        .spawn_live(LiveOptions {
            interval,
            lock_dirs: None,
            disks: Some(Arc::new(|inv: Inventory| {
                Box::pin(async move { cachetop::cmd::report::disk_context(&inv).await })
            })),
        });
        let mut session = Session::new(app, worker);
        let mut terminal = Terminal::with_options(
            CrosstermBackend::new(std::io::sink()),
            TerminalOptions {
                viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
            },
        )
        .unwrap();
        let theme = Theme::COLOR;
        let keys = || futures_util::stream::pending::<std::io::Result<crossterm::event::Event>>();
        // The first full refresh, with its scans: not idle.
        let start = Instant::now();
        while session.app.live.disks.is_none() && start.elapsed() < Duration::from_secs(60) {
            let _ = drive(
                &mut terminal,
                &mut session,
                keys(),
                async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    "warm-up"
                },
                &theme,
                Utc::now,
            )
            .await;
        }
        assert_eq!(session.app.list.len(), RECORDS, "the records are listed");
        assert!(
            session.app.live.disks.is_some(),
            "the disks were never read"
        );
        let generation = session.app.generation;
        let before = cpu();
        let start = Instant::now();
        let _ = drive(
            &mut terminal,
            &mut session,
            keys(),
            async move {
                tokio::time::sleep(window).await;
                "done"
            },
            &theme,
            Utc::now,
        )
        .await;
        Idle {
            cpu: cpu() - before,
            wall: start.elapsed(),
            refreshes: session.app.generation - generation,
        }
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve") {
        let server = ReplayServer::start(Replay::new("1.41", synthetic_df(RECORDS)));
        println!("{}", server.host());
        loop {
            std::thread::park();
        }
    }
    let window = Duration::from_secs(
        std::env::var("IDLE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let mut server = Command::new(std::env::current_exe().unwrap())
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut host = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut host)
        .unwrap();
    let host = host.trim().to_string();

    println!(
        "{RECORDS} records, idle for {} s each, scaled to a minute.\n",
        window.as_secs()
    );
    println!("| screen | refreshes | CPU in the window | CPU s per minute |");
    println!("|---|---:|---:|---:|");
    for (label, interval) in [
        ("--interval 5s", Some(INTERVAL)),
        ("--interval 0 (floor)", None),
    ] {
        let r = idle_run(&host, interval, window);
        let per_minute = r.cpu.as_secs_f64() * 60.0 / r.wall.as_secs_f64();
        println!(
            "| {label} | {} | {:.3} s | {:.3} s |",
            r.refreshes,
            r.cpu.as_secs_f64(),
            per_minute
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
