//! The title line (totals) and the header: each source's state, when the data was
//! read, the disks that hold it and the budget, and a chart of size by age.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use chrono::{DateTime, Utc};

use super::{Theme, layout, spinner};
use crate::filesystems::Filesystem;
use crate::prune::{Budget, Floor};
use crate::report::table::truncate;
use crate::terminal_text::escape;
use crate::tui::app::{App, SourceState};
use crate::tui::listing::AgeBuckets;
use crate::tui::text::Tone;
use crate::units::{format_duration, format_size, format_span, plural};

pub fn draw_title(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut right = String::new();
    if let Some((done, total)) = app.scan {
        right.push_str(&format!("{} scanning {done}/{total} ", spinner(app)));
    }
    if app.caps.read_only {
        right.push_str("READ-ONLY ");
    }
    let width = area.width as usize;
    let room = width.saturating_sub(right.chars().count());
    const NAME: &str = " cachetop │ ";
    let left = format!(
        "{NAME}{}",
        counts(app, room.saturating_sub(NAME.chars().count()))
    );
    let left = truncate(&left, room);
    let pad = room.saturating_sub(left.chars().count());
    let line = format!("{left}{}{right}", " ".repeat(pad));
    frame.render_widget(Paragraph::new(line).style(theme.title()), area);
}

/// The totals of the title, as many as fit in `room` (a count is left out, never
/// cut). "stale" counts what `E` would delete, from its own plan: stale entries no
/// plan deletes (in use, shared, kept by their source or by a child that stays) are
/// said apart, never promised.
pub fn counts(app: &App, room: usize) -> String {
    let t = app.list.totals();
    let ev = app.list.evictable();
    let entries = plural(t.entries, "entry", "entries");
    let size = format_size(t.size_bytes);
    if !app.list.evictable_known() && !app.list.is_empty() {
        // A big table's first count is made off the loop; until it answers, no
        // number is promised.
        let candidates = [
            format!(
                "{entries} · {size} · stale counting… · partial {}",
                t.partial_entries
            ),
            format!("{size} · stale counting…"),
        ];
        return candidates
            .into_iter()
            .find(|c| c.chars().count() <= room)
            .unwrap_or(size);
    }
    let stale = format!("stale {}", ev.entries);
    let bytes = format_size(ev.bytes);
    let kept = if ev.kept > 0 {
        format!("; {} kept", ev.kept)
    } else {
        String::new()
    };
    let unused = format_duration(app.policy.stale_after);
    let partial = format!("partial {}", t.partial_entries);
    let candidates = [
        format!("{entries} · {size} · {stale} ({bytes}, unused {unused}{kept}) · {partial}"),
        format!("{entries} · {size} · {stale} ({bytes}{kept}) · {partial}"),
        format!("{entries} · {size} · {stale} ({bytes}) · {partial}"),
        format!("{size} · {stale} ({bytes}) · {partial}"),
        format!("{size} · {stale} ({bytes})"),
        format!("{size} · {stale}"),
    ];
    let fits = |c: &&String| c.chars().count() <= room;
    match candidates.iter().find(fits) {
        Some(c) => c.clone(),
        None => size,
    }
}

pub fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if area.height == 0 {
        return;
    }
    let (left, right) = layout::header(area);
    let width = left.width as usize;
    let live = live_lines(app, width);
    let live_rows = live_rows(left.height as usize, app.sources.len(), live.len());
    let rows = left.height as usize - live_rows;
    let mut lines = if app.hosts().len() > 1 {
        host_lines(app, rows, width, theme)
    } else {
        source_lines(app, rows, width, theme)
    };
    lines.truncate(rows);
    lines.extend(
        live.into_iter()
            .take(live_rows)
            .map(|(text, tone)| Line::styled(text, theme.tone(tone))),
    );
    frame.render_widget(Paragraph::new(lines), left);
    if right.width > 0 {
        draw_chart(frame, right, app.list.ages(), theme);
    }
}

/// One line (or two, with room) per source: its address and its state.
fn source_lines(app: &App, rows: usize, width: usize, theme: &Theme) -> Vec<Line<'static>> {
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
    lines
}

/// Rows of the header's left side for the live lines: what they need, leaving the
/// sources at least half (each source needs one).
fn live_rows(rows: usize, sources: usize, live: usize) -> usize {
    let for_sources = sources.min(rows.div_ceil(2)).max(1).min(rows);
    live.min(rows - for_sources)
}

/// The header's live lines: when the data was read, each filesystem that holds a
/// listed cache, and the budget. Each is the longest form that fits `width`, so a
/// number is never cut; none is shown before the first reading.
pub(crate) fn live_lines(app: &App, width: usize) -> Vec<(String, Tone)> {
    let live = &app.live;
    let Some(read_at) = live.read_at.or(live.failed.as_ref().map(|f| f.0)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let failed = live.failed.as_ref().map(|f| f.1.as_str());
    let read = read_text(
        live.read_at,
        read_at,
        app.now,
        live.interval,
        failed,
        &chrono::Local,
    );
    let tone = if failed.is_some() {
        Tone::Warn
    } else {
        Tone::Dim
    };
    out.extend(first_fitting(&read, width).map(|t| (t, tone)));
    if let Some(disks) = &live.disks {
        for fs in &disks.filesystems {
            let floor = live.budget.keep_free;
            if let Some(text) = disk_text(fs, floor, width) {
                out.push((text, disk_tone(fs, floor)));
            }
        }
        if disks.filesystems.is_empty()
            && let Some(why) = disks.errors.first()
        {
            out.extend(fitting(&format!(" disks: {}", escape(why)), width).map(|t| (t, Tone::Dim)));
        }
    }
    if !live.budget.is_empty() {
        let used = app.list.totals().size_bytes;
        if let Some(text) = budget_text(live.budget, used, width) {
            let over = live.budget.max_used.is_some_and(|m| used > m);
            out.push((text, if over { Tone::Warn } else { Tone::Plain }));
        }
    }
    out
}

/// The whole text when it fits, else nothing: never a cut number.
fn fitting(text: &str, width: usize) -> Option<String> {
    (text.chars().count() <= width).then(|| text.to_string())
}

/// The first of `forms` that fits `width`.
fn first_fitting(forms: &[String], width: usize) -> Option<String> {
    forms.iter().find_map(|f| fitting(f, width))
}

/// " read 14:02:31 · every 5s"; with the age when it is older than the refreshes
/// promise, and a failed refresh said, with its reason when it fits: the forms, longest
/// first.
pub(crate) fn read_text<Tz: chrono::TimeZone>(
    read_at: Option<DateTime<Utc>>,
    tried_at: DateTime<Utc>,
    now: DateTime<Utc>,
    interval: Option<std::time::Duration>,
    failed: Option<&str>,
    tz: &Tz,
) -> Vec<String>
where
    Tz::Offset: std::fmt::Display,
{
    let why = failed.map(|w| escape(w).into_owned()).unwrap_or_default();
    let Some(at) = read_at else {
        let tried = tried_at.with_timezone(tz).format("%H:%M:%S");
        return vec![
            format!(" not read yet: the refresh at {tried} failed: {why}"),
            format!(" not read yet: the refresh at {tried} failed"),
        ];
    };
    let age = (now - at).num_seconds().max(0);
    let mut text = format!(" read {}", at.with_timezone(tz).format("%H:%M:%S"));
    // Refreshes keep it younger than two intervals; past that, its age says how old.
    let promised = interval.map_or(0, |d| 2 * d.as_secs() as i64);
    if age > promised.max(60) || (interval.is_none() && age >= 60) || failed.is_some() {
        text.push_str(&format!(" ({} ago)", format_span(age)));
    }
    if failed.is_some() {
        return vec![
            format!("{text} · refresh failed: {why}"),
            format!("{text} · refresh failed"),
        ];
    }
    match interval {
        Some(d) => text.push_str(&format!(" · every {}", format_duration(d))),
        None => text.push_str(" · r refreshes"),
    }
    vec![text]
}

/// One filesystem: its mount point, size, used and free space (statvfs, as `df`),
/// what `E` frees there now, and how it stands against `keep_free`.
pub(crate) fn disk_text(fs: &Filesystem, keep_free: Option<Floor>, width: usize) -> Option<String> {
    let mp = escape(&fs.mount_point.to_string_lossy()).into_owned();
    let u = fs.usage;
    let (size, used, free) = (
        format_size(u.size_bytes),
        format_size(u.used_bytes),
        format_size(u.free_bytes),
    );
    let e = format_size(fs.reclaimable_bytes);
    let floor = keep_free.map(|fl| {
        let want = fl.bytes_of(u.size_bytes);
        if u.free_bytes < want {
            format!(
                " · {} short of keep_free {fl}",
                format_size(want - u.free_bytes)
            )
        } else {
            format!(" · keep_free {fl} met")
        }
    });
    let floor = floor.unwrap_or_default();
    first_fitting(
        &[
            format!(
                " disk {mp}: {size} · {used} used · {free} free · reclaimable now {e} (E){floor}"
            ),
            format!(" disk {mp}: {size} · {used} used · {free} free · E frees {e}{floor}"),
            format!(" {mp}: {free} free of {size} · E frees {e}{floor}"),
            format!(" {mp}: {free} free of {size} · E frees {e}"),
            format!(" {mp}: {free} free of {size} · E {e}"),
            format!(" {mp}: {free} free · E {e}"),
            format!(" {mp}: {free} free"),
        ],
        width,
    )
}

/// Low on space: under a tenth free, or under the budget's floor.
fn disk_tone(fs: &Filesystem, keep_free: Option<Floor>) -> Tone {
    let u = fs.usage;
    let low = u.free_bytes.saturating_mul(10) < u.size_bytes
        || keep_free.is_some_and(|fl| u.free_bytes < fl.bytes_of(u.size_bytes));
    if low { Tone::Warn } else { Tone::Plain }
}

/// " budget: max_used 50 GB (62 GB used, 12 GB over) · keep_free 15% · B plans it".
pub(crate) fn budget_text(budget: Budget, used_bytes: u64, width: usize) -> Option<String> {
    let mut parts = Vec::new();
    let mut short = Vec::new();
    if let Some(max) = budget.max_used {
        let state = if used_bytes > max {
            format!("{} over", format_size(used_bytes - max))
        } else {
            "within".to_string()
        };
        parts.push(format!(
            "max_used {} ({} used, {state})",
            format_size(max),
            format_size(used_bytes)
        ));
        short.push(format!("≤{}: {state}", format_size(max)));
    }
    if let Some(fl) = budget.keep_free {
        parts.push(format!("keep_free {fl}"));
        short.push(format!("free ≥{fl}"));
    }
    let parts = parts.join(" · ");
    let short = short.join(" · ");
    first_fitting(
        &[
            format!(" budget: {parts} · B plans it"),
            format!(" budget: {parts}"),
            format!(" budget {short} · B"),
            format!(" budget {short}"),
        ],
        width,
    )
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
        let label = super::columns::host_label(host, (width / 2).saturating_sub(2));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filesystems::Usage;
    use chrono::TimeZone;
    use std::time::Duration;

    fn fs(mp: &str, size: u64, used: u64, free: u64, reclaimable: u64) -> Filesystem {
        Filesystem {
            device: 1,
            mount_point: mp.into(),
            usage: Usage {
                size_bytes: size,
                used_bytes: used,
                free_bytes: free,
            },
            sources: Vec::new(),
            reclaimable_bytes: reclaimable,
        }
    }

    #[test]
    fn a_disk_line_has_every_figure_when_wide_and_never_cuts_one_when_narrow() {
        let f = fs(
            "/var/lib/docker",
            99_870_000_000,
            61_200_000_000,
            38_670_000_000,
            1_234_000_000,
        );
        let wide = disk_text(&f, None, 200).unwrap();
        assert_eq!(
            wide,
            " disk /var/lib/docker: 99.87 GB · 61.20 GB used · 38.67 GB free · reclaimable now \
             1.23 GB (E)"
        );
        for width in 0..200 {
            let Some(t) = disk_text(&f, None, width) else {
                assert!(width < " /var/lib/docker: 38.67 GB free".len(), "{width}");
                continue;
            };
            assert!(t.chars().count() <= width, "{width}: {t}");
            assert!(
                t.contains("38.67 GB free"),
                "the free space is always there: {t}"
            );
        }
        assert_eq!(
            disk_text(&f, None, 44).unwrap(),
            " /var/lib/docker: 38.67 GB free · E 1.23 GB"
        );
    }

    #[test]
    fn the_keep_free_floor_is_judged_on_each_disk() {
        let f = fs("/", 100_000_000_000, 90_000_000_000, 10_000_000_000, 0);
        let short = disk_text(&f, Some(Floor::Percent(1500)), 200).unwrap();
        assert!(short.ends_with(" · 5 GB short of keep_free 15%"), "{short}");
        assert_eq!(disk_tone(&f, Some(Floor::Percent(1500))), Tone::Warn);
        let met = disk_text(&f, Some(Floor::Bytes(1_000_000_000)), 200).unwrap();
        assert!(met.ends_with("keep_free 1 GB met"), "{met}");
        assert_eq!(
            disk_tone(&f, Some(Floor::Bytes(1_000_000_000))),
            Tone::Plain
        );
    }

    #[test]
    fn the_budget_line_says_how_far_over_and_that_b_plans_it() {
        let b = Budget {
            max_used: Some(50_000_000_000),
            keep_free: Some(Floor::Percent(1500)),
        };
        assert_eq!(
            budget_text(b, 62_000_000_000, 200).unwrap(),
            " budget: max_used 50 GB (62 GB used, 12 GB over) · keep_free 15% · B plans it"
        );
        let within = budget_text(b, 1_000, 200).unwrap();
        assert!(within.contains("(1 kB used, within)"), "{within}");
        let narrow = budget_text(b, 62_000_000_000, 42).unwrap();
        assert!(
            narrow.chars().count() <= 42 && narrow.contains("12 GB over"),
            "{narrow}"
        );
        assert_eq!(budget_text(b, 62_000_000_000, 5), None);
    }

    #[test]
    fn the_read_time_says_its_age_only_when_older_than_refreshes_keep_it() {
        let at = Utc.with_ymd_and_hms(2026, 11, 21, 14, 2, 31).unwrap();
        let plus = |s| at + chrono::Duration::seconds(s);
        let five = Some(Duration::from_secs(5));
        let utc = chrono::Utc;
        assert_eq!(
            read_text(Some(at), at, plus(3), five, None, &utc),
            vec![" read 14:02:31 · every 5s"]
        );
        assert_eq!(
            read_text(Some(at), at, plus(180), five, None, &utc),
            vec![" read 14:02:31 (3m ago) · every 5s"]
        );
        assert_eq!(
            read_text(
                Some(at),
                plus(10),
                plus(12),
                five,
                Some("docker d: down\x1b[2J"),
                &utc
            ),
            vec![
                " read 14:02:31 (12s ago) · refresh failed: docker d: down\\x1b[2J",
                " read 14:02:31 (12s ago) · refresh failed",
            ]
        );
        assert_eq!(
            read_text(Some(at), at, plus(7_200), None, None, &utc),
            vec![" read 14:02:31 (2h ago) · r refreshes"]
        );
        let two_hours = chrono::FixedOffset::east_opt(2 * 3600).unwrap();
        assert!(
            read_text(Some(at), at, at, five, None, &two_hours)[0].starts_with(" read 16:02:31")
        );
        assert!(read_text(None, at, at, five, Some("x"), &utc)[1].ends_with("failed"));
    }

    #[test]
    fn the_sources_keep_at_least_half_the_rows() {
        assert_eq!(live_rows(4, 1, 5), 3);
        assert_eq!(live_rows(4, 2, 5), 2);
        assert_eq!(live_rows(4, 7, 5), 2);
        assert_eq!(live_rows(4, 2, 0), 0);
        assert_eq!(live_rows(1, 1, 3), 0);
        assert_eq!(live_rows(0, 0, 3), 0);
    }
}
