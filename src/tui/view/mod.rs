//! Pure drawing: `draw(frame, app, theme)` reads the state and paints it. No I/O, no
//! state changes, and only the visible rows of the table are built.

pub mod columns;
pub(crate) mod details;
pub(crate) mod footer;
pub(crate) mod header;
pub mod layout;
pub(crate) mod popup;
pub(crate) mod table;
pub(crate) mod theme;

use ratatui::Frame;

use crate::tui::app::{App, Screen};
pub use theme::Theme;

pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

pub fn spinner(app: &App) -> &'static str {
    SPINNER[app.spinner % SPINNER.len()]
}

pub fn draw(frame: &mut Frame, app: &App, theme: &Theme) {
    let area = frame.area();
    let main = layout::main(area);
    header::draw_title(frame, main.title, app, theme);
    header::draw_header(frame, main.header, app, theme);
    match &app.screen {
        Screen::Table => table::draw(frame, main.body, app, theme),
        Screen::Details { scroll, .. } => details::draw(frame, main.body, app, *scroll, theme),
    }
    footer::draw_status(frame, main.status, app, theme);
    footer::draw_keys(frame, main.keys, app, theme);
    for overlay in &app.overlays {
        popup::draw_overlay(frame, area, app, overlay, theme);
    }
    if let Some(err) = app.errors.front() {
        popup::draw_error(frame, area, app, err, theme);
    }
}
