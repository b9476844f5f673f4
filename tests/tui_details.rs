//! Details that lead to the fix, dialogs whose paths stay whole, Esc on a kept filter,
//! and the mouse: whole screens on a `TestBackend` (fixed clock) as insta snapshots,
//! state journeys, and the real binary in tmux for mouse capture.

use crate::common;
use crate::tui_support;

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use cachetop::tui::app::{App, Caps};
use cachetop::tui::keys::Action;
use cachetop::tui::listing::SortColumn;
use cachetop::tui::message::Event;
use cachetop::tui::mouse::{self, MouseAction, WHEEL_ROWS};
use cachetop::tui::view::{Theme, layout};
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

/// The screen as it runs by default: deletes and repairs bound.
fn app(width: u16, height: u16) -> App {
    app_with(
        sample_entries(),
        Caps {
            read_only: false,
            repair: true,
        },
        width,
        height,
    )
}

/// The rows inside the details pane's border, without the border.
fn pane_rows(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("┌ Details"))
        .skip(1)
        .take_while(|l| !l.starts_with('└'))
        .map(|l| {
            l.trim_start_matches('│')
                .trim_end()
                .trim_end_matches('│')
                .to_string()
        })
        .collect()
}

/// Every label's value starts in the same column, after at least two spaces, and
/// every other row of a field (a wrapped row, a second flag, a second step) is
/// indented to that column: nothing runs into a label (`tracked_items377`), nothing
/// wraps to column 0.
fn assert_aligned(rows: &[String]) {
    let mut value_col = None;
    // The fields come first, up to the first blank row (content and findings follow).
    for row in rows.iter().take_while(|r| !r.trim().is_empty()) {
        let indent = row.len() - row.trim_start().len();
        if indent == 0 {
            let gap = row
                .find("  ")
                .unwrap_or_else(|| panic!("a label runs into its value: {row:?}\n{rows:#?}"));
            let col = gap + row[gap..].len() - row[gap..].trim_start().len();
            assert_eq!(
                *value_col.get_or_insert(col),
                col,
                "{row:?} is not aligned: {rows:#?}"
            );
        } else {
            let col = value_col.expect("a continuation before any label");
            assert!(
                indent >= col,
                "a continuation row is not under its value: {row:?}\n{rows:#?}"
            );
        }
    }
    assert!(value_col.is_some(), "no label in the pane: {rows:#?}");
}

fn open_details(app: &mut App, filter: &str) {
    press(app, &format!("/{filter}<Enter>g<Enter>"));
}

#[test]
fn details_of_a_partial_entry_say_press_r_and_the_command() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        open_details(&mut app, "cargo/registry");
        let t = render(&app, &Theme::COLOR);
        insta::assert_snapshot!(format!("partial_{w}x{h}"), t.backend());
        let text = screen_text(&t);
        let rows = pane_rows(&text);
        assert_aligned(&rows);
        let pane = rows.join("\n");
        assert!(pane.contains("Next step"), "{pane}");
        assert!(
            pane.contains("press R to remove the broken parts"),
            "{pane}"
        );
        // The description is the mount and the command again: shown once.
        assert!(!pane.contains("Description"), "{pane}");
        assert_eq!(pane.matches("cargo build --release --locked").count(), 1);
        // What is wrong and every step come before the times and sizes, so they show
        // without scrolling even at 80x24.
        assert!(
            pane.contains("from a shell: cachetop repair ufkdtw3x1lkysw5eit7oc8i9m"),
            "{pane}"
        );
        assert!(
            pane.contains("press d to delete this entry, or E"),
            "{pane}"
        );
        assert!(
            pane.contains("from a shell: cachetop prune --id ufkdtw3x1lkysw5eit7oc8i9m"),
            "{pane}"
        );
    }
    // At the end of the findings, the same steps again.
    let mut app = app(80, 24);
    open_details(&mut app, "cargo/registry");
    press(&mut app, "G");
    let pane = pane_rows(&screen_text(&render(&app, &Theme::COLOR))).join("\n");
    assert!(pane.contains("cargo.partial_extraction"), "{pane}");
    assert!(
        pane.contains("→ press R to remove the broken parts"),
        "{pane}"
    );
    assert!(
        pane.contains("→ from a shell: cachetop repair ufkdtw3x1lkysw5eit7oc8i9m"),
        "{pane}"
    );
}

#[test]
fn details_of_a_stale_entry_say_d_and_e() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        open_details(&mut app, "/root/.npm");
        let t = render(&app, &Theme::COLOR);
        insta::assert_snapshot!(format!("stale_{w}x{h}"), t.backend());
        let rows = pane_rows(&screen_text(&t));
        assert_aligned(&rows);
        let pane = rows.join("\n");
        assert!(
            pane.contains("press d to delete this entry, or E"),
            "{pane}"
        );
        assert!(
            pane.contains("from a shell: cachetop prune --id t5y8u1i4o7p0a3s6d9f2g5h8j"),
            "{pane}"
        );
        assert!(!pane.contains("press R"), "nothing to repair: {pane}");
        assert!(pane.contains("Cache id      npm-web"), "{pane}");
    }
}

#[test]
fn details_of_an_in_use_entry_offer_nothing_to_do_now() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        open_details(&mut app, "/go/pkg/mod");
        let t = render(&app, &Theme::COLOR);
        insta::assert_snapshot!(format!("in_use_{w}x{h}"), t.backend());
        let rows = pane_rows(&screen_text(&t));
        assert_aligned(&rows);
        let pane = rows.join("\n");
        assert!(pane.contains("none now: a build is using it"), "{pane}");
        assert!(
            !pane.contains("press d") && !pane.contains("press R"),
            "{pane}"
        );
    }
}

#[test]
fn read_only_details_promise_no_key() {
    let mut app = app_with(
        sample_entries(),
        Caps {
            read_only: true,
            repair: true,
        },
        120,
        40,
    );
    open_details(&mut app, "cargo/registry");
    let pane = pane_rows(&screen_text(&render(&app, &Theme::COLOR))).join("\n");
    assert!(!pane.contains("press"), "{pane}");
    assert!(pane.contains("from a shell: cachetop repair"), "{pane}");
}

/// `path` shows in `text` whole, or broken only right after a `/`; never inside a
/// component (`index.c` / `rates.io`).
fn path_breaks(text: &str, path: &str) -> (usize, usize) {
    let rows: Vec<&str> = text.lines().map(str::trim).collect();
    // Joined where a row ends in `/` or the next begins with one, and joined at every
    // row end.
    let mut at_slash = String::new();
    let mut anywhere = String::new();
    for (i, r) in rows.iter().enumerate() {
        anywhere.push_str(r);
        at_slash.push_str(r);
        let next_slash = rows.get(i + 1).is_some_and(|n| n.starts_with('/'));
        if !r.ends_with('/') && !next_slash {
            at_slash.push('\n');
        }
    }
    (
        at_slash.matches(path).count(),
        anywhere.matches(path).count(),
    )
}

/// The rows inside a popup's border.
fn popup_rows(text: &str) -> String {
    text.lines()
        .filter_map(|l| {
            let start = l.find('│')?;
            let rest = &l[start + '│'.len_utf8()..];
            let end = rest.rfind('│')?;
            Some(rest[..end].trim().to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const PART: &str = "registry/src/index.crates.io-1949cf8c6b5b557f/http-1.4.1";

fn repair_dialog(width: u16, height: u16) -> App {
    let mut app = app(width, height);
    let entries = sample_entries();
    let plan = cachetop::repair::plan(&entries, &["ufkdtw3x1lkysw5eit7oc8i9m".to_string()]);
    assert_eq!(plan.part_count(), 1);
    app.apply(Event::RepairPlanned(Box::new(plan)));
    app
}

#[test]
fn the_repair_dialog_keeps_paths_whole_at_every_width() {
    for (w, h) in SIZES {
        let t = render(&repair_dialog(w, h), &Theme::COLOR);
        insta::assert_snapshot!(format!("repair_dialog_{w}x{h}"), t.backend());
    }
    let full = format!("/var/lib/docker/overlay2/ufkdtw3x1lkysw5eit7oc8i9m/diff/{PART}");
    // From 44 columns on, the longest component (32) fits a row beside its indent.
    for width in 44..=200 {
        let app = repair_dialog(width, 60);
        let text = popup_rows(&screen_text(&render(&app, &Theme::COLOR)));
        for path in [PART, full.as_str()] {
            let (at_slash, anywhere) = path_breaks(&text, path);
            assert!(anywhere >= 1, "{width}: {path} is not shown:\n{text}");
            assert_eq!(
                at_slash, anywhere,
                "{width}: {path} is broken inside a component:\n{text}"
            );
        }
    }
}

#[test]
fn the_confirm_dialog_keeps_paths_whole_at_every_width() {
    let target = "/usr/local/cargo/registry/index/index.crates.io-1949cf8c6b5b557f/cache";
    let mut entries = sample_entries();
    entries[0].mount.as_mut().unwrap().target = target.to_string();
    for width in 44..=200 {
        let mut app = app_with(entries.clone(), Caps::default(), width, 60);
        press(&mut app, "/ufkdtw3x<Enter>gd");
        let text = popup_rows(&screen_text(&render(&app, &Theme::COLOR)));
        assert!(text.contains("will be deleted"), "{width}:\n{text}");
        let (at_slash, anywhere) = path_breaks(&text, target);
        assert!(anywhere >= 1, "{width}: the target is not shown:\n{text}");
        assert_eq!(
            at_slash, anywhere,
            "{width}: cut inside a component:\n{text}"
        );
    }
}

#[test]
fn esc_in_the_table_clears_a_kept_filter() {
    let mut app = app(80, 24);
    press(&mut app, "/npm<Enter>");
    assert_eq!(app.list.visible_len(), 1);
    assert!(!app.editing_filter, "the filter is kept");
    press(&mut app, "<Esc>");
    assert_eq!(app.filter, "");
    assert_eq!(app.list.visible_len(), 7);
    // The flag filter too.
    press(&mut app, "f");
    assert!(app.list.visible_len() < 7);
    press(&mut app, "<Esc>");
    assert_eq!(app.list.visible_len(), 7);
    // Esc in the details pane still only goes back.
    press(&mut app, "/npm<Enter><Enter><Esc>");
    assert_eq!(app.filter, "npm");
    assert_eq!(app.list.visible_len(), 1);
}

#[test]
fn space_marks_and_moves_down_and_help_says_so() {
    let mut app = app(120, 40);
    press(&mut app, "<Space>");
    assert_eq!(app.cursor, 1);
    assert_eq!(app.list.marked().0, 1);
    press(&mut app, "?");
    press(&mut app, "G");
    let t = render(&app, &Theme::COLOR);
    let text = screen_text(&t);
    assert!(text.contains("≥4w"), "the chart legend: {text}");
    press(&mut app, "g");
    let text = screen_text(&render(&app, &Theme::COLOR));
    assert!(
        text.contains("mark or unmark the row, then move down"),
        "{text}"
    );
}

fn mev(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

fn click(column: u16, row: u16) -> MouseEvent {
    mev(MouseEventKind::Down(MouseButton::Left), column, row)
}

#[test]
fn mouse_events_map_to_actions() {
    let mut app = app(120, 40);
    let body = layout::main(app.area).body;
    let wheel = mev(MouseEventKind::ScrollDown, 5, body.y + 2);
    assert_eq!(
        mouse::action(&app, &wheel),
        Some(MouseAction::Scroll(Action::Down, WHEEL_ROWS))
    );
    app.handle_mouse(wheel).expect("the wheel means something");
    assert_eq!(app.cursor, WHEEL_ROWS);
    app.handle_mouse(mev(MouseEventKind::ScrollUp, 5, body.y + 2));
    assert_eq!(app.cursor, 0);

    // A click on the fifth row selects it.
    assert_eq!(
        mouse::action(&app, &click(30, body.y + 5)),
        Some(MouseAction::Select(4))
    );
    app.handle_mouse(click(30, body.y + 5));
    assert_eq!(app.cursor, 4);
    // Below the last row, a move, a release, a right click: nothing (no redraw).
    assert_eq!(mouse::action(&app, &click(30, body.y + 20)), None);
    assert!(app.handle_mouse(mev(MouseEventKind::Moved, 3, 3)).is_none());
    assert!(
        app.handle_mouse(mev(MouseEventKind::Up(MouseButton::Left), 30, body.y + 2))
            .is_none()
    );
    assert!(
        app.handle_mouse(mev(
            MouseEventKind::Down(MouseButton::Right),
            30,
            body.y + 2
        ))
        .is_none()
    );
    // A click in the header (sources, chart) does nothing.
    assert_eq!(mouse::action(&app, &click(10, 2)), None);

    // A dialog takes no click: nothing behind it is selected; the wheel scrolls it.
    press(&mut app, "E");
    assert!(matches!(app.mode(), cachetop::tui::keys::Mode::Confirm));
    assert_eq!(mouse::action(&app, &click(30, body.y + 2)), None);
    assert!(matches!(
        mouse::action(&app, &wheel),
        Some(MouseAction::Scroll(Action::Down, _))
    ));
    press(&mut app, "n");
    assert_eq!(app.cursor, 4);
}

#[test]
fn a_click_on_a_heading_sorts_by_the_column_drawn_there() {
    for (w, h) in [(80, 24), (120, 40), (160, 48)] {
        let mut app = app(w, h);
        let body = layout::main(app.area).body;
        for (head, col) in [
            ("LAST USED", SortColumn::LastUsed),
            ("USES", SortColumn::Uses),
            ("TYPE", SortColumn::Type),
            ("SIZE", SortColumn::Size),
        ] {
            let text = screen_text(&render(&app, &Theme::COLOR));
            let heads = text.lines().nth(body.y as usize).unwrap().to_string();
            let Some(byte) = heads.find(head) else {
                continue; // not shown at this width
            };
            let x = heads[..byte].chars().count() as u16 + 1;
            let was = app.list.sort();
            assert_eq!(
                mouse::action(&app, &click(x, body.y)),
                Some(MouseAction::Sort(col)),
                "{w}x{h}: {head} at {x} in {heads:?}"
            );
            app.handle_mouse(click(x, body.y));
            // The same column again inverts it.
            let want = (col, was.0 == col && !was.1);
            assert_eq!(app.list.sort(), want, "{w}x{h} {head}");
        }
    }
    // The mark column sorts nothing.
    let app = app(120, 40);
    let body = layout::main(app.area).body;
    assert_eq!(mouse::action(&app, &click(0, body.y)), None);
}

#[test]
fn the_chart_follows_stale_after() {
    let policy = cachetop::policy::Policy {
        stale_after: std::time::Duration::from_secs(36 * 3_600),
    };
    let mut app = App::new(
        vec![docker()],
        policy,
        Caps::default(),
        now(),
        Rect::new(0, 0, 120, 40),
    );
    app.apply(Event::Loading {
        generation: 1,
        sources: vec![docker()],
    });
    app.apply(listed(1, docker(), Ok(sample_entries()), "Docker"));
    let text = screen_text(&render(&app, &Theme::COLOR));
    for label in ["idle <5h", "idle 5h-36h", "idle 36h-6d", "idle ≥6d"] {
        assert!(text.contains(label), "{label}:\n{text}");
    }
}

/// Directories that become one entry each, of known sizes (c0 the largest).
fn dirs(root: &std::path::Path) -> String {
    let mut args = String::new();
    for i in 0..8 {
        let d = root.join(format!("c{i}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("f"), vec![0u8; (8 - i) * 100_000]).unwrap();
        args.push_str(&format!(" --dir {}", d.display()));
    }
    args
}

/// A wheel notch or a left click as the terminal sends it with SGR reporting
/// (1-based cells); a click is a press and a release.
fn sgr(t: &common::tmux::Tmux, button: u8, x: u16, y: u16, release: bool) {
    let mut seq = format!("\x1b[<{button};{x};{y}M");
    if release {
        seq.push_str(&format!("\x1b[<{button};{x};{y}m"));
    }
    t.type_text(&seq);
}

fn status(screen: &str) -> String {
    screen
        .lines()
        .rev()
        .find(|l| l.starts_with("row "))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_real_screen_scrolls_and_selects_with_the_mouse_and_gives_it_back() {
    use common::tmux::{self, Tmux};
    let root = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let command = format!(
        "{} --no-docker --no-cargo-home --no-builders{}",
        bin.display(),
        dirs(root.path())
    );
    let line = |extra: &str| {
        format!(
            "env -u DOCKER_HOST XDG_CONFIG_HOME=/nonexistent {}",
            tmux::pane_line(&root.path().join("pid"), &format!("{command}{extra}"))
        )
    };

    let t = Tmux::start(120, 40, &line(""));
    let screen = t.wait_for("every directory", |s| status(s).contains("/8 "));
    assert!(screen.contains("c7"), "{screen}");
    // Clicks and the wheel are captured, in SGR form; pointer motion is not asked for.
    assert_eq!(t.display("#{mouse_standard_flag}#{mouse_sgr_flag}"), "11");
    assert_eq!(t.display("#{mouse_all_flag}"), "0");
    let heads = screen
        .lines()
        .position(|l| l.contains("MOUNT / DESCRIPTION"))
        .expect("the column headings") as u16;
    t.keys(&["g"]);
    t.wait_for("the first row", |s| status(s).starts_with("row 1/8"));
    // One notch of the wheel down over the table: three rows.
    sgr(&t, 65, 30, heads + 3, false);
    t.wait_for("the wheel to scroll", |s| status(s).starts_with("row 4/8"));
    sgr(&t, 64, 30, heads + 3, false);
    t.wait_for("the wheel to scroll back", |s| {
        status(s).starts_with("row 1/8")
    });
    // A click on the sixth row selects it (rows are 1-based for the terminal).
    sgr(&t, 0, 30, heads + 1 + 6, true);
    let screen = t.wait_for("the click to select", |s| status(s).starts_with("row 6/8"));
    // A click on a heading sorts by it.
    let x = screen
        .lines()
        .nth(heads as usize)
        .and_then(|l| l.find("LAST USED").map(|b| l[..b].chars().count()))
        .expect("LAST USED heading") as u16;
    sgr(&t, 0, x + 2, heads + 1, true);
    t.wait_for("the sort by last use", |s| {
        status(s).contains("sort: last used")
    });
    t.keys(&["q"]);
    let screen = t.wait_for("cachetop to exit", |s| s.contains("cachetop exited"));
    assert!(screen.contains("cachetop exited 0"), "{screen}");
    // The terminal has its mouse back.
    assert_eq!(t.display("#{mouse_any_flag}"), "0", "mouse capture left on");
    drop(t);

    // --no-mouse: never captured.
    let t = Tmux::start(120, 40, &line(" --no-mouse"));
    t.wait_for("the screen", |s| status(s).contains("/8 "));
    assert_eq!(
        t.display("#{mouse_any_flag}"),
        "0",
        "--no-mouse captured it"
    );
    // A signal gives the mouse back too.
    drop(t);
    let pidfile = root.path().join("pid");
    let _ = std::fs::remove_file(&pidfile);
    let t = Tmux::start(120, 40, &line(""));
    t.wait_for("the screen", |s| status(s).contains("/8 "));
    assert_eq!(t.display("#{mouse_any_flag}"), "1");
    let pid = tmux::read_pid(&pidfile);
    // SAFETY: kill with a pid we started and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let screen = t.wait_for("cachetop to exit", |s| s.contains("cachetop exited"));
    assert!(screen.contains("cachetop exited 1"), "{screen}");
    assert_eq!(
        t.display("#{mouse_any_flag}"),
        "0",
        "SIGTERM left capture on"
    );
}

#[test]
fn after_a_repair_the_entry_is_judged_by_what_is_left_not_the_daemons_old_size() {
    use cachetop::model::Flag;
    let mut entries = sample_entries();
    // Reported and measured agree before the repair.
    entries[0].size_bytes = 3_120_000_000;
    let mut app = app_with(entries.clone(), Caps::default(), 120, 40);
    let key = (docker(), entries[0].id.clone());
    assert!(!app.list.get(&key).unwrap().has(Flag::SizeMismatch));
    // R removed 1 GB of broken parts.
    let mut outcome = cachetop::plan::Outcome::default();
    outcome.done.push(cachetop::plan::Done {
        source: docker(),
        id: entries[0].id.clone(),
        path: Some(PART.to_string()),
        bytes: 1_000_000_000,
        planned: true,
    });
    app.apply(Event::Repaired(Box::new(outcome)));
    // The refresh after it: the daemon still says 3.12 GB, the scan measures 2.12 GB.
    let mut after = entries.clone();
    after[0].disk_bytes = Some(2_120_000_000);
    after[0].findings.clear();
    app.apply(Event::Loading {
        generation: 2,
        sources: vec![docker()],
    });
    app.apply(listed(2, docker(), Ok(after.clone()), "Docker"));
    let e = app.list.get(&key).unwrap();
    assert!(!e.has(Flag::SizeMismatch), "{:?}", e.flags);
    assert!(!e.has(Flag::Partial));
    // Its details say why the reported figure is not trusted.
    press(&mut app, "/ufkdtw3x<Enter>g<Enter>");
    let pane = pane_rows(&screen_text(&render(&app, &Theme::COLOR))).join("\n");
    assert!(
        pane.contains("Repaired      1 GB removed; the source still reports its size from before"),
        "{pane}"
    );
    // Once a build has used it and the daemon measured again, its figure counts.
    let mut later = after;
    later[0].size_bytes = 5_000_000_000;
    app.apply(Event::Loading {
        generation: 3,
        sources: vec![docker()],
    });
    app.apply(listed(3, docker(), Ok(later), "Docker"));
    assert!(app.list.get(&key).unwrap().has(Flag::SizeMismatch));
}
