//! The main table. Rows are built only for the window on screen, whatever the number
//! of entries.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::Theme;
use crate::model::Entry;
use crate::report::table::{size_cell, truncate, what_cell};
use crate::terminal_text::escape;
use crate::tui::app::{App, SourceState};
use crate::tui::listing::SortColumn;
use crate::units::format_age;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Mark,
    Source,
    /// Only when more than one Docker host is read.
    Host,
    Type,
    Id,
    Size,
    LastUsed,
    Created,
    Uses,
    Flags,
    What,
}

impl Col {
    fn head(self) -> &'static str {
        match self {
            Col::Mark => "",
            Col::Source => "SOURCE",
            Col::Host => "HOST",
            Col::Type => "TYPE",
            Col::Id => "ID",
            Col::Size => "SIZE",
            Col::LastUsed => "LAST USED",
            Col::Created => "CREATED",
            Col::Uses => "USES",
            Col::Flags => "FLAGS",
            Col::What => "MOUNT / DESCRIPTION",
        }
    }

    fn sort(self) -> Option<SortColumn> {
        Some(match self {
            Col::Source => SortColumn::Source,
            Col::Type => SortColumn::Type,
            Col::Size => SortColumn::Size,
            Col::LastUsed => SortColumn::LastUsed,
            Col::Created => SortColumn::Created,
            Col::Uses => SortColumn::Uses,
            Col::What => SortColumn::What,
            _ => return None,
        })
    }
}

/// Columns and widths for a terminal width: everything on wide screens; on 80
/// columns the creation time gives way to the mount and description, and the source
/// column shows only when there is more than one kind of source. `size_w`: the
/// widest size on screen.
fn columns(width: u16, one_kind: bool, many_hosts: bool, size_w: u16) -> Vec<(Col, u16)> {
    let mut cols = if width >= 140 {
        vec![
            (Col::Mark, 1),
            (Col::Source, 8),
            (Col::Type, 19),
            (Col::Id, 13),
            (Col::Size, 10),
            (Col::LastUsed, 10),
            (Col::Created, 10),
            (Col::Uses, 5),
            (Col::Flags, 22),
            (Col::What, 0),
        ]
    } else if width >= 100 {
        vec![
            (Col::Mark, 1),
            (Col::Source, 7),
            (Col::Type, 15),
            (Col::Size, 9),
            (Col::LastUsed, 9),
            (Col::Created, 9),
            (Col::Uses, 4),
            (Col::Flags, 16),
            (Col::What, 0),
        ]
    } else {
        vec![
            (Col::Mark, 1),
            (Col::Source, 6),
            (Col::Type, 10),
            (Col::Size, 9),
            (Col::LastUsed, 9),
            (Col::Uses, 4),
            (Col::Flags, 15),
            (Col::What, 0),
        ]
    };
    if width < 100 && one_kind {
        cols.retain(|(c, _)| *c != Col::Source);
    }
    if many_hosts {
        with_host_column(&mut cols, width);
    }
    // SIZE is never cut (a cut size reads as a smaller one: `251.86 MB` as
    // `51.86 MB`): it is as wide as the widest size it shows, and on a narrow screen
    // the other columns give way instead, least needed first, until the rest fit
    // beside a few columns of mount and description.
    for (c, w) in &mut cols {
        if *c == Col::Size {
            *w = (*w).max(size_w);
        }
    }
    for drop in GIVE_WAY {
        if fixed_width(&cols) + MIN_WHAT <= width {
            break;
        }
        cols.retain(|(c, _)| *c != drop);
    }
    cols
}

/// HOST, after SOURCE (or the mark), as wide as the screen allows.
fn with_host_column(cols: &mut Vec<(Col, u16)>, width: u16) {
    let w = match width {
        140.. => 24,
        100.. => 18,
        _ => 14,
    };
    let at = cols
        .iter()
        .position(|(c, _)| *c == Col::Source)
        .map_or(1, |i| i + 1)
        .min(cols.len());
    cols.insert(at, (Col::Host, w));
}

/// A host in `width` characters: without `unix://` or `tcp://`, and when still too
/// long its end, which tells sockets of one directory tree apart (`…-b/docker.sock`).
pub(crate) fn host_label(host: &str, width: usize) -> String {
    let short = ["unix://", "tcp://"]
        .iter()
        .find_map(|p| host.strip_prefix(p))
        .unwrap_or(host);
    let short = escape(short);
    let n = short.chars().count();
    if n <= width {
        return short.into_owned();
    }
    if width == 0 {
        return String::new();
    }
    let tail: String = short.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

/// The columns that give way on a narrow screen, first to last. SIZE, the mark and
/// the mount or description stay.
const GIVE_WAY: [Col; 8] = [
    Col::Id,
    Col::Source,
    Col::Created,
    Col::Uses,
    Col::Host,
    Col::Type,
    Col::Flags,
    Col::LastUsed,
];

/// The fewest columns the mount or description keeps while others can give way.
const MIN_WHAT: u16 = 8;

/// Space between columns.
const SPACING: u16 = 1;

/// The width every column but the mount or description takes, spacing included.
fn fixed_width(cols: &[(Col, u16)]) -> u16 {
    cols.iter().map(|(_, w)| *w + SPACING).sum()
}

/// Badges that fit in `width`, then "+N" for the rest (details list them all).
fn badges<'a>(e: &Entry, width: usize, theme: &Theme) -> Line<'a> {
    let flags: Vec<_> = e.flags.iter().copied().collect();
    if flags.is_empty() {
        return Line::from("-");
    }
    let mut spans = Vec::new();
    let mut used = 0;
    for (i, f) in flags.iter().enumerate() {
        let sep = usize::from(i > 0);
        let left = flags.len() - i - 1;
        let more = if left > 0 {
            format!("+{left}").len()
        } else {
            0
        };
        if used + sep + f.badge().len() + more > width && i > 0 {
            spans.push(Span::raw(format!("+{}", flags.len() - i)));
            break;
        }
        if sep == 1 {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(f.badge(), theme.badge(*f)));
        used += sep + f.badge().len();
    }
    Line::from(spans)
}

fn cell<'a>(
    col: Col,
    e: &'a Entry,
    marked: bool,
    width: usize,
    app: &App,
    theme: &Theme,
) -> Cell<'a> {
    match col {
        Col::Mark => Cell::from(if marked { "*" } else { " " }),
        Col::Source => Cell::from(e.source.kind.as_str()),
        Col::Host => Cell::from(
            e.host
                .as_deref()
                .map_or("-".to_string(), |h| host_label(h, width)),
        ),
        // Escaped before cutting, so the cell is as wide as what is drawn.
        Col::Type => Cell::from(truncate(&escape(&e.kind), width)),
        Col::Id => Cell::from(truncate(&escape(&e.id), width)),
        Col::Size => Cell::from(Line::from(size_cell(e)).alignment(Alignment::Right)),
        Col::LastUsed => Cell::from(format_age(e.last_used_at, app.now)),
        Col::Created => Cell::from(format_age(e.created_at, app.now)),
        Col::Uses => Cell::from(
            Line::from(e.usage_count.map_or("-".to_string(), |n| n.to_string()))
                .alignment(Alignment::Right),
        ),
        Col::Flags => Cell::from(badges(e, width, theme)),
        Col::What => Cell::from(truncate(&what_cell(e), width)),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let one_kind = app.sources.iter().all(|s| {
        app.sources
            .first()
            .is_some_and(|f| f.source.kind == s.source.kind)
    });
    let rows_fit = area.height.saturating_sub(1) as usize;
    let size_w = app
        .list
        .rows(app.offset, rows_fit)
        .map(|(e, _)| size_cell(e).chars().count())
        .max()
        .unwrap_or(0);
    let cols = columns(
        area.width,
        one_kind,
        app.hosts().len() > 1,
        u16::try_from(size_w).unwrap_or(u16::MAX),
    );
    let spacing = SPACING;
    let what_w = area.width.saturating_sub(fixed_width(&cols));
    let widths: Vec<u16> = cols
        .iter()
        .map(|(c, w)| if *c == Col::What { what_w } else { *w })
        .collect();

    let (sort, _) = app.list.sort();
    let sort_label = app.sort_label();
    let heads: Vec<Cell> = cols
        .iter()
        .map(|(c, _)| {
            if c.sort() == Some(sort) {
                // The arrow of the sort label, beside the column it sorts.
                let arrow = sort_label.chars().last().unwrap_or(' ');
                Cell::from(format!("{}{arrow}", c.head()))
            } else {
                Cell::from(c.head())
            }
        })
        .collect();
    let header = Row::new(heads).style(theme.column_heads());

    if app.list.visible_len() == 0 {
        frame.render_widget(
            Table::new(
                Vec::<Row>::new(),
                widths.iter().map(|w| Constraint::Length(*w)),
            )
            .header(header)
            .column_spacing(spacing),
            area,
        );
        let text = empty_text(app);
        let msg = Rect {
            y: area.y + 2.min(area.height.saturating_sub(1)),
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .style(theme.tone(crate::tui::text::Tone::Dim)),
            msg,
        );
        return;
    }

    let rows: Vec<Row> = app
        .list
        .rows(app.offset, rows_fit)
        .enumerate()
        .map(|(i, (e, marked))| {
            let cells = cols
                .iter()
                .zip(&widths)
                .map(|((c, _), w)| cell(*c, e, marked, *w as usize, app, theme));
            let mut row = Row::new(cells);
            if app.offset + i == app.cursor {
                row = row.style(theme.selected());
            } else if marked {
                row = row.style(theme.marked());
            }
            row
        })
        .collect();
    let table = Table::new(rows, widths.iter().map(|w| Constraint::Length(*w)))
        .header(header)
        .column_spacing(spacing);
    frame.render_widget(table, area);
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

    fn names(cols: &[(Col, u16)]) -> Vec<Col> {
        cols.iter().map(|(c, _)| *c).collect()
    }

    #[test]
    fn many_hosts_add_a_host_column_after_the_source() {
        use Col::*;
        assert_eq!(
            names(&columns(140, false, true, 9))[..4],
            [Mark, Source, Host, Type]
        );
        assert_eq!(names(&columns(80, true, true, 9))[..3], [Mark, Host, Type]);
        assert!(!names(&columns(200, false, false, 9)).contains(&Host));
        // On a narrow screen it gives way after the id, source, created and uses.
        assert_eq!(
            names(&columns(40, false, true, 9)),
            [Mark, Size, LastUsed, What]
        );
    }

    #[test]
    fn a_host_label_keeps_the_end_that_tells_hosts_apart() {
        assert_eq!(host_label("tcp://10.0.0.2:2375", 14), "10.0.0.2:2375");
        assert_eq!(
            host_label("unix:///tmp/cachetop-testd-bk/docker.sock", 14),
            "…k/docker.sock"
        );
        assert_eq!(host_label("unix:///a\x1b.sock", 20), "/a\\x1b.sock");
        assert_eq!(host_label("unix:///abc", 0), "");
    }

    #[test]
    fn narrow_screens_drop_columns_in_order_and_keep_size_whole() {
        use Col::*;
        let at = |w| columns(w, true, false, 9);
        assert_eq!(
            names(&at(80)),
            [Mark, Type, Size, LastUsed, Uses, Flags, What]
        );
        assert_eq!(names(&at(60)), [Mark, Type, Size, LastUsed, Flags, What]);
        assert_eq!(names(&at(40)), [Mark, Size, LastUsed, What]);
        assert_eq!(names(&at(12)), [Mark, Size, What]);
        for w in [12, 40, 60, 80, 120, 200] {
            let cols = at(w);
            if w >= 20 {
                assert!(fixed_width(&cols) + MIN_WHAT <= w, "{w}: {cols:?}");
            }
            // The widest size (`999.99 MB*`) widens the column, whatever the width.
            let wide = columns(w, false, false, 10);
            assert!(wide.iter().any(|(c, sw)| *c == Size && *sw == 10), "{w}");
        }
    }
}
