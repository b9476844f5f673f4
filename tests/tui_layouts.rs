//! Layouts that never lie, at 40x12, 60x20, 80x24, 120x40 and 250x80 on a fixed
//! clock: every SIZE cell drawn is its entry's whole size (sizes chosen so that a cut
//! reads as a plausible smaller number: `251.86 MB` as `51.86 MB`, `1.02 GB` as
//! `02 GB`), `q` is always in the footer, the full id shows when the width allows,
//! the headings sit where `layout::columns` (the geometry clicks use) says, the sort
//! arrow follows every sortable column, filter matches are highlighted, and the
//! counts and marks promise only what can be deleted.

use crate::tui_support;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use cachetop::model::{Entry, Flag};
use cachetop::tui::app::{App, Caps};
use cachetop::tui::listing::SortColumn;
use cachetop::tui::view::columns::{Column, Placed};
use cachetop::tui::view::{Theme, layout};
use cachetop::units::format_size;
use tui_support::*;

const SIZES: [(u16, u16); 5] = [(40, 12), (60, 20), (80, 24), (120, 40), (250, 80)];

/// The sample runner's caches with sizes that lose leading digits when cut, and one
/// of each kind of badge: a shared layer (stale too), a cache mount in use, a
/// partial one (stale too), a stale one, and one measured far bigger than reported.
fn entries() -> Vec<Entry> {
    let mut out = sample_entries();
    // cargo: partial and stale; now 1.02 GB as reported and measured.
    out[0].size_bytes = 1_020_000_000;
    out[0].disk_bytes = Some(1_020_000_000);
    // apt: fresh.
    out[1].size_bytes = 251_860_000;
    // npm: stale.
    out[3].size_bytes = 46_810_000;
    // sccache: measured at 999.99 MB, reported 96 MB.
    out[6].disk_bytes = Some(999_990_000);
    out
}

fn app(w: u16, h: u16) -> App {
    app_with(entries(), Caps::default(), w, h)
}

/// What SIZE must show for an entry, whole.
fn size_text(e: &Entry) -> String {
    let mut s = format_size(e.effective_bytes());
    if e.has(Flag::SizeMismatch) {
        s.push('*');
    }
    s
}

/// The text of the cells `p` covers on line `y`.
fn cells(t: &Terminal<TestBackend>, p: &Placed, y: u16) -> String {
    let buf = t.backend().buffer();
    (p.x..p.x + p.width).map(|x| buf[(x, y)].symbol()).collect()
}

fn placed(app: &App) -> Vec<Placed> {
    layout::columns(app, layout::main(app.area).body)
}

fn column(app: &App, c: Column) -> Option<Placed> {
    placed(app).into_iter().find(|p| p.column == c)
}

#[test]
fn every_size_draws_whole_numbers_and_keeps_q() {
    for (w, h) in SIZES {
        let app = app(w, h);
        let t = render(&app, &Theme::COLOR);
        insta::assert_snapshot!(format!("layout_{w}x{h}"), t.backend());
        let text = screen_text(&t);
        let body = layout::main(app.area).body;
        let size = column(&app, Column::Size).expect("SIZE always shows");
        let rows: Vec<&Entry> = app
            .list
            .rows(app.offset, app.table_rows())
            .map(|(e, _)| e)
            .collect();
        assert!(!rows.is_empty(), "{w}x{h}: no rows\n{text}");
        for (i, e) in rows.iter().enumerate() {
            let drawn = cells(&t, &size, body.y + 1 + i as u16);
            assert_eq!(drawn.trim(), size_text(e), "{w}x{h}, row {i}\n{text}");
            // The cell holds the size and nothing else: nothing cut on its left.
            assert!(drawn.starts_with(' ') || drawn.trim() == drawn, "{drawn:?}");
        }
        // The title leaves a count out rather than cut it.
        let title = text.lines().next().unwrap_or_default();
        assert!(!title.contains('…'), "{w}x{h}: {title:?}");
        assert!(title.contains("stale 3 (2.07 GB"), "{w}x{h}: {title:?}");
        let footer = text.lines().last().unwrap_or_default();
        assert!(footer.contains("q quit"), "{w}x{h}: {footer:?}");
        // No column of `-` for flags: badges or nothing.
        assert!(!text.contains(" -    "), "{w}x{h}\n{text}");
    }
}

#[test]
fn numbers_of_every_column_are_whole_at_every_width() {
    for w in 20..=260 {
        let app = app(w, 30);
        let t = render(&app, &Theme::COLOR);
        let body = layout::main(app.area).body;
        let rows: Vec<&Entry> = app
            .list
            .rows(app.offset, app.table_rows())
            .map(|(e, _)| e)
            .collect();
        for p in placed(&app) {
            for (i, e) in rows.iter().enumerate() {
                let want = match p.column {
                    Column::Size => size_text(e),
                    Column::Uses => e.usage_count.map_or("-".into(), |n| n.to_string()),
                    Column::LastUsed => cachetop::units::format_age(e.last_used_at, now()),
                    Column::Created => cachetop::units::format_age(e.created_at, now()),
                    _ => continue,
                };
                let drawn = cells(&t, &p, body.y + 1 + i as u16);
                assert_eq!(drawn.trim(), want, "{w}: {:?} row {i}", p.column);
            }
        }
    }
}

#[test]
fn the_full_id_shows_when_the_width_allows() {
    let app = app(250, 80);
    let text = screen_text(&render(&app, &Theme::COLOR));
    for (e, _) in app.list.rows(0, app.table_rows()) {
        assert!(text.contains(&format!(" {} ", e.id)), "{}\n{text}", e.id);
    }
    assert!(text.contains("exec.cachemount"), "whole type names\n{text}");
    assert!(text.contains("PARTIAL STALE"), "whole badges\n{text}");
    assert!(text.contains("SHARED STALE"), "the shared badge\n{text}");
    // Narrow: short words, never `exec.cach…`.
    for (w, h) in [(80, 24), (120, 40)] {
        let text = screen_text(&render(
            &app_with(entries(), Caps::default(), w, h),
            &Theme::COLOR,
        ));
        assert!(!text.contains("exec.cach…"), "{w}x{h}\n{text}");
    }
    let text = screen_text(&render(
        &app_with(entries(), Caps::default(), 80, 24),
        &Theme::COLOR,
    ));
    assert!(text.contains("INUSE") || text.contains("IN USE"), "{text}");
}

/// The headings are drawn where the geometry puts them, so a click on a heading
/// (tested against `layout::columns`) hits the column it shows.
#[test]
fn headings_sit_where_the_geometry_says() {
    for (w, h) in SIZES {
        let app = app(w, h);
        let t = render(&app, &Theme::COLOR);
        let y = layout::main(app.area).body.y;
        for p in placed(&app) {
            if p.column == Column::Mark || p.width == 0 {
                continue;
            }
            let drawn = cells(&t, &p, y);
            let shown = drawn.trim().trim_end_matches(['▲', '▼']);
            assert!(
                p.column.heads().contains(&shown)
                    || p.column
                        .heads()
                        .iter()
                        .any(|h| h.starts_with(shown.trim_end_matches('…'))),
                "{w}x{h}: {:?} shows {drawn:?}",
                p.column
            );
        }
    }
}

#[test]
fn the_sort_arrow_follows_every_sortable_column() {
    for (w, h) in [(250, 80), (80, 24)] {
        let mut app = app(w, h);
        for _ in 0..SortColumn::CYCLE.len() {
            let (sort, _) = app.list.sort();
            let t = render(&app, &Theme::COLOR);
            let y = layout::main(app.area).body.y;
            for p in placed(&app) {
                let drawn = cells(&t, &p, y);
                let arrow = drawn.contains('▼') || drawn.contains('▲');
                assert_eq!(
                    arrow,
                    p.column.sort() == Some(sort),
                    "{w}x{h}, sorted by {sort:?}: {:?} shows {drawn:?}",
                    p.column
                );
            }
            if w == 250 {
                assert!(
                    placed(&app).iter().any(|p| p.column.sort() == Some(sort)),
                    "{sort:?} has no column at 250"
                );
            }
            press(&mut app, "s");
        }
    }
}

#[test]
fn filter_matches_are_highlighted_in_the_rows() {
    let mut app = app(250, 80);
    press(&mut app, "/cargo");
    let t = render(&app, &Theme::COLOR);
    let buf = t.backend().buffer();
    let body = layout::main(app.area).body;
    let what = column(&app, Column::What).unwrap();
    let mut lit = 0;
    for i in 0..app.list.visible_len() as u16 {
        let y = body.y + 1 + i;
        let row = cells(&t, &what, y);
        let at = row.find("cargo").expect("the match is in view") as u16;
        for x in what.x + at..what.x + at + 5 {
            assert_eq!(buf[(x, y)].bg, Color::Yellow, "row {i}: {row:?}");
            lit += 1;
        }
        // Before the match, the row's own style.
        assert_ne!(buf[(what.x, y)].bg, Color::Yellow, "row {i}");
    }
    assert!(lit >= 10, "two rows match cargo");
    // Without colour the match is underlined.
    let t = render(&app, &Theme::MONO);
    let buf = t.backend().buffer();
    let row = cells(&t, &what, body.y + 1);
    let at = what.x + row.find("cargo").unwrap() as u16;
    assert!(
        buf[(at, body.y + 1)]
            .modifier
            .contains(ratatui::style::Modifier::UNDERLINED)
    );
}

#[test]
fn stale_counts_only_what_e_would_delete() {
    let mut app = app(120, 40);
    let title = screen_text(&render(&app, &Theme::COLOR));
    let title = title.lines().next().unwrap().to_string();
    // Stale: cargo (1.02 GB), npm (46.81 MB), sccache (999.99 MB measured) and the
    // shared layer, which no plan deletes.
    let want = format_size(1_020_000_000 + 46_810_000 + 999_990_000);
    assert!(
        title.contains(&format!("stale 3 ({want}, unused 7d; 1 kept)")),
        "{title}"
    );
    press(&mut app, "E");
    let text = screen_text(&render(&app, &Theme::COLOR));
    assert!(
        text.contains(&format!("Evict 3 stale entries, {want}")),
        "{text}"
    );
}

#[test]
fn marking_what_cannot_be_deleted_says_why_and_counts_nothing() {
    let mut app = app(120, 40);
    let row_of = |app: &App, id: &str| {
        (0..app.list.visible_len())
            .find(|&r| app.list.row(r).is_some_and(|e| e.id == id))
            .unwrap()
    };
    // The Go cache mount is in use, the layer is shared with an image.
    for (id, why) in [
        ("p0m3n6b9v2c5x8z1l4k7j0h3g", "in use"),
        ("qd5dmn0t4ugvjm6xqxlpw3bmb", "shared with an image"),
    ] {
        press(&mut app, "g");
        for _ in 0..row_of(&app, id) {
            press(&mut app, "j");
        }
        press(&mut app, "<Space>");
        let text = screen_text(&render(&app, &Theme::COLOR));
        let status = text.lines().rev().nth(1).unwrap();
        assert!(status.contains("not marked"), "{status}");
        assert!(status.contains(why), "{status}");
        assert!(!status.contains("marked,"), "{status}");
        assert_eq!(app.list.marked(), (0, 0));
    }
    // Marking all leaves them out and says so.
    press(&mut app, "a");
    let text = screen_text(&render(&app, &Theme::COLOR));
    assert!(text.contains("2 not marked"), "{text}");
    assert_eq!(app.list.marked().0, 5);
    // And `d` plans exactly the five.
    press(&mut app, "d");
    let text = screen_text(&render(&app, &Theme::COLOR));
    assert!(text.contains("Delete 5 entries"), "{text}");
}
