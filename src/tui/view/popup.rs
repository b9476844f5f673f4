//! Popups: help, the confirm dialog, messages and errors. Each shows its keys, read
//! from the key table.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::{Theme, layout};
use crate::report::table::truncate;
use crate::terminal_text::escape;
use crate::tui::app::{App, Overlay};
use crate::tui::keys::Mode;
use crate::tui::text::{TextLine, Tone, wrap};

/// The lines of `lines` from `scroll` that fit `area`, wrapped by hand so a long
/// command or path is shown whole instead of cut.
pub fn styled_window<'a>(
    lines: &'a [TextLine],
    scroll: usize,
    area: Rect,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let width = area.width.max(1) as usize;
    let mut out = Vec::new();
    for l in lines.iter().skip(scroll) {
        if out.len() >= area.height as usize {
            break;
        }
        let style = theme.tone(l.tone);
        if l.text.chars().count() <= width {
            out.push(Line::styled(l.text.as_str(), style));
            continue;
        }
        for row in wrap(&l.text, width, l.hang) {
            out.push(Line::styled(row, style));
        }
    }
    out.truncate(area.height as usize);
    out
}

/// "y/Enter yes, do it  n/Esc no, cancel": the hints of a mode, from the key table.
pub fn key_hints<'a>(app: &App, mode: Mode, width: usize, theme: &Theme) -> Line<'a> {
    let mut spans = Vec::new();
    let mut used = 0;
    for (keys, what) in app
        .keys
        .footer(mode, mode != Mode::Table && mode != Mode::Details)
    {
        let len = keys.chars().count() + what.chars().count() + 3;
        // The last hint needs no trailing gap.
        if used + len - 2 > width && used > 0 {
            break;
        }
        spans.push(Span::styled(keys.to_string(), theme.key()));
        spans.push(Span::raw(format!(" {what}  ")));
        used += len;
    }
    Line::from(spans)
}

struct Spec<'a> {
    title: &'a str,
    lines: &'a [TextLine],
    scroll: usize,
    mode: Mode,
    /// Red border: the dialog is about deleting, or an error.
    danger: bool,
}

fn frame_popup(frame: &mut Frame, area: Rect, app: &App, spec: Spec<'_>, theme: &Theme) {
    let Spec {
        title,
        lines,
        scroll,
        mode,
        danger,
    } = spec;
    let p = layout::popup(area, lines);
    frame.render_widget(Clear, p.outer);
    let mut title = format!(
        " {} ",
        truncate(&escape(title), (p.outer.width as usize).saturating_sub(4))
    );
    let more_above = scroll > 0;
    let shown: usize = styled_window(lines, scroll, p.body, theme).len();
    let more_below = lines
        .iter()
        .skip(scroll)
        .scan(0usize, |rows, l| {
            *rows += crate::tui::text::wrapped_height(l, p.body.width as usize);
            Some(*rows)
        })
        .any(|rows| rows > shown);
    if more_above || more_below {
        title.push_str(if more_below {
            "(more: j/k) "
        } else {
            "(top: g) "
        });
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if danger {
            theme.danger_border()
        } else {
            theme.border()
        })
        .title(Span::styled(
            title,
            theme.tone(Tone::Heading).patch(if danger {
                theme.danger_border()
            } else {
                theme.border()
            }),
        ));
    frame.render_widget(block, p.outer);
    frame.render_widget(
        Paragraph::new(styled_window(lines, scroll, p.body, theme)),
        p.body,
    );
    frame.render_widget(
        Paragraph::new(key_hints(app, mode, p.keys.width as usize, theme)),
        p.keys,
    );
}

pub fn draw_overlay(frame: &mut Frame, area: Rect, app: &App, overlay: &Overlay, theme: &Theme) {
    let spec = match overlay {
        Overlay::Help { lines, scroll } => Spec {
            title: "Keys",
            lines,
            scroll: *scroll,
            mode: Mode::Help,
            danger: false,
        },
        Overlay::Confirm {
            title,
            lines,
            scroll,
            ..
        } => Spec {
            title,
            lines,
            scroll: *scroll,
            mode: Mode::Confirm,
            danger: true,
        },
        Overlay::Message {
            title,
            lines,
            scroll,
        } => Spec {
            title,
            lines,
            scroll: *scroll,
            mode: Mode::Message,
            danger: false,
        },
    };
    frame_popup(frame, area, app, spec, theme);
}

pub fn draw_error(frame: &mut Frame, area: Rect, app: &App, err: &str, theme: &Theme) {
    let title = if app.errors.len() > 1 {
        format!("Error (1 of {})", app.errors.len())
    } else {
        "Error".to_string()
    };
    let lines = vec![TextLine::new(Tone::Bad, err)];
    let spec = Spec {
        title: &title,
        lines: &lines,
        scroll: 0,
        mode: Mode::Error,
        danger: true,
    };
    frame_popup(frame, area, app, spec, theme);
}
