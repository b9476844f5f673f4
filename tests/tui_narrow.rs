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

/// The real binary in tmux at 40x12 against the isolated daemon: a cache mount of
/// 25.19 MB (`5.19 MB` if cut from the left) shows whole, and `q quit` is in the
/// footer.
#[test]
fn the_real_screen_at_40x12_shows_a_whole_size() {
    use crate::common::tmux::{self, Tmux};
    use crate::common::*;

    let _lock = deletion_lock();
    let tag = unique("narrow");
    let target = format!("/cache/{tag}");
    build(&cache_mount_dockerfile(&target, 25_186_000));
    let id = api_mount_record(&target)["ID"]
        .as_str()
        .expect("a record id")
        .to_string();
    // What cachetop itself makes of the record (measured content included).
    let out = cachetop_on_daemon()
        .args(["report", "--json"])
        .output()
        .unwrap();
    let doc = json_of(&out);
    let e = entry(&doc, &id);
    let bytes = e["disk_bytes"]
        .as_u64()
        .or(e["size_bytes"].as_u64())
        .unwrap();
    let mut size = format_size(bytes);
    if flags(e).contains(&"size_mismatch") {
        size.push('*');
    }
    assert!(size.starts_with("25.1"), "{size}");

    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let line = format!(
        "env -u DOCKER_HOST -u NO_COLOR XDG_CONFIG_HOME=/nonexistent CARGO_HOME={NO_CARGO_HOME} \
         CACHETOP_NO_BUILDERS=1 {}",
        tmux::pane_line(
            &dir.path().join("pid"),
            &format!("{} --host {}", bin.display(), daemon().host)
        )
    );
    let t = Tmux::start(40, 12, &line);
    t.wait_for("the table", |s| s.contains("SIZE"));
    t.keys(&["/"]);
    t.type_text(&tag);
    t.keys(&["Enter"]);
    // Below the title, which shows the total.
    let row_of = |s: &str| {
        s.lines()
            .skip(1)
            .find(|l| l.contains(&format!(" {size} ")))
            .map(str::to_string)
    };
    let screen = t.wait_for("the record's row, its size measured", |s| {
        row_of(s).is_some()
    });
    let row = row_of(&screen).unwrap();
    assert!(row.contains("/cache/"), "{row:?}\n{screen}");
    let footer = screen
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert!(footer.contains("q quit"), "{footer:?}\n{screen}");
    t.keys(&["q"]);
    // The shell's `stty -a` after it (12 lines hold no more than its output).
    t.wait_for("cachetop to exit", |s| {
        s.contains("cachetop exited 0") || s.contains("icanon")
    });
}
