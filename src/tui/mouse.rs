//! The mouse, when captured: the wheel scrolls what is in front, a click on a row
//! selects it, a click on a column heading sorts by that column (again: inverts).
//! Pure: the app's state and an event in, what to do out; the app carries it out.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use crate::tui::app::App;
use crate::tui::keys::{Action, Mode};
use crate::tui::listing::SortColumn;
use crate::tui::view::layout;

/// Rows one notch of the wheel moves, as most terminals' own scrollback does.
pub const WHEEL_ROWS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MouseAction {
    /// What the keys do: `Up` or `Down`, this many times.
    Scroll(Action, usize),
    /// Select this row of the table (counted from the first row of the list).
    Select(usize),
    Sort(SortColumn),
}

/// What a mouse event asks for, if anything. Dialogs and errors take no clicks: a
/// click must never reach a row behind a confirm dialog.
pub fn action(app: &App, ev: &MouseEvent) -> Option<MouseAction> {
    let mode = app.mode();
    match ev.kind {
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown if mode != Mode::Error => {
            let a = if ev.kind == MouseEventKind::ScrollUp {
                Action::Up
            } else {
                Action::Down
            };
            Some(MouseAction::Scroll(a, WHEEL_ROWS))
        }
        MouseEventKind::Down(MouseButton::Left) if mode == Mode::Table => {
            click_in_table(app, ev.column, ev.row)
        }
        _ => None,
    }
}

fn click_in_table(app: &App, x: u16, y: u16) -> Option<MouseAction> {
    let body = layout::main(app.area).body;
    if !body.contains(Position::new(x, y)) {
        return None;
    }
    if y == body.y {
        return heading_at(app, body, x).map(MouseAction::Sort);
    }
    let row = app.offset + usize::from(y - body.y - 1);
    (row < app.list.visible_len()).then_some(MouseAction::Select(row))
}

/// The sort column of the heading at screen column `x`: the one place that asks the
/// table where its columns are (the same geometry the table is drawn by).
fn heading_at(app: &App, body: Rect, x: u16) -> Option<SortColumn> {
    layout::columns(app, body)
        .into_iter()
        .find(|p| x >= p.x && x < p.x.saturating_add(p.width))
        .and_then(|p| p.column.sort())
}
