//! Budgets (design.md §7, issues 4 and 12): drawing one frame of a 100,000-entry
//! table takes under 5 ms, and a key press to the next frame stays under 16 ms with
//! 100,000 entries, filter keystrokes included, with the columns measured per frame
//! (content-sized SIZE, badges and ids), filter matches highlighted, and marking that
//! refuses what cannot be deleted.
//!
//!     cargo bench --bench tui_frame
//!
//! Frames go through ratatui's real crossterm backend into a sink, so the time
//! includes building the rows, diffing the buffer and encoding the escape codes.
//! "Full repaint" draws on a fresh terminal, so every cell is written out.

mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use cachetop::inventory::SourceStatus;
use cachetop::model::{Entry, Mount, SourceKind, SourceRef};
use cachetop::policy::Policy;
use cachetop::sources::Listing;
use cachetop::tui::app::{App, Caps, Effect};
use cachetop::tui::keys::Mode;
use cachetop::tui::message::Event;
use cachetop::tui::planning;
use cachetop::tui::view::{self, Theme};
use support::{median, ms};

const ENTRIES: usize = 100_000;
const FRAME_BUDGET_MS: f64 = 5.0;
const KEY_BUDGET_MS: f64 = 16.0;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

/// Entries like a busy runner's: cache mounts of many projects and plain layers, with
/// spread sizes and ages.
fn entries(n: usize) -> Vec<Entry> {
    let source = SourceRef::new(SourceKind::Docker, "unix:///var/run/docker.sock");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let r = next();
            let id: String = (0..25)
                .map(|k| {
                    let d = ((r >> (k * 2)) ^ (i as u64 * 31 + k)) % 36;
                    char::from_digit(d as u32, 36).unwrap_or('x')
                })
                .collect();
            let mut e = if i % 3 == 0 {
                let target = format!("/cache/project-{}/target", i % 977);
                let command = format!("/bin/sh -c cargo build --release -p crate{}", i % 4093);
                let mut e = Entry::new(source.clone(), id, "exec.cachemount");
                e.description = format!("cached mount {target} from exec {command}");
                e.mount = Some(Mount {
                    target,
                    cache_id: None,
                    command,
                });
                e
            } else {
                let mut e = Entry::new(source.clone(), id, "regular");
                e.description = format!("mount / from exec /bin/sh -c make step-{}", i % 7919);
                e
            };
            e.size_bytes = r % 5_000_000_000;
            e.created_at = Some(now() - chrono::Duration::seconds((r % 8_000_000) as i64));
            e.last_used_at = e.created_at;
            e.usage_count = Some(r % 50);
            e.in_use = i % 1000 == 0;
            // Layers shared with images: a SHARED badge, and never markable.
            e.shared = i % 3 == 1 && i % 7 == 0;
            e
        })
        .collect()
}

fn app(width: u16, height: u16) -> App {
    let source = SourceRef::new(SourceKind::Docker, "unix:///var/run/docker.sock");
    let mut app = App::new(
        vec![source.clone()],
        Policy::default(),
        Caps::default(),
        now(),
        Rect::new(0, 0, width, height),
    );
    app.apply(Event::Loading {
        generation: 1,
        sources: vec![source.clone()],
    });
    // Classified, as the inventory stream sends them.
    let mut listed = entries(ENTRIES);
    cachetop::policy::classify(&mut listed, &Policy::default(), now());
    let result = Ok(Listing {
        entries: listed,
        summary: "Docker 27.3.1 (API 1.47), overlay2".into(),
        details: serde_json::json!({}),
        location: None,
    });
    let status = SourceStatus::from_result(source, &result);
    app.apply(Event::Listed {
        generation: 1,
        status: Box::new(status),
        entries: result.map(|l| l.entries).unwrap_or_default(),
    });
    assert_eq!(app.list.len(), ENTRIES);
    app
}

type Screen = Terminal<CrosstermBackend<std::io::Sink>>;

fn screen(width: u16, height: u16) -> Screen {
    Terminal::with_options(
        CrosstermBackend::new(std::io::sink()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, width, height)),
        },
    )
    .unwrap()
}

fn draw(t: &mut Screen, app: &App) {
    t.draw(|f| view::draw(f, app, &Theme::COLOR)).unwrap();
}

fn key(c: KeyCode) -> KeyEvent {
    let mods = match c {
        KeyCode::Char(ch) if ch.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    KeyEvent::new(c, mods)
}

struct Stat {
    median: Duration,
    p95: Duration,
    max: Duration,
}

fn stat(mut v: Vec<Duration>) -> Stat {
    v.sort();
    let p95 = v[(v.len() * 95 / 100).min(v.len() - 1)];
    let max = v.last().copied().unwrap_or_default();
    Stat {
        median: median(v),
        p95,
        max,
    }
}

/// The budget holds for the 95th percentile: the worst single run on a shared
/// machine is mostly the scheduler, and is printed beside it.
fn row(what: &str, s: &Stat, budget: f64, over: &mut bool) {
    let fits = ms(s.p95) <= budget;
    *over |= !fits;
    println!(
        "| {what} | {:.2} ms | {:.2} ms | {:.2} ms | {} ({budget} ms) |",
        ms(s.median),
        ms(s.p95),
        ms(s.max),
        if fits { "within" } else { "OVER" }
    );
}

fn main() {
    let mut over = false;
    println!("{ENTRIES} entries.\n");
    println!("| measure | median | p95 | worst | budget (p95) |");
    println!("|---|---:|---:|---:|---|");
    for (w, h) in [(80u16, 24u16), (160, 48), (250, 80)] {
        let mut app = app(w, h);
        let mut t = screen(w, h);
        draw(&mut t, &app);
        // A full repaint: every cell written out, rows for the window built again.
        let mut full = Vec::new();
        for _ in 0..200 {
            let mut fresh = screen(w, h);
            let start = Instant::now();
            draw(&mut fresh, &app);
            full.push(start.elapsed());
        }
        row(
            &format!("frame {w}x{h}, full repaint"),
            &stat(full),
            FRAME_BUDGET_MS,
            &mut over,
        );
        // Page by page through the table: every row changes.
        let mut paged = Vec::new();
        for i in 0..200 {
            let k = if (i / 50) % 2 == 0 {
                KeyCode::PageDown
            } else {
                KeyCode::PageUp
            };
            app.handle_key(key(k));
            let start = Instant::now();
            draw(&mut t, &app);
            paged.push(start.elapsed());
        }
        row(
            &format!("frame {w}x{h}, after a page"),
            &stat(paged),
            FRAME_BUDGET_MS,
            &mut over,
        );
    }

    // Key press to the next frame, at 160x48.
    let (w, h) = (160, 48);
    let mut t = screen(w, h);
    let mut journeys: Vec<(&str, Vec<Duration>)> = Vec::new();
    // Key to frame is what a person waits for. A destructive key's plan is built off
    // the loop (the frame shows "planning…"); its build time and the frame that
    // opens the dialog are measured on their own. Big closed popups are freed off the
    // loop too, so they are dropped here outside the timing.
    let mut add =
        |label: &'static str, d: Duration| match journeys.iter_mut().find(|(l, _)| *l == label) {
            Some((_, v)) => v.push(d),
            None => journeys.push((label, vec![d])),
        };
    let mut timed = |label: &'static str, app: &mut App, t: &mut Screen, k: KeyCode| {
        let start = Instant::now();
        let effects = app.handle_key(key(k));
        draw(t, app);
        add(label, start.elapsed());
        for effect in effects {
            if let Effect::Plan(req) = effect {
                let start = Instant::now();
                let planned = planning::plan(&req);
                add(
                    if label.starts_with('E') {
                        "plan built off the loop for E, every stale entry (not a frame)"
                    } else {
                        "plan built off the loop for d, one entry (not a frame)"
                    },
                    start.elapsed(),
                );
                let start = Instant::now();
                let more = app.apply(Event::Planned(Box::new(planned)));
                draw(t, app);
                add("plan ready to dialog frame", start.elapsed());
                drop(more);
            }
        }
    };
    for _ in 0..5 {
        let mut app = app(w, h);
        draw(&mut t, &app);
        for _ in 0..20 {
            timed("j (move down)", &mut app, &mut t, KeyCode::Char('j'));
        }
        timed("G (to the bottom)", &mut app, &mut t, KeyCode::Char('G'));
        timed("g (to the top)", &mut app, &mut t, KeyCode::Char('g'));
        timed("/ (start a filter)", &mut app, &mut t, KeyCode::Char('/'));
        for c in "project-12".chars() {
            timed(
                "filter keystroke, narrowing",
                &mut app,
                &mut t,
                KeyCode::Char(c),
            );
        }
        for _ in 0..10 {
            timed(
                "filter Backspace, widening",
                &mut app,
                &mut t,
                KeyCode::Backspace,
            );
        }
        for c in "crate40".chars() {
            timed(
                "filter keystroke, narrowing",
                &mut app,
                &mut t,
                KeyCode::Char(c),
            );
        }
        timed("Esc (clear the filter)", &mut app, &mut t, KeyCode::Esc);
        for _ in 0..7 {
            timed("s (next sort column)", &mut app, &mut t, KeyCode::Char('s'));
        }
        timed("S (invert the sort)", &mut app, &mut t, KeyCode::Char('S'));
        for _ in 0..4 {
            timed("f (flag filter)", &mut app, &mut t, KeyCode::Char('f'));
        }
        timed("Space (mark)", &mut app, &mut t, KeyCode::Char(' '));
        timed("Enter (details)", &mut app, &mut t, KeyCode::Enter);
        timed("Esc (back)", &mut app, &mut t, KeyCode::Esc);
        timed("d (plan and dialog)", &mut app, &mut t, KeyCode::Char('d'));
        assert_ne!(app.mode(), Mode::Table, "d opened nothing");
        timed("Esc (close the dialog)", &mut app, &mut t, KeyCode::Esc);
        assert_eq!(app.mode(), Mode::Table);
        timed("a (mark all 100,000)", &mut app, &mut t, KeyCode::Char('a'));
        let blocked = app
            .list
            .entries()
            .iter()
            .filter(|e| e.in_use || e.shared)
            .count();
        assert!(blocked > 0);
        assert_eq!(
            app.list.marked().0,
            ENTRIES - blocked,
            "in use and shared refused"
        );
        timed("A (clear the marks)", &mut app, &mut t, KeyCode::Char('A'));
        timed(
            "E (plan every stale entry)",
            &mut app,
            &mut t,
            KeyCode::Char('E'),
        );
        assert_eq!(app.mode(), Mode::Confirm);
        timed(
            "j in the dialog (scroll)",
            &mut app,
            &mut t,
            KeyCode::Char('j'),
        );
        timed("Esc (close the dialog)", &mut app, &mut t, KeyCode::Esc);
        timed("? (help)", &mut app, &mut t, KeyCode::Char('?'));
        assert_eq!(app.mode(), Mode::Help);
        timed("Esc (close help)", &mut app, &mut t, KeyCode::Esc);
    }
    // The widest screen with a filter kept: every row's matches highlighted, the
    // full ids and whole badges measured per frame.
    let (w, h) = (250, 80);
    let mut t = screen(w, h);
    for _ in 0..5 {
        let mut app = app(w, h);
        draw(&mut t, &app);
        timed("/ (start a filter)", &mut app, &mut t, KeyCode::Char('/'));
        for c in "project-1".chars() {
            timed(
                "250x80: filter keystroke, matches highlighted",
                &mut app,
                &mut t,
                KeyCode::Char(c),
            );
        }
        timed("Enter (keep the filter)", &mut app, &mut t, KeyCode::Enter);
        for _ in 0..20 {
            timed(
                "250x80: j with matches highlighted",
                &mut app,
                &mut t,
                KeyCode::Char('j'),
            );
        }
        for _ in 0..7 {
            timed(
                "250x80: s with matches highlighted",
                &mut app,
                &mut t,
                KeyCode::Char('s'),
            );
        }
        timed(
            "250x80: PgDn with matches highlighted",
            &mut app,
            &mut t,
            KeyCode::PageDown,
        );
        // Space over rows in use or shared: refused with a reason, not counted.
        for _ in 0..20 {
            timed(
                "250x80: Space (mark, or refuse and say why)",
                &mut app,
                &mut t,
                KeyCode::Char(' '),
            );
        }
    }
    // A content scan's results as they arrive (batches of up to 512 entries, one every
    // 150 ms) are applied on the loop: a key pressed meanwhile waits behind each.
    let (w, h) = (160, 48);
    let mut t = screen(w, h);
    for _ in 0..2 {
        let mut app = app(w, h);
        draw(&mut t, &app);
        let batches: Vec<Vec<Entry>> = app
            .list
            .entries()
            .chunks(512)
            .take(20)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|e| {
                        let mut scanned = e.clone();
                        scanned.disk_bytes = Some(e.size_bytes / 2 + 4096);
                        scanned
                    })
                    .collect()
            })
            .collect();
        // The count of what E would delete that the first listing asked for is still
        // running while the batches come: it holds a snapshot of the entries, so
        // each batch writes to a copy (the worst case).
        let mut counting = None;
        for entries in batches {
            let start = Instant::now();
            let effects = app.apply(Event::Updated {
                generation: 1,
                entries,
            });
            draw(&mut t, &app);
            add(
                "scan batch of 512 applied, to the frame (not a key)",
                start.elapsed(),
            );
            drop(effects);
            if counting.is_none() {
                counting = Some(app.list.snapshot());
            }
        }
        drop(counting);
        // The count itself, off the loop.
        if let Some(job) = app.list.evictable_due() {
            let start = Instant::now();
            let counted = job.count();
            add(
                "plan built off the loop to count what E would delete (not a frame)",
                start.elapsed(),
            );
            assert!(counted.entries > 0);
        }
    }
    for (label, v) in journeys {
        if label.starts_with("plan built") || label.ends_with("(not a key)") {
            let s = stat(v);
            println!(
                "| {label} | {:.2} ms | {:.2} ms | {:.2} ms | - |",
                ms(s.median),
                ms(s.p95),
                ms(s.max)
            );
            continue;
        }
        let name = if label.starts_with("plan ready") {
            label.to_string()
        } else {
            format!("key to frame: {label}")
        };
        row(&name, &stat(v), KEY_BUDGET_MS, &mut over);
    }
    if over {
        std::process::exit(1);
    }
}
