//! Whole screens on a `TestBackend`, at 80x24 and 160x48 with a fixed clock, as insta
//! snapshots; plus what snapshots cannot see: colours, and their absence with NO_COLOR.

use crate::tui_support;

use std::path::Path;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

use cachetop::filesystems;
use cachetop::sources::{ErrorKind, SourceError};
use cachetop::tui::app::{App, Caps};
use cachetop::tui::message::Event;
use cachetop::tui::view::Theme;
use tui_support::*;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn app(width: u16, height: u16) -> App {
    app_with(sample_entries(), Caps::default(), width, height)
}

fn snap(name: &str, app: &App) -> Terminal<TestBackend> {
    let t = render(app, &Theme::COLOR);
    let w = app.area.width;
    let h = app.area.height;
    insta::assert_snapshot!(format!("{name}_{w}x{h}"), t.backend());
    t
}

#[test]
fn main_table() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        press(&mut app, "<Space>j");
        let t = snap("main", &app);
        let text = screen_text(&t);
        // The row of a cache mount: its target, a human size, its age and its badges.
        assert!(text.contains("/usr/local/cargo/regis"), "{text}");
        assert!(
            text.contains("3.12 GB*"),
            "measured size, marked as differing"
        );
        assert!(text.contains("12d ago"));
        // Whole badge words when there is room, short ones (and `+N`) when not.
        if w >= 160 {
            assert!(text.contains("PARTIAL STALE SIZE?"), "{text}");
            assert!(text.contains("IN USE") && text.contains("SHARED"), "{text}");
        } else {
            assert!(text.contains("PART +2"), "{text}");
            assert!(text.contains("INUSE") && text.contains("SHRD +1"), "{text}");
        }
        assert!(text.contains("1 marked, 3.12 GB"));
        assert!(text.contains("ok: 7 entries"), "source state in the header");
        assert!(text.contains("idle 7d-4w"), "age chart");
    }
}

#[test]
fn details_pane() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        press(&mut app, "<Enter>");
        let t = snap("details", &app);
        let text = screen_text(&t);
        assert!(
            text.contains("cargo build --release --locked"),
            "the command"
        );
        if h >= 48 {
            assert!(text.contains("registry/src"), "largest subdirectories");
            assert!(text.contains("cargo.partial_extraction"), "{text}");
            assert!(text.contains("frees 412 kB"), "{text}");
        }
    }
}

#[test]
fn details_scroll_to_the_findings_at_80x24() {
    let mut app = app(80, 24);
    press(&mut app, "<Enter>G");
    let text = screen_text(&render(&app, &Theme::COLOR));
    assert!(text.contains("cargo.partial_extraction"), "{text}");
    assert!(text.contains("interrupted"), "{text}");
}

#[test]
fn confirm_dialog() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        press(&mut app, "E");
        let t = snap("confirm", &app);
        let text = screen_text(&t);
        assert!(text.contains("Evict 3 stale entries"), "{text}");
        assert!(text.contains("because: stale"), "{text}");
        assert!(text.contains("y/Enter"), "{text}");
        assert!(text.contains("n/Esc"), "{text}");
        if h >= 48 {
            assert!(text.contains("Kept (1)"), "{text}");
            assert!(
                text.contains("docker builder prune --force --filter 'id=^"),
                "{text}"
            );
        }
    }
}

#[test]
fn help_screen() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        press(&mut app, "?");
        let t = snap("help", &app);
        assert!(screen_text(&t).contains("Keys"));
    }
}

#[test]
fn error_popup() {
    for (w, h) in SIZES {
        let mut app = app(w, h);
        app.apply(Event::Loading {
            generation: 2,
            sources: vec![docker()],
        });
        app.apply(listed(
            2,
            docker(),
            Err(SourceError::new(
                ErrorKind::PermissionDenied,
                "permission denied on /var/run/docker.sock: add yourself to the docker \
                 group, or run cachetop with sudo",
            )),
            "",
        ));
        let t = snap("error", &app);
        let text = screen_text(&t);
        assert!(text.contains("Error"), "{text}");
        assert!(text.contains("dismiss"), "{text}");
    }
}

#[test]
fn prune_outcome() {
    let mut app = app(80, 24);
    press(&mut app, "E");
    let plan = match press(&mut app, "y").pop() {
        Some(cachetop::tui::app::Effect::Prune(p)) => p,
        other => panic!("{other:?}"),
    };
    let mut outcome = cachetop::plan::Outcome::of(&plan);
    for it in &plan.items[..2] {
        outcome.done.push(cachetop::plan::Done {
            source: it.entry.source.clone(),
            id: it.entry.id.clone(),
            path: None,
            bytes: it.entry.size_bytes,
            planned: true,
        });
        outcome.reclaimed_bytes += it.entry.size_bytes;
    }
    outcome.skipped.push(cachetop::plan::Skip::entry(
        &plan.items[2].entry,
        "used since the plan was made",
    ));
    let effects = app.apply(Event::Pruned {
        plan: Box::new(plan),
        outcome: Box::new(outcome),
    });
    assert!(matches!(
        effects.as_slice(),
        [cachetop::tui::app::Effect::Refresh]
    ));
    let t = snap("outcome", &app);
    let text = screen_text(&t);
    assert!(text.contains("Deleted 2 of 3 planned"), "{text}");
    // Named by its mount target, the reason wrapped under it.
    assert!(
        text.contains("/root/.cache/sccache: used since the"),
        "{text}"
    );
    assert!(text.contains("│     plan was made"), "{text}");
}

#[test]
fn filter_line_while_typing() {
    let mut app = app(80, 24);
    press(&mut app, "/cargo");
    let t = snap("filtering", &app);
    let text = screen_text(&t);
    assert!(text.contains("/cargo▏"), "{text}");
    assert!(text.contains("Enter keep"), "{text}");
}

#[test]
fn loading_screen_appears_before_any_source_answers() {
    let app = App::new(
        vec![docker()],
        cachetop::policy::Policy::default(),
        Caps::default(),
        now(),
        ratatui::layout::Rect::new(0, 0, 80, 24),
    );
    let text = screen_text(&render(&app, &Theme::COLOR));
    assert!(text.contains("loading…"), "{text}");
}

#[test]
fn no_color_is_monochrome_and_still_readable() {
    let mut app = app(80, 24);
    press(&mut app, "j");
    let t = render(&app, &Theme::MONO);
    insta::assert_snapshot!("no_color_80x24", t.backend());
    let buf = t.backend().buffer();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            assert_eq!(c.fg, Color::Reset, "colour at {x},{y}: {:?}", c.fg);
            assert_eq!(c.bg, Color::Reset, "colour at {x},{y}: {:?}", c.bg);
        }
    }
    let text = screen_text(&t);
    for badge in ["STALE", "PART", "INUSE", "SHRD", "+2"] {
        assert!(text.contains(badge), "badge {badge} missing");
    }
    let wide = screen_text(&render(
        &app_with(sample_entries(), Caps::default(), 160, 48),
        &Theme::MONO,
    ));
    assert!(wide.contains("PARTIAL STALE SIZE?"), "{wide}");
    // The selected row (row 2 of the table) is shown by reverse video, not colour.
    let main = cachetop::tui::view::layout::main(buf.area);
    let row_y = main.body.y + 1 + 1;
    assert!(
        buf[(3, row_y)].modifier.contains(Modifier::REVERSED),
        "the selection is invisible without colour"
    );
    // And the mono theme is what NO_COLOR picks.
    assert_eq!(
        Theme::from_env(Some(std::ffi::OsStr::new("1"))),
        Theme::MONO
    );
    assert_eq!(
        Theme::from_env(Some(std::ffi::OsStr::new(""))),
        Theme::COLOR
    );
    assert_eq!(Theme::from_env(None), Theme::COLOR);
}

#[test]
fn colours_stay_within_the_16_ansi_colours() {
    for script in ["", "<Enter>", "E", "?"] {
        let mut app = app(160, 48);
        press(&mut app, script);
        let t = render(&app, &Theme::COLOR);
        let buf = t.backend().buffer();
        for c in buf.content() {
            for color in [c.fg, c.bg] {
                assert!(
                    !matches!(color, Color::Rgb(..) | Color::Indexed(_)),
                    "{script}: {color:?} needs more than 16 colours"
                );
            }
        }
    }
    // Badges carry their colour.
    let app = app(160, 48);
    let t = render(&app, &Theme::COLOR);
    let buf = t.backend().buffer();
    let pos = (0..buf.area.height)
        .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
        .find(|&(x, y)| {
            buf[(x, y)].symbol() == "S"
                && (1..5).all(|i| x + i < buf.area.width)
                && buf[(x + 1, y)].symbol() == "T"
                && buf[(x + 2, y)].symbol() == "A"
        })
        .expect("a STALE badge");
    assert_eq!(buf[pos].fg, Color::Yellow);
}

#[test]
fn every_size_down_to_tiny_draws_without_panicking() {
    for (w, h) in [(80, 24), (40, 10), (20, 5), (1, 1), (250, 80), (80, 3)] {
        for script in ["", "<Enter>", "E", "?", "/x"] {
            let mut app = app(w, h);
            press(&mut app, script);
            let _ = render(&app, &Theme::COLOR);
        }
    }
}

#[test]
fn resize_keeps_the_selection_in_view() {
    let mut app = app(80, 24);
    press(&mut app, "G");
    app.resize(80, 10);
    assert!(app.cursor >= app.offset && app.cursor < app.offset + app.table_rows());
    let text = screen_text(&render(&app, &Theme::COLOR));
    let last = app.selected().unwrap().kind.clone();
    assert!(text.contains(&last[..6]), "{text}");
}

/// The screenshot README shows is this screen; the test fails when it goes stale.
/// Regenerate with `UPDATE_SCREENSHOT=1 scripts/test.sh --test tui_screens`.
#[test]
fn readme_screenshot_is_current() {
    let mut app = app(120, 17);
    // The live header: when the data was read, and the disk under Docker's root with
    // what E would free there.
    app.live.interval = Some(std::time::Duration::from_secs(5));
    app.live.read_at = Some(app.now);
    let mut disks = filesystems::group(vec![(
        filesystems::Owner::Source(docker()),
        filesystems::Probe {
            device: 1,
            mount_point: "/var/lib/docker".into(),
            usage: filesystems::Usage {
                size_bytes: 99_870_000_000,
                used_bytes: 61_200_000_000,
                free_bytes: 38_670_000_000,
            },
        },
    )]);
    disks.filesystems[0].reclaimable_bytes = app.list.evictable().bytes;
    app.live.disks = Some(std::sync::Arc::new(disks));
    press(&mut app, "jjjj<Space><Space>gjj");
    let text = screen_text(&render(&app, &Theme::COLOR));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/screenshot-main.txt");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let saved = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(saved, text, "assets/screenshot-main.txt is stale");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    assert!(
        readme.contains(text.trim_end()),
        "README.md does not show the current assets/screenshot-main.txt"
    );
}
