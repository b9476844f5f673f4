//! Where things go on screen. Shared by drawing and by the app (which needs to know
//! how many rows a page is and how far a popup can scroll).

use ratatui::layout::{Constraint, Layout, Rect};

use super::columns::{Column, Needs, Placed, host_forms, place};
use crate::tui::app::App;
use crate::tui::text::{TextLine, wrapped_height};

pub struct Main {
    /// Totals and the name.
    pub title: Rect,
    /// Sources on the left, the age chart on the right.
    pub header: Rect,
    /// The table or the details pane.
    pub body: Rect,
    pub status: Rect,
    pub keys: Rect,
}

pub fn main(area: Rect) -> Main {
    // Small terminals keep the table and drop the header first.
    let header = if area.height >= 14 { 4 } else { 0 };
    let [title, header, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(header),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Main {
        title,
        header,
        body,
        status,
        keys,
    }
}

/// The header split: sources left, chart right.
pub fn header(area: Rect) -> (Rect, Rect) {
    let chart = if area.width >= 70 { 38 } else { 0 };
    let [left, right] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(chart)]).areas(area);
    (left, right)
}

/// Table rows that fit (below the column headings).
pub fn table_rows(area: Rect) -> usize {
    main(area).body.height.saturating_sub(1) as usize
}

/// The table's columns as they are on screen now, at their screen positions: what
/// drawing paints, and what a click on a heading or a cell hits. `body` is the
/// table's area (`main(area).body`). The choice and widths follow the priority of
/// [`super::columns`]: SIZE, mount, last used, flags, type, uses, created, source,
/// id; they depend on the rows in view (SIZE is as wide as the widest size shown).
pub fn columns(app: &App, body: Rect) -> Vec<Placed> {
    let rows = body.height.saturating_sub(1) as usize;
    let first = app.sources.first().map(|s| s.source.kind);
    let one_kind = app.sources.iter().all(|s| Some(s.source.kind) == first);
    // One kind of source is already named in the header: its column is worth a place
    // only on a wide screen.
    let source = !one_kind || body.width >= 140;
    let mut needs = Needs::measure(
        app.list.rows(app.offset, rows).map(|(e, _)| e),
        app.now,
        app.list.sort().0,
        source,
    );
    if app.hosts().len() > 1 {
        needs.set(
            Column::Host,
            &host_forms(app.list.rows(app.offset, rows).map(|(e, _)| e)),
        );
    }
    let mut cols = place(body.width, &needs);
    for c in &mut cols {
        c.x = c.x.saturating_add(body.x);
    }
    cols
}

/// Inside the details pane's border.
pub fn details_body(area: Rect) -> Rect {
    inner(main(area).body, 1, 1)
}

fn inner(r: Rect, dx: u16, dy: u16) -> Rect {
    Rect {
        x: r.x.saturating_add(dx),
        y: r.y.saturating_add(dy),
        width: r.width.saturating_sub(2 * dx),
        height: r.height.saturating_sub(2 * dy),
    }
}

pub struct Popup {
    pub outer: Rect,
    /// The scrolling text.
    pub body: Rect,
    /// The key hints on the last line inside the border.
    pub keys: Rect,
}

/// A centred popup just big enough for `lines`, never bigger than the screen.
pub fn popup(area: Rect, lines: &[TextLine]) -> Popup {
    let width = area.width.saturating_sub(4).min(120);
    let body_w = width.saturating_sub(4);
    // Counting stops once the screen is full: a plan can have 100,000 lines.
    let mut content = 0usize;
    for l in lines {
        content += wrapped_height(l, body_w as usize);
        if content > area.height as usize {
            break;
        }
    }
    // Border, text, a blank line, the keys, border.
    let want = content.saturating_add(4).min(u16::MAX as usize) as u16;
    let height = want
        .min(area.height.saturating_sub(2))
        .max(5.min(area.height));
    let outer = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let body = Rect {
        x: outer.x.saturating_add(2),
        y: outer.y.saturating_add(1),
        width: body_w,
        height: height.saturating_sub(4),
    };
    let keys = Rect {
        x: body.x,
        y: outer.bottom().saturating_sub(2).max(outer.y),
        width: body_w,
        height: if height >= 3 { 1 } else { 0 },
    };
    Popup { outer, body, keys }
}
