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
        draw_chart(frame, right, app.list.ages(), theme);
    }
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
    // The labels come from --stale-after (see `tui::chart`).
    let labels = ages.labels();
    let label_w = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0) + 1;
    let bar_w = (area.width as usize).saturating_sub(5 + label_w + 10 + 1);
    let lines: Vec<Line> = labels
        .iter()
        .zip(ages.bytes)
        .enumerate()
        .map(|(i, (label, bytes))| {
            let b = bar(bytes, max, bar_w);
            let pad = bar_w.saturating_sub(b.chars().count());
            Line::from(vec![
                Span::raw(format!("idle {label:<label_w$}")),
                Span::styled(b, theme.bar(i)),
                Span::raw(format!("{} {:>10}", " ".repeat(pad), format_size(bytes))),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
