//! The live screen: background refreshes that keep what the user is doing, look only
//! into what changed and survive a failing source; the disks and the budget in the
//! header; `B`; the prune lock for screen deletions. State tests on the pure app, the
//! real worker against in-memory sources, and the real binary in tmux against the
//! isolated daemon and a tmpfs.

use crate::common;
use crate::tui_support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cachetop::model::Entry;
use cachetop::policy::Policy;
use cachetop::prune::lock::PruneLock;
use cachetop::prune::{Budget, Floor};
use cachetop::scan::Scanner;
use cachetop::sources::{ErrorKind, SharedSource, SourceError};
use cachetop::tui::Session;
use cachetop::tui::app::{App, Caps, Effect, Overlay};
use cachetop::tui::keys::Mode;
use cachetop::tui::listing::{COUNT_NOW_MAX, key_of};
use cachetop::tui::message::{Command, Event};
use cachetop::tui::view::Theme;
use cachetop::tui::worker::{LiveOptions, Worker};
use cachetop::units::format_size;
use ratatui::layout::Rect;
use tui_support::*;

const NPM: &str = "t5y8u1i4o7p0a3s6d9f2g5h8j";
const APT: &str = "r2k8x0c3b1lq9zv7wm4tn6yhd";

fn overlay_text(app: &App) -> (String, String) {
    match app.overlays.last() {
        Some(Overlay::Confirm { title, lines, .. })
        | Some(Overlay::Message { title, lines, .. }) => (
            title.clone(),
            lines
                .iter()
                .map(|l| l.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        other => panic!("no dialog shown: {other:?}"),
    }
}

/// The header's time of day `secs` after the test clock's instant, in local time.
fn clock(secs: i64) -> String {
    (now() + chrono::Duration::seconds(secs))
        .with_timezone(&chrono::Local)
        .format("%H:%M:%S")
        .to_string()
}

/// A background refresh of the Docker source at `generation`, as the worker sends it.
fn quiet_refresh(app: &mut App, generation: u64, result: Result<Vec<Entry>, SourceError>) {
    app.apply(Event::LoadingQuietly { generation });
    app.apply(listed(
        generation,
        docker(),
        result,
        "Docker 27.3.1 (API 1.47)",
    ));
    app.apply(Event::Read {
        generation,
        at: now() + chrono::Duration::seconds(5 * generation as i64),
    });
}

#[test]
fn a_background_refresh_keeps_the_selection_marks_filter_and_open_dialog() {
    let mut app = app_with(sample_entries(), Caps::default(), 100, 30);
    app.apply(Event::Refreshed { generation: 1 });
    assert!(!app.in_flight());
    // Filter to the cache mounts under /root, mark one, select the other, open E.
    press(&mut app, "//root<Enter>");
    assert_eq!(app.list.visible_len(), 2);
    let rows: Vec<String> = (0..2)
        .map(|r| app.list.row(r).unwrap().id.clone())
        .collect();
    press(&mut app, "g<Space>");
    let marked = rows[0].clone();
    let selected = app.selected().map(key_of).unwrap();
    assert_eq!(selected.1, rows[1]);
    press(&mut app, "E");
    assert_eq!(app.mode(), Mode::Confirm);
    let (title, _) = overlay_text(&app);

    // A refresh lists a new record first in size and changes another.
    let mut fresh = sample_entries();
    let mut big = fresh[0].clone();
    big.id = "newrecordnewrecordnewreco".into();
    big.size_bytes = 9_000_000_000;
    if let Some(m) = big.mount.as_mut() {
        m.target = "/root/.cache/new".into();
    }
    big.description = "cached mount /root/.cache/new from exec /bin/sh -c make".into();
    fresh.push(big);
    fresh[1].size_bytes += 1;
    quiet_refresh(&mut app, 2, Ok(fresh));

    assert_eq!(app.list.len(), 8, "the new record is listed");
    assert_eq!(app.filter, "/root", "the filter as typed");
    assert_eq!(
        app.list.visible_len(),
        3,
        "the new record matches the filter"
    );
    assert_eq!(
        app.selected().map(key_of),
        Some(selected),
        "the same entry is selected"
    );
    assert_eq!(app.list.marked().0, 1);
    assert!(app.list.is_marked(&(docker(), marked)));
    assert_eq!(app.mode(), Mode::Confirm, "the dialog is still open");
    assert_eq!(overlay_text(&app).0, title, "with the same plan");
    assert!(!app.in_flight(), "a background refresh does not spin");
    assert_eq!(
        app.live.read_at,
        Some(now() + chrono::Duration::seconds(10))
    );
}

#[test]
fn a_failed_background_refresh_keeps_the_last_data_and_says_so_in_the_status_line() {
    let mut app = app_with(sample_entries(), Caps::default(), 200, 30);
    app.live.interval = Some(Duration::from_secs(5));
    quiet_refresh(&mut app, 2, Ok(sample_entries()));
    let read = app.live.read_at;
    assert!(read.is_some());

    app.now = now() + chrono::Duration::seconds(16);
    quiet_refresh(
        &mut app,
        3,
        Err(SourceError::new(
            ErrorKind::Unreachable,
            "connection refused\x1b[2J",
        )),
    );
    assert_eq!(app.list.len(), 7, "the last entries stay");
    assert!(app.errors.is_empty(), "no popup for a background failure");
    assert_eq!(app.mode(), Mode::Table, "keys still reach the table");
    assert_eq!(app.live.read_at, read, "the data shown is still from then");
    let screen = screen_text(&render(&app, &Theme::MONO));
    assert!(
        screen.contains("refresh failed, showing the last data read: docker"),
        "{screen}"
    );
    assert!(screen.contains("connection refused"), "{screen}");
    assert!(!screen.contains('\x1b'), "escaped: {screen}");
    assert!(
        screen.contains(&format!(
            "read {} (6s ago) · refresh failed: docker",
            clock(10)
        )),
        "{screen}"
    );

    // The next good refresh clears both.
    quiet_refresh(&mut app, 4, Ok(sample_entries()));
    let screen = screen_text(&render(&app, &Theme::MONO));
    assert!(!screen.contains("refresh failed"), "{screen}");
    assert!(
        screen.contains(&format!("read {} · every 5s", clock(20))),
        "{screen}"
    );
}

#[test]
fn b_without_a_budget_says_how_to_set_one() {
    let mut app = app_with(sample_entries(), Caps::default(), 100, 30);
    let effects = press(&mut app, "B");
    assert!(effects.is_empty());
    assert_eq!(app.mode(), Mode::Table);
    let notice = app.notice.clone().unwrap_or_default();
    assert!(
        notice.contains("max_used") && notice.contains("keep_free") && notice.contains("config"),
        "{notice}"
    );
    let screen = screen_text(&render(&app, &Theme::MONO));
    assert!(screen.contains("no budget is set"), "{screen}");
}

#[test]
fn b_plans_the_budget_in_the_confirm_dialog_and_deletes_by_exact_id() {
    let mut app = app_with(sample_entries(), Caps::default(), 120, 30);
    let total = app.list.totals().size_bytes;
    // One byte over: the least recently used deletable entry goes (npm, 45 days).
    app.live.budget = Budget {
        max_used: Some(total - 1),
        keep_free: None,
    };
    let header = screen_text(&render(&app, &Theme::MONO));
    // Shown only once the data was read (read time set by the worker).
    assert!(!header.contains("budget"), "{header}");
    app.apply(Event::Read {
        generation: 1,
        at: now(),
    });
    let header = screen_text(&render(&app, &Theme::MONO));
    assert!(header.contains("budget: max_used"), "{header}");
    assert!(header.contains("1 B over"), "{header}");

    press(&mut app, "B");
    assert_eq!(app.mode(), Mode::Confirm);
    let (title, text) = overlay_text(&app);
    assert_eq!(
        title,
        format!(
            "Evict 1 least recently used entry, {}, to meet the budget?",
            format_size(289_000_000)
        )
    );
    assert!(text.contains(NPM), "{text}");
    assert!(text.contains("least recently used: 45d"), "{text}");
    assert!(text.contains("Budget --max-used"), "{text}");
    let effects = press(&mut app, "y");
    let ids: Vec<String> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Prune(plan) => Some(plan.items.iter().map(|i| i.entry.id.clone()).collect()),
            _ => None,
        })
        .next()
        .expect("y starts the prune");
    assert_eq!(ids, vec![NPM.to_string()]);

    // A floor that is met plans nothing and says so.
    let mut app = app_with(sample_entries(), Caps::default(), 120, 30);
    app.live.budget = Budget {
        max_used: None,
        keep_free: Some(Floor::Bytes(1)),
    };
    press(&mut app, "B");
    let (title, text) = overlay_text(&app);
    assert_eq!(title, "Nothing to delete");
    assert!(text.contains("keep_free is not judged"), "{text}");
}

/// A scanner that counts what it looks into and measures every entry at twice its
/// reported size.
struct Counting(Mutex<Vec<String>>);

impl Scanner for Counting {
    fn scan(&self, e: &Entry) -> Option<Entry> {
        self.0.lock().unwrap().push(e.id.clone());
        let mut s = e.clone();
        s.disk_bytes = Some(e.size_bytes * 2);
        Some(s)
    }
}

fn live_session(
    sources: Vec<SharedSource>,
    scanner: Option<Arc<dyn Scanner>>,
    live: LiveOptions,
) -> Session {
    let refs = sources.iter().map(|s| s.source_ref().clone()).collect();
    // A second later at each reading, so each reading is told apart by its time.
    let ticks = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let clock = move || {
        now() + chrono::Duration::seconds(ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
    };
    let worker = Worker {
        sources,
        policy: Policy::default(),
        scanner,
        repair: None,
        clock: Arc::new(clock),
    }
    .spawn_live(live);
    let app = App::new(
        refs,
        Policy::default(),
        Caps::default(),
        now(),
        Rect::new(0, 0, 100, 30),
    );
    Session::new(app, worker)
}

/// Applies worker events until `done` holds.
async fn until(s: &mut Session, what: &str, done: impl Fn(&App) -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while !done(&s.app) {
            assert!(s.next_worker_event().await, "the worker stopped");
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

#[tokio::test]
async fn a_background_refresh_looks_only_into_records_that_changed() {
    let src = FakeSource::new(docker(), sample_entries());
    let counting = Arc::new(Counting(Mutex::new(Vec::new())));
    let mut s = live_session(
        vec![src.clone()],
        Some(counting.clone()),
        LiveOptions::default(),
    );
    settle(&mut s).await;
    let scanned = || counting.0.lock().unwrap().clone();
    assert_eq!(
        scanned().len(),
        7,
        "the first refresh looks into everything"
    );
    let doubled = |s: &Session, id: &str| {
        s.app
            .list
            .get(&(docker(), id.to_string()))
            .and_then(|e| e.disk_bytes)
    };
    assert_eq!(doubled(&s, APT), Some(1_224_000_000));

    // Nothing changed: listed again, nothing looked into, the results kept.
    let lists = *src.lists.lock().unwrap();
    let read = s.app.live.read_at;
    s.worker.commands.send(Command::RefreshChanged).unwrap();
    until(&mut s, "the background reading", |a| a.live.read_at > read).await;
    // Room for a scan that should not happen.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.drain();
    assert_eq!(*src.lists.lock().unwrap(), lists + 1);
    assert_eq!(
        scanned().len(),
        7,
        "an idle refresh scanned {:?}",
        &scanned()[7..]
    );
    assert_eq!(
        doubled(&s, APT),
        Some(1_224_000_000),
        "the scan's size stays"
    );

    // One record grew and one is new: only those two are looked into.
    {
        let mut entries = src.entries.lock().unwrap();
        entries.iter_mut().find(|e| e.id == APT).unwrap().size_bytes = 700_000_000;
        let mut new = entries[0].clone();
        new.id = "brandnewrecordbrandnewreco".into();
        entries.push(new);
    }
    s.worker.commands.send(Command::RefreshChanged).unwrap();
    until(&mut s, "the scans of what changed", |a| {
        let disk = |id: &str| {
            a.list
                .get(&(docker(), id.to_string()))
                .and_then(|e| e.disk_bytes)
        };
        disk("brandnewrecordbrandnewreco").is_some() && disk(APT) == Some(1_400_000_000)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.drain();
    let mut again = scanned()[7..].to_vec();
    again.sort();
    assert_eq!(
        again,
        vec!["brandnewrecordbrandnewreco".to_string(), APT.to_string()]
    );
    assert_eq!(doubled(&s, APT), Some(1_400_000_000));

    // `r` looks into everything again.
    type_keys(&mut s, "r");
    settle(&mut s).await;
    assert_eq!(scanned().len(), 9 + 8);
}

/// A scanner that measures every entry at twice its size, but holds one entry until
/// the test opens the gate (a scan of thousands of records that takes minutes).
struct Held {
    id: String,
    open: Mutex<bool>,
    opened: std::sync::Condvar,
    scanned: Mutex<Vec<String>>,
}

impl Held {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Scanner for Held {
    fn scan(&self, e: &Entry) -> Option<Entry> {
        if e.id == self.id {
            let open = self.open.lock().unwrap();
            // Bounded, so a failing test cannot hang the run.
            let _ = self
                .opened
                .wait_timeout_while(open, Duration::from_secs(30), |o| !*o)
                .unwrap();
        }
        self.scanned.lock().unwrap().push(e.id.clone());
        let mut s = e.clone();
        s.disk_bytes = Some(e.size_bytes * 2);
        Some(s)
    }
}

#[tokio::test]
async fn a_cache_made_during_a_long_scan_shows_at_the_next_tick_and_the_scan_goes_on() {
    let src = FakeSource::new(docker(), sample_entries());
    let held = Arc::new(Held {
        id: APT.into(),
        open: Mutex::new(false),
        opened: Default::default(),
        scanned: Mutex::new(Vec::new()),
    });
    let mut s = live_session(
        vec![src.clone()],
        Some(held.clone()),
        LiveOptions {
            interval: Some(Duration::from_millis(200)),
            ..Default::default()
        },
    );
    until(&mut s, "the first listing", |a| a.list.len() == 7).await;
    let lists = *src.lists.lock().unwrap();
    let mut new = sample_entries()[1].clone();
    new.id = "madewhilethescanwasholding".into();
    src.entries.lock().unwrap().push(new);

    until(&mut s, "the new record while the scan is held", |a| {
        a.list.len() == 8
    })
    .await;
    let disk = |a: &App, id: &str| {
        a.list
            .get(&(docker(), id.to_string()))
            .and_then(|e| e.disk_bytes)
    };
    assert_eq!(disk(&s.app, APT), None, "the held entry was scanned");
    assert!(
        *src.lists.lock().unwrap() > lists,
        "listed again without a new scan"
    );
    assert!(
        s.app.scan.is_some(),
        "the scan under way is no longer shown: {:?}",
        s.app.scan
    );

    // The held scan finishes and still lands; the new record is looked into after it.
    held.release();
    until(
        &mut s,
        "the held scan's result and the new record's scan",
        |a| disk(a, APT) == Some(1_224_000_000) && disk(a, "madewhilethescanwasholding").is_some(),
    )
    .await;
    let scanned = held.scanned.lock().unwrap().clone();
    assert_eq!(
        scanned.iter().filter(|id| *id == APT).count(),
        1,
        "the held scan was cut off and begun again: {scanned:?}"
    );
}

/// More entries than are counted on the draw loop, every other one unused for 30
/// days (stale), one of those in use.
fn big_table() -> Vec<Entry> {
    let base = sample_entries();
    let mut many: Vec<Entry> = (0..COUNT_NOW_MAX + 500)
        .map(|i| {
            let mut e = base[i % base.len()].clone();
            e.id = format!("big{i:022}");
            e.in_use = false;
            e.origin = cachetop::model::Origin::of(e.source.kind);
            if i % 2 == 0 {
                e.last_used_at = Some(now() - chrono::Duration::days(30));
            }
            e
        })
        .collect();
    many[0].in_use = true;
    many
}

/// What E's own plan deletes in the table shown.
fn es_plan(app: &App) -> (usize, u64) {
    let plan = cachetop::prune::build_plan(
        app.list.entries(),
        &cachetop::prune::stale_eviction(),
        now(),
    );
    (plan.items.len(), plan.total_bytes())
}

#[test]
fn a_big_tables_stale_count_is_promised_only_once_it_is_made() {
    let mut app = App::new(
        vec![docker()],
        Policy::default(),
        Caps::default(),
        now(),
        Rect::new(0, 0, 160, 30),
    );
    app.apply(Event::Loading {
        generation: 1,
        sources: vec![docker()],
    });
    let effects = app.apply(listed(1, docker(), Ok(big_table()), "Docker 27.3.1"));
    let jobs: Vec<_> = effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Count(job) => Some(job),
            _ => None,
        })
        .collect();
    assert_eq!(jobs.len(), 1, "one count, off the loop");
    let screen = screen_text(&render(&app, &Theme::MONO));
    assert!(screen.contains("stale counting…"), "{screen}");
    assert!(app.in_flight(), "the count under way is work in flight");

    let counted = jobs[0].count();
    let more = app.apply(Event::Counted {
        version: jobs[0].version,
        counted: Some(counted),
    });
    assert!(more.is_empty(), "counted again: {more:?}");
    let (n, bytes) = es_plan(&app);
    assert!(n > COUNT_NOW_MAX / 2, "{n}");
    assert_eq!((counted.entries, counted.bytes), (n, bytes));
    let screen = screen_text(&render(&app, &Theme::MONO));
    assert!(
        screen.contains(&format!("stale {n} ({}", format_size(bytes))),
        "{screen}"
    );
}

#[tokio::test]
async fn the_session_counts_a_big_table_off_the_loop() {
    let src = FakeSource::new(docker(), big_table());
    let mut s = live_session(vec![src], None, LiveOptions::default());
    settle(&mut s).await;
    assert!(s.app.list.evictable_is_current());
    let ev = s.app.list.evictable();
    assert_eq!((ev.entries, ev.bytes), es_plan(&s.app));
    let stale = s.app.list.totals().stale_entries;
    assert_eq!(ev.kept, stale - ev.entries);
    assert!(ev.kept >= 1, "the one in use is kept");
}

fn type_keys(s: &mut Session, script: &str) {
    for k in keys(script) {
        s.key(k);
    }
}

#[tokio::test]
async fn the_interval_refreshes_without_a_key_and_a_failure_keeps_the_table() {
    let src = FakeSource::new(docker(), sample_entries());
    let mut s = live_session(
        vec![src.clone()],
        None,
        LiveOptions {
            interval: Some(Duration::from_millis(200)),
            ..Default::default()
        },
    );
    settle(&mut s).await;
    assert_eq!(s.app.list.len(), 7);
    let mut new = sample_entries()[1].clone();
    new.id = "appearedbyitselfappearedby".into();
    src.entries.lock().unwrap().push(new);
    until(&mut s, "the new record, without a key", |a| {
        a.list.len() == 8
    })
    .await;

    *src.fail_list.lock().unwrap() = Some(SourceError::new(
        ErrorKind::Unreachable,
        "the daemon went away",
    ));
    until(&mut s, "the failure in the status line", |a| {
        a.live.failed.is_some()
    })
    .await;
    assert_eq!(s.app.list.len(), 8, "the last data stays");
    assert!(s.app.errors.is_empty());
    assert!(
        s.app
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("the daemon went away")),
        "{:?}",
        s.app.notice
    );
    *src.fail_list.lock().unwrap() = None;
    until(&mut s, "the recovery", |a| a.live.failed.is_none()).await;
    assert_eq!(s.app.notice, None);
}

#[tokio::test]
async fn a_screen_deletion_says_who_holds_the_prune_lock_and_deletes_nothing() {
    let locks = tempfile::tempdir().unwrap();
    let dirs = vec![locks.path().join("locks")];
    let src = FakeSource::new(docker(), sample_entries());
    let mut s = live_session(
        vec![src.clone()],
        None,
        LiveOptions {
            lock_dirs: Some(dirs.clone()),
            ..Default::default()
        },
    );
    settle(&mut s).await;
    let held = PruneLock::acquire(&dirs, Duration::ZERO, |_, _| {}).unwrap();

    type_keys(&mut s, "/npm<Enter>d");
    settle(&mut s).await;
    assert_eq!(s.app.mode(), Mode::Confirm);
    type_keys(&mut s, "y");
    settle(&mut s).await;
    let (title, text) = overlay_text(&s.app);
    assert_eq!(title, "Another prune is running");
    assert!(
        text.contains(&format!("(pid {})", std::process::id())),
        "{text}"
    );
    assert!(text.contains("Try again"), "{text}");
    assert!(src.deleted().is_empty(), "deleted while another prune ran");
    assert!(s.app.busy.is_none());

    // Once it is over, the same keys delete.
    drop(held);
    type_keys(&mut s, "<Esc>d");
    settle(&mut s).await;
    type_keys(&mut s, "y");
    settle(&mut s).await;
    assert_eq!(src.deleted(), vec![NPM]);
}

// The real binary, in tmux.

/// The shell line for a pane running cachetop with `args`, with no user
/// configuration or cargo home.
fn pane_line(pidfile: &Path, args: &str) -> String {
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    format!(
        "env -u DOCKER_HOST -u NO_COLOR XDG_CONFIG_HOME=/nonexistent CARGO_HOME={} {}",
        common::NO_CARGO_HOME,
        common::tmux::pane_line(pidfile, &format!("{} {args}", bin.display()))
    )
}

#[test]
fn a_cache_built_while_the_screen_is_open_appears_without_a_key() {
    let target = format!("/cache/{}", common::unique("tui-live"));
    let dir = tempfile::tempdir().unwrap();
    let t = common::tmux::Tmux::start(
        160,
        48,
        &pane_line(
            &dir.path().join("pid"),
            &format!(
                "--host {} --no-builders --interval 1s",
                common::daemon().host
            ),
        ),
    );
    t.wait_for("the screen", |s| {
        s.contains("ok:") && s.contains("every 1s")
    });
    // The daemon holds more records than fit: filter to what is not built yet.
    t.keys(&["/"]);
    t.type_text(&target);
    t.keys(&["Enter"]);
    let screen = t.wait_for("the empty filter", |s| {
        s.contains(&format!("filter: {target}"))
    });
    assert!(
        !screen.lines().any(|l| l.contains("exec.cachemount")),
        "{screen}"
    );

    common::build(&common::cache_mount_dockerfile(&target, 1_500_000));
    let screen = t.wait_for("the new cache mount, without a key", |s| {
        s.lines()
            .any(|l| l.contains("exec.cachemount") && l.contains(&target))
    });
    assert!(screen.contains(&format!("filter: {target}")), "{screen}");
    t.keys(&["q"]);
    t.wait_for("cachetop to exit", |s| s.contains("cachetop exited 0"));
}

#[test]
fn the_headers_disk_figures_are_statvfs_of_the_same_path() {
    let fs = common::tmpfs::Tmpfs::mount(8 << 20);
    fs.file("cache/old.bin", 1 << 20, 30);
    let cache = fs.path().join("cache");
    common::tmpfs::age(&cache, 30);
    let dir = cache.to_str().unwrap().to_string();

    let pid = tempfile::tempdir().unwrap();
    let t = common::tmux::Tmux::start(
        200,
        30,
        &pane_line(
            &pid.path().join("pid"),
            &format!("--no-docker --no-builders --dir {dir} --interval 1s"),
        ),
    );
    let mp = fs.path().display().to_string();
    let screen = t.wait_for("the disk line", |s| s.contains(&format!(" disk {mp}: ")));
    let (target, size, used, avail) = common::tmpfs::df(&cache);
    assert_eq!(target, fs.path());
    // What the stale eviction frees there, as report --json counts it.
    let out = common::cachetop()
        .args([
            "--no-docker",
            "--no-builders",
            "--dir",
            &dir,
            "report",
            "--json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reclaimable = doc["filesystems"][0]["reclaimable_bytes"].as_u64().unwrap();
    assert!(reclaimable >= 1 << 20, "{doc:#}");
    let want = format!(
        " disk {mp}: {} · {} used · {} free · reclaimable now {} (E)",
        format_size(size),
        format_size(used),
        format_size(avail),
        format_size(reclaimable)
    );
    assert!(
        screen.contains(&want),
        "the header does not say {want:?}:\n{screen}"
    );

    // The figures follow the disk: a file written beside the cache shows at the next
    // refresh, without a key.
    std::fs::write(fs.path().join("filler"), vec![1u8; 3 << 20]).unwrap();
    let (_, _, used_after, avail_after) = common::tmpfs::df(&cache);
    assert!(used_after > used);
    let want_free = format!(
        "{} used · {} free",
        format_size(used_after),
        format_size(avail_after)
    );
    t.wait_for("the new figures", |s| s.contains(&want_free));
    t.keys(&["q"]);
    t.wait_for("cachetop to exit", |s| s.contains("cachetop exited 0"));
}
