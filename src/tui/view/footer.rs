//! The status line (filter, marks, work under way) and the key hints of the mode in
//! front, read from the key table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Theme, spinner};
use crate::report::table::truncate;
use crate::terminal_text::escape;
use crate::tui::app::{App, Busy};
use crate::tui::keys::{Action, Mode};
use crate::tui::listing::FlagFilter;
use crate::tui::text::Tone;
use crate::units::format_size;

pub fn draw_status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans: Vec<Span> = Vec::new();
    if app.editing_filter {
        spans.push(Span::styled("/", theme.key()));
        spans.push(Span::raw(format!("{}▏ ", escape(&app.filter))));
    } else if !app.filter.is_empty() {
        spans.push(Span::raw(format!("filter: {}  ", escape(&app.filter))));
    }
    if app.list.flag_filter() != FlagFilter::All {
        spans.push(Span::raw(format!(
            "show: {}  ",
            app.list.flag_filter().label()
        )));
    }
    let (marked, bytes) = app.list.marked();
    if marked > 0 {
        spans.push(Span::styled(
            format!("{marked} marked, {}  ", format_size(bytes)),
            theme.marked(),
        ));
    }
    spans.push(Span::raw(format!(
        "row {}/{}  sort: {}",
        if app.list.visible_len() == 0 {
            0
        } else {
            app.cursor + 1
        },
        app.list.visible_len(),
        app.sort_label()
    )));
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    // A remark about the last key wins over the work in progress, which shows again
    // at the next key.
    let right = match (&app.notice, &app.busy) {
        (Some(n), _) => Some((n.clone(), Tone::Warn)),
        (None, Some(Busy::Planning)) => Some((format!("{} planning…", spinner(app)), Tone::Warn)),
        (None, Some(Busy::Pruning { step })) => Some((
            format!(
                "{} pruning…{}",
                spinner(app),
                step.as_ref().map(|s| format!(" {s}")).unwrap_or_default()
            ),
            Tone::Warn,
        )),
        (None, Some(Busy::PlanningRepair)) => {
            Some((format!("{} planning the repair…", spinner(app)), Tone::Warn))
        }
        (None, Some(Busy::Repairing)) => Some((format!("{} repairing…", spinner(app)), Tone::Warn)),
        (None, None) => None,
    };
    if let Some((text, tone)) = right {
        // A step names an id from outside.
        let text = escape(&text);
        let room = (area.width as usize).saturating_sub(used + 2);
        let text = truncate(&text, room);
        let pad = room.saturating_sub(text.chars().count());
        spans.push(Span::raw(" ".repeat(pad + 2)));
        spans.push(Span::styled(text, theme.tone(tone)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

pub fn draw_keys(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    // The popups show their own keys; the footer keeps describing the screen beneath.
    let mode = match app.mode() {
        Mode::Filter => Mode::Filter,
        _ => match app.screen {
            crate::tui::app::Screen::Table => Mode::Table,
            crate::tui::app::Screen::Details { .. } => Mode::Details,
        },
    };
    frame.render_widget(
        Paragraph::new(key_hints(app, mode, area.width as usize, theme)),
        area,
    );
}

/// The mode's hints from the key table, most useful first, as many as fit; the way
/// out (`q quit`) is kept in view at any width, at the end.
pub fn key_hints<'a>(app: &App, mode: Mode, width: usize, theme: &Theme) -> Line<'a> {
    let hints = app.keys.footer(mode, false);
    let quit = app
        .keys
        .rows()
        .iter()
        .find(|b| b.action == Action::Quit && b.modes.contains(&mode))
        .and_then(|b| b.footer);
    let (pinned, rest): (Vec<_>, Vec<_>) =
        hints.into_iter().partition(|(_, what)| Some(*what) == quit);
    let len = |(keys, what): &(&str, &str)| keys.chars().count() + what.chars().count() + 3;
    let reserved: usize = pinned.iter().map(len).sum();
    let mut spans = Vec::new();
    let mut used = 0;
    for hint in &rest {
        // The last hint needs no trailing gap.
        if used + len(hint) + reserved > width + 2 {
            break;
        }
        used += len(hint);
        spans.push(Span::styled(hint.0.to_string(), theme.key()));
        spans.push(Span::raw(format!(" {}  ", hint.1)));
    }
    for (keys, what) in pinned {
        spans.push(Span::styled(keys.to_string(), theme.key()));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}
