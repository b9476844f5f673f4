//! The details pane: everything known about one entry, scrolling.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Theme, popup::styled_window};
use crate::terminal_text::escape;
use crate::tui::app::App;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, scroll: usize, theme: &Theme) {
    let title = match app.details_entry() {
        Some(e) => format!(" Details: {} ", escape(e.label())),
        None => " Details ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = app.details_lines();
    frame.render_widget(
        Paragraph::new(styled_window(&lines, scroll, inner, theme)),
        inner,
    );
}
