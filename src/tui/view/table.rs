//! The main table. Rows are built only for the window on screen, whatever the number
//! of entries, and painted at the columns `layout::columns` places, the same
//! geometry a click is tested against.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::columns::{
    Column, Placed, badge_words, badges, host_label, type_word, uses_text, words_width,
};
use super::{Theme, layout};
use crate::model::Entry;
use crate::report::table::{size_cell, truncate, what_cell};
use crate::terminal_text::escape;
use crate::tui::app::{App, SourceState};
use crate::units::format_age;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let cols = layout::columns(app, area);
    draw_heads(frame.buffer_mut(), area, &cols, app, theme);

    if app.list.visible_len() == 0 {
        let msg = Rect {
            y: area.y + 2.min(area.height.saturating_sub(1)),
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(empty_text(app))
                .alignment(Alignment::Center)
                .style(theme.tone(crate::tui::text::Tone::Dim)),
            msg,
        );
        return;
    }

    let rows_fit = area.height.saturating_sub(1) as usize;
    let needle = app.list.filter_text();
    let buf = frame.buffer_mut();
    for (i, (e, marked)) in app.list.rows(app.offset, rows_fit).enumerate() {
        let row = Rect {
            y: area.y + 1 + i as u16,
            height: 1,
            ..area
        };
        if app.offset + i == app.cursor {
            buf.set_style(row, theme.selected());
        } else if marked {
            buf.set_style(row, theme.marked());
        }
        for p in &cols {
            let spans = cell(p, e, marked, needle, app, theme);
            put(buf, p, row.y, spans);
        }
    }
}

/// The headings; the sorted column's carries the arrow of its order.
fn draw_heads(buf: &mut Buffer, area: Rect, cols: &[Placed], app: &App, theme: &Theme) {
    buf.set_style(Rect { height: 1, ..area }, theme.column_heads());
    let (sort, _) = app.list.sort();
    let arrow = app.sort_label().chars().last().unwrap_or(' ');
    for p in cols {
        let sorted = p.column.sort() == Some(sort);
        let room = (p.width as usize).saturating_sub(usize::from(sorted));
        let heads = p.column.heads();
        let head = heads
            .iter()
            .find(|h| h.chars().count() <= room)
            .unwrap_or(&heads[heads.len() - 1]);
        let mut text = truncate(head, room);
        if sorted {
            text.push(arrow);
        }
        put(buf, p, area.y, vec![Span::raw(text)]);
    }
}

/// Paints a cell's spans in its column, on the right for numbers; cut at the
/// column's edge (the widths are made so that numbers never are).
fn put(buf: &mut Buffer, p: &Placed, y: u16, spans: Vec<Span<'static>>) {
    if p.width == 0 {
        return;
    }
    let len: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let pad = if p.column.right_aligned() {
        (p.width as usize).saturating_sub(len) as u16
    } else {
        0
    };
    buf.set_line(p.x + pad, y, &Line::from(spans), p.width - pad);
}

fn cell(
    p: &Placed,
    e: &Entry,
    marked: bool,
    needle: &str,
    app: &App,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let w = p.width as usize;
    let hit = theme.filter_match();
    let text = match p.column {
        Column::Mark => (if marked { "*" } else { " " }).to_string(),
        Column::Source => truncate(e.source.kind.as_str(), w),
        Column::Host => e
            .host
            .as_deref()
            .map_or("-".to_string(), |h| host_label(h, w)),
        // Escaped before cutting, so the cell is as wide as what is drawn.
        Column::Type => return matched(truncate(&type_word(&e.kind, p.form), w), needle, hit),
        Column::Id => return matched(truncate(&escape(&e.id), w), needle, hit),
        Column::Size => size_cell(e),
        Column::LastUsed => format_age(e.last_used_at, app.now),
        Column::Created => format_age(e.created_at, app.now),
        Column::Uses => uses_text(e),
        Column::Flags => return badge_spans(e, p.form, w, theme),
        Column::What => return matched(truncate(&what_cell(e), w), needle, hit),
    };
    vec![Span::raw(text)]
}

/// The badges of `form` that fit in `width`, then `+N` for the rest (details list
/// them all). Nothing when there is no badge: a column of `-` says nothing.
fn badge_spans(e: &Entry, form: usize, width: usize, theme: &Theme) -> Vec<Span<'static>> {
    let all = badges(e);
    let (mut words, mut more) = badge_words(&all, form);
    while words.len() > 1 && words_width(&words, more) > width {
        words.pop();
        more += 1;
    }
    let mut spans = Vec::new();
    for (i, (b, word)) in words.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(*word, theme.badge(*b)));
    }
    if more > 0 {
        let sep = if words.is_empty() { "" } else { " " };
        spans.push(Span::raw(format!("{sep}+{more}")));
    }
    spans
}

/// `text` with every case-blind occurrence of the lowercased filter `needle` in the
/// `hit` style.
pub(crate) fn matched(text: String, needle: &str, hit: Style) -> Vec<Span<'static>> {
    if needle.is_empty() {
        return vec![Span::raw(text)];
    }
    // Lowercased char by char, remembering where each lowered byte came from, so a
    // match maps back to whole characters of the text shown.
    let mut low = String::with_capacity(text.len());
    let mut from = Vec::with_capacity(text.len() + 1);
    for (i, c) in text.char_indices() {
        for l in c.to_lowercase() {
            low.push(l);
            from.extend(std::iter::repeat_n(i, l.len_utf8()));
        }
    }
    from.push(text.len());
    let mut spans = Vec::new();
    let mut at = 0;
    for (start, m) in low.match_indices(needle) {
        let (s, end) = (from[start], from[start + m.len()]);
        if s < at || end <= s {
            continue;
        }
        if s > at {
            spans.push(Span::raw(text[at..s].to_string()));
        }
        spans.push(Span::styled(text[s..end].to_string(), hit));
        at = end;
    }
    if at < text.len() || spans.is_empty() {
        spans.push(Span::raw(text[at..].to_string()));
    }
    spans
}

fn empty_text(app: &App) -> String {
    if app.sources.iter().all(|s| s.state == SourceState::Loading) {
        return "loading…".to_string();
    }
    if app.list.is_empty() {
        "No cache entries.".to_string()
    } else {
        format!(
            "Nothing matches (filter \"{}\", showing {}).",
            escape(&app.filter),
            app.list.flag_filter().label()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Modifier};

    fn pieces(spans: &[Span]) -> Vec<(String, bool)> {
        spans
            .iter()
            .map(|s| (s.content.to_string(), s.style != Style::new()))
            .collect()
    }

    #[test]
    fn filter_matches_are_marked_whatever_their_case() {
        let hit = Style::new().fg(Color::Black).add_modifier(Modifier::BOLD);
        let got = matched("/Cache/cargo/CARGO-x".to_string(), "cargo", hit);
        assert_eq!(
            pieces(&got),
            [
                ("/Cache/".to_string(), false),
                ("cargo".to_string(), true),
                ("/".to_string(), false),
                ("CARGO".to_string(), true),
                ("-x".to_string(), false),
            ]
        );
        assert_eq!(
            pieces(&matched("abc".into(), "", hit)),
            [("abc".into(), false)]
        );
        assert_eq!(
            pieces(&matched("abc".into(), "z", hit)),
            [("abc".into(), false)]
        );
        // Characters whose lowercase is longer still map back whole.
        let got = matched("İx cargo".to_string(), "cargo", hit);
        assert_eq!(got.concat_text(), "İx cargo");
        assert!(pieces(&got).contains(&("cargo".to_string(), true)));
    }

    trait Concat {
        fn concat_text(&self) -> String;
    }
    impl Concat for Vec<Span<'_>> {
        fn concat_text(&self) -> String {
            self.iter().map(|s| s.content.as_ref()).collect()
        }
    }

    #[test]
    fn badges_give_way_to_plus_n() {
        let mut e = Entry::new(
            crate::model::SourceRef::new(crate::model::SourceKind::Docker, "d"),
            "x",
            "regular",
        );
        let theme = Theme::MONO;
        assert!(badge_spans(&e, 2, 20, &theme).is_empty(), "no `-` filler");
        e.flags.insert(crate::model::Flag::Stale);
        e.flags.insert(crate::model::Flag::Partial);
        e.in_use = true;
        e.flags.insert(crate::model::Flag::InUse);
        let text = |v: Vec<Span>| v.concat_text();
        assert_eq!(text(badge_spans(&e, 2, 40, &theme)), "PARTIAL IN USE STALE");
        assert_eq!(text(badge_spans(&e, 2, 17, &theme)), "PARTIAL IN USE +1");
        assert_eq!(text(badge_spans(&e, 2, 16, &theme)), "PARTIAL +2");
        assert_eq!(text(badge_spans(&e, 1, 40, &theme)), "PART INUSE STALE");
        assert_eq!(text(badge_spans(&e, 0, 40, &theme)), "PART +2");
    }
}
