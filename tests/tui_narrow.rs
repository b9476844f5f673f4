//! The screen never shows a wrong size: on a narrow terminal other columns give way
//! (or narrow) and SIZE stays whole. Sizes chosen so that a cut shows a plausible
//! wrong number (`251.86 MB` cut from the left reads `51.86 MB`).

use crate::tui_support;

use cachetop::model::{Entry, Flag};
use cachetop::tui::app::Caps;
use cachetop::tui::view::Theme;
use cachetop::units::format_size;
use tui_support::*;

/// Entries whose sizes lose leading digits when cut: 251.86 MB, 46.81 MB, and a
/// measured size that differs from the reported one (`999.99 MB*`, the widest).
fn entries() -> Vec<Entry> {
    let mut out = sample_entries();
    out[1].size_bytes = 251_860_000;
    out[3].size_bytes = 46_810_000;
    out[6].size_bytes = 10_000_000;
    out[6].disk_bytes = Some(999_990_000);
    out
}

/// What SIZE must show for an entry, whole.
fn size_text(e: &Entry) -> String {
    let mut s = format_size(e.effective_bytes());
    if e.has(Flag::SizeMismatch) {
        s.push('*');
    }
    s
}

/// The screen at `w`x`h`, and the size of every entry whose row is on it.
fn screen(w: u16, h: u16) -> (String, Vec<String>) {
    let app = app_with(entries(), Caps::default(), w, h);
    let text = screen_text(&render(&app, &Theme::COLOR));
    let shown: Vec<String> = app
        .list
        .rows(app.offset, app.table_rows())
        .map(|(e, _)| size_text(e))
        .collect();
    (text, shown)
}

/// Every size on screen is whole: preceded by a space or the line's start.
fn assert_sizes_whole(w: u16, h: u16) -> String {
    let (text, sizes) = screen(w, h);
    assert!(!sizes.is_empty(), "{w}x{h}: no row on screen\n{text}");
    for size in &sizes {
        let whole = text
            .lines()
            .any(|l| l.contains(&format!(" {size}")) || l.starts_with(size.as_str()));
        assert!(whole, "{w}x{h}: {size} is not shown whole\n{text}");
    }
    text
}

#[test]
fn at_40x12_and_60x15_sizes_are_whole() {
    for (w, h) in [(40, 12), (60, 15)] {
        let text = assert_sizes_whole(w, h);
        assert!(text.contains(" 251.86 MB"), "{w}x{h}\n{text}");
        let app = app_with(entries(), Caps::default(), w, h);
        insta::assert_snapshot!(
            format!("narrow_{w}x{h}"),
            render(&app, &Theme::COLOR).backend()
        );
    }
    // 46.81 MB sorts lower: scrolled to, it is whole too.
    let (text, _) = screen(40, 40);
    assert!(text.contains(" 46.81 MB"), "{text}");
}

#[test]
fn at_every_width_every_size_on_screen_is_whole() {
    for w in 24..=200 {
        assert_sizes_whole(w, 30);
    }
}
