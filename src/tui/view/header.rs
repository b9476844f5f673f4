//! The title line (totals) and the header: each source's state and a chart of size
//! by age.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Theme, layout, spinner};
use crate::report::table::truncate;
use crate::terminal_text::escape;
use crate::tui::app::{App, SourceState};
use crate::tui::listing::AgeBuckets;
use crate::units::{format_duration, format_size, plural};

pub fn draw_title(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let t = app.list.totals();
    let mut left = format!(
        " cachetop │ {} · {} · stale {} ({}, unused {}) · partial {}",
        plural(t.entries, "entry", "entries"),
        format_size(t.size_bytes),
        t.stale_entries,
        format_size(t.stale_bytes),
        format_duration(app.policy.stale_after),
        t.partial_entries,
    );
    let mut right = String::new();
    if let Some((done, total)) = app.scan {
        right.push_str(&format!("{} scanning {done}/{total} ", spinner(app)));
    }
    if app.caps.read_only {
        right.push_str("READ-ONLY ");
    }
    let width = area.width as usize;
    let room = width.saturating_sub(right.chars().count());
    left = truncate(&left, room);
    let pad = room.saturating_sub(left.chars().count());
    let line = format!("{left}{}{right}", " ".repeat(pad));
    frame.render_widget(Paragraph::new(line).style(theme.title()), area);
}

pub fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let (left, right) = layout::header(area);
    let rows = left.height as usize;
    let width = left.width as usize;
    if app.hosts().len() > 1 {
        frame.render_widget(Paragraph::new(host_lines(app, rows, width, theme)), left);
        if right.width > 0 {
            draw_chart(frame, right, &app.list.ages(), theme);
        }
        return;
    }
    let mut lines: Vec<Line> = Vec::new();
    let many = app.sources.len() > rows;
    let shown = if many {
        rows.saturating_sub(1)
    } else {
        app.sources.len()
    };
    for s in app.sources.iter().take(shown) {
        let name = format!(" {} {} ", s.source.kind, escape(&s.source.name));
        let (state, tone) = match (&s.state, s.loading) {
            (SourceState::Loading, _) => (
                format!("{} loading…", spinner(app)),
                crate::tui::text::Tone::Dim,
            ),
            (SourceState::Ready { summary }, loading) => (
                format!(
                    "{}{} entries · {summary}",
                    if loading {
                        format!("{} ", spinner(app))
                    } else {
                        "ok: ".to_string()
                    },
                    s.entries
                ),
                crate::tui::text::Tone::Good,
            ),
            (SourceState::Failed { error }, loading) => (
                format!(
                    "{}FAILED: {error}",
                    if loading {
                        format!("{} ", spinner(app))
                    } else {
                        String::new()
                    }
                ),
                crate::tui::text::Tone::Bad,
            ),
        };
        // Summaries and errors come from outside (an error body, a branch name).
        let state = escape(&state).into_owned();
        if app.sources.len() * 2 <= rows {
            // Room for the whole address on one line and the state below it.
            lines.push(Line::styled(truncate(&name, width), theme.key()));
            lines.push(Line::styled(
                truncate(&format!("   {state}"), width),
                theme.tone(tone),
            ));
            continue;
        }
        let name = truncate(&name, width / 2);
        let state = truncate(&state, width.saturating_sub(name.chars().count()));
        lines.push(Line::from(vec![
            Span::styled(name, theme.key()),
            Span::styled(state, theme.tone(tone)),
        ]));
    }
    if many {
        lines.push(Line::from(format!(
            " +{} more sources",
            app.sources.len() - shown
        )));
    }
    frame.render_widget(Paragraph::new(lines), left);
    if right.width > 0 {
        draw_chart(frame, right, &app.list.ages(), theme);
    }
}

/// The header when many Docker hosts are read: one line per host (its sources
/// together: entries, and the first failure), then one per source of no host.
fn host_lines<'a>(app: &App, rows: usize, width: usize, theme: &Theme) -> Vec<Line<'a>> {
    use crate::tui::text::Tone;
    let mut items: Vec<(String, String, Tone)> = Vec::new();
    for host in app.hosts() {
        let mine: Vec<_> = app
            .sources
            .iter()
            .filter(|s| s.host.as_deref() == Some(host))
            .collect();
        let entries: usize = mine.iter().map(|s| s.entries).sum();
        let failed = mine.iter().find_map(|s| match &s.state {
            SourceState::Failed { error } => Some(format!("{} {error}", s.source.kind)),
            _ => None,
        });
        let busy = if mine.iter().any(|s| s.loading) {
            format!("{} ", spinner(app))
        } else {
            String::new()
        };
        let (state, tone) = match failed {
            Some(why) => (
                format!("{busy}{entries} entries · FAILED: {why}"),
                Tone::Bad,
            ),
            None => (
                format!(
                    "{busy}{entries} entries · {}",
                    plural(mine.len(), "source", "sources")
                ),
                Tone::Good,
            ),
        };
        let label = super::table::host_label(host, (width / 2).saturating_sub(2));
        items.push((format!(" {label} "), state, tone));
    }
    for s in app.sources.iter().filter(|s| s.host.is_none()) {
        let (state, tone) = match &s.state {
            SourceState::Loading => (format!("{} loading…", spinner(app)), Tone::Dim),
            SourceState::Ready { .. } => (format!("{} entries", s.entries), Tone::Good),
            SourceState::Failed { error } => (format!("FAILED: {error}"), Tone::Bad),
        };
        let name = format!(" {} {} ", s.source.kind, escape(&s.source.name));
        items.push((name, state, tone));
    }
    let shown = if items.len() > rows {
        rows.saturating_sub(1)
    } else {
        items.len()
    };
    let mut lines: Vec<Line> = Vec::new();
    for (name, state, tone) in items.iter().take(shown) {
        // Errors come from outside.
        let state = escape(state).into_owned();
        let name = truncate(name, width / 2);
        let state = truncate(&state, width.saturating_sub(name.chars().count()));
        lines.push(Line::from(vec![
            Span::styled(name, theme.key()),
            Span::styled(state, theme.tone(*tone)),
        ]));
    }
    if items.len() > shown {
        lines.push(Line::from(format!(" +{} more", items.len() - shown)));
    }
    lines
}

const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/// A bar of `value/max` of `width` cells, in eighths.
pub fn bar(value: u64, max: u64, width: usize) -> String {
    if max == 0 || width == 0 {
        return String::new();
    }
    let eighths = ((value as u128 * width as u128 * 8) / max as u128) as usize;
    let mut s = "█".repeat(eighths / 8);
    s.push_str(EIGHTHS[eighths % 8]);
    if value > 0 && s.is_empty() {
        s.push('▏'); // something is there, however small
    }
    s
}

fn draw_chart(frame: &mut Frame, area: Rect, ages: &AgeBuckets, theme: &Theme) {
    let max = ages.bytes.iter().copied().max().unwrap_or(0);
    let bar_w = (area.width as usize).saturating_sub(11 + 10 + 1);
    let lines: Vec<Line> = AgeBuckets::LABELS
        .iter()
        .zip(ages.bytes)
        .enumerate()
        .map(|(i, (label, bytes))| {
            let b = bar(bytes, max, bar_w);
            let pad = bar_w.saturating_sub(b.chars().count());
            Line::from(vec![
                Span::raw(format!("idle {label:<6}")),
                Span::styled(b, theme.bar(i)),
                Span::raw(format!("{} {:>10}", " ".repeat(pad), format_size(bytes))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
