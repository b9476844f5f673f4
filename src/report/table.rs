//! Plain-text output for people: the report table and the cells other tables share.
//! Every string from outside is escaped here, where it is shown (`terminal_text`).

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::filesystems::Disks;
use crate::inventory::Inventory;
use crate::model::{Entry, Flag};
use crate::terminal_text::escape;
use crate::units::{format_age, format_duration, format_size, plural};

const ID_WIDTH: usize = 25;

/// Truncates to `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The size a person should see: measured when known, `*` when the source disagrees.
pub fn size_cell(e: &Entry) -> String {
    let mut s = format_size(e.effective_bytes());
    if e.has(Flag::SizeMismatch) {
        s.push('*');
    }
    s
}

pub fn flags_cell(e: &Entry) -> String {
    let badges: Vec<&str> = e.flags.iter().map(|f| f.badge()).collect();
    if badges.is_empty() {
        "-".to_string()
    } else {
        badges.join(",")
    }
}

/// Mount target and the command that made it, else the description; escaped for a
/// terminal.
pub fn what_cell(e: &Entry) -> String {
    match &e.mount {
        Some(m) => format!("{}  ({})", escape(&m.target), escape(&m.command)),
        None => escape(e.label()).into_owned(),
    }
}

/// The report table, largest first, then one line per source and the totals.
/// With `width`, the last column is cut to fit a terminal of that width.
pub fn render_report(
    inv: &Inventory,
    disks: &Disks,
    now: DateTime<Utc>,
    width: Option<usize>,
) -> String {
    let headers = [
        "SOURCE",
        "TYPE",
        "SIZE",
        "LAST USED",
        "CREATED",
        "USES",
        "FLAGS",
        "ID",
        "MOUNT / DESCRIPTION",
    ];
    let many_hosts = inv.many_hosts();
    let groups = if many_hosts {
        group_by_host(&inv.entries, &inv.hosts())
    } else {
        vec![(None, inv.entries.iter().collect())]
    };
    let rows: Vec<[String; 9]> = groups
        .iter()
        .flat_map(|(_, entries)| entries.iter())
        .map(|e| {
            [
                e.source.kind.to_string(),
                escape(&e.kind).into_owned(),
                size_cell(e),
                format_age(e.last_used_at, now),
                format_age(e.created_at, now),
                e.usage_count.map_or("-".to_string(), |n| n.to_string()),
                flags_cell(e),
                truncate(&escape(&e.id), ID_WIDTH),
                what_cell(e),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()).take(8) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let fixed: usize = widths[..8].iter().map(|w| w + 2).sum();
    let last = width.map(|w| w.saturating_sub(fixed).max(20));
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == 8 {
                match last {
                    Some(max) => l.push_str(&truncate(cell, max)),
                    None => l.push_str(cell),
                }
            } else if i == 2 || i == 5 {
                let _ = write!(l, "{:>w$}  ", cell, w = widths[i]);
            } else {
                let _ = write!(l, "{:<w$}  ", cell, w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &headers.map(String::from));
    let mut rows = rows.iter();
    for (host, entries) in &groups {
        if many_hosts {
            out.push_str(&host_heading(inv, *host, entries));
        }
        for row in rows.by_ref().take(entries.len()) {
            line(&mut out, row);
        }
    }
    if inv.entries.iter().any(|e| e.has(Flag::SizeMismatch)) {
        out.push_str("* measured on disk; the source reports a different size\n");
    }
    out.push_str(&render_findings(&inv.entries));
    out.push('\n');
    for s in &inv.sources {
        // A builder says which host it is on; a daemon's name is its host.
        let s_host = match s.host.as_deref() {
            Some(h) if many_hosts && h != s.source.name => format!("[{h}] "),
            _ => String::new(),
        };
        let _ = write!(out, "{}", escape(&s_host));
        match &s.error {
            None => {
                let line = format!("{}: {}", s.source, s.summary);
                let _ = writeln!(out, "{}", escape(&line));
            }
            Some(e) => {
                let line = format!("{}: FAILED: {}", s.source, e);
                let _ = writeln!(out, "{}", escape(&line));
            }
        }
    }
    out.push_str(&render_filesystems(disks));
    let t = inv.totals();
    let _ = writeln!(
        out,
        "{} entries, {}; stale (unused {}): {}, {}; partial: {}",
        t.entries,
        format_size(t.size_bytes),
        format_duration(inv.policy.stale_after),
        t.stale_entries,
        format_size(t.stale_bytes),
        t.partial_entries
    );
    out
}

/// The entries of each host in turn (in the order the hosts were given), then those
/// of no host; each group keeps the entries' order. A host with nothing listed has
/// an empty group, so a failed host still has its heading.
pub fn group_by_host<'a>(
    entries: &'a [Entry],
    hosts: &[&'a str],
) -> Vec<(Option<&'a str>, Vec<&'a Entry>)> {
    let mut groups: Vec<(Option<&str>, Vec<&Entry>)> =
        hosts.iter().map(|h| (Some(*h), Vec::new())).collect();
    let mut none: Vec<&Entry> = Vec::new();
    for e in entries {
        let group = e
            .host
            .as_deref()
            .and_then(|h| groups.iter_mut().find(|(g, _)| *g == Some(h)));
        match group {
            Some((_, v)) => v.push(e),
            None => none.push(e),
        }
    }
    if !none.is_empty() {
        groups.push((None, none));
    }
    groups
}

/// `[HOST] N entries, SIZE`, and each failure of the host's sources; `[no Docker
/// host]` for the directories, GitHub and registries.
fn host_heading(inv: &Inventory, host: Option<&str>, entries: &[&Entry]) -> String {
    let t = crate::inventory::totals(entries.iter().copied());
    let name = host.unwrap_or("no Docker host");
    let mut line = format!(
        "[{name}] {}, {}",
        plural(t.entries, "entry", "entries"),
        format_size(t.size_bytes)
    );
    let failed = inv
        .failed_sources()
        .filter(|s| host.is_some() && s.host.as_deref() == host);
    for s in failed {
        if let Some(e) = &s.error {
            let _ = write!(line, "; FAILED: {} {}", s.source.kind, e);
        }
    }
    format!("{}\n", escape(&line))
}

/// One line per filesystem that holds a source's data: where it is mounted, its
/// size, how full, what is free, and what the stale eviction would free there now.
pub fn render_filesystems(disks: &Disks) -> String {
    let mut out = String::new();
    for f in &disks.filesystems {
        let u = f.usage;
        let _ = writeln!(
            out,
            "filesystem {}: {}, {} used, {} free, {} reclaimable now (prune --stale)",
            escape(&f.mount_point.to_string_lossy()),
            format_size(u.size_bytes),
            used_percent(u.used_bytes, u.size_bytes),
            format_size(u.free_bytes),
            format_size(f.reclaimable_bytes)
        );
    }
    for e in &disks.errors {
        let _ = writeln!(out, "filesystem: {}", escape(e));
    }
    out
}

/// Whole percent, rounded up so a nearly full disk never reads as less full.
pub fn used_percent(used: u64, size: u64) -> String {
    if size == 0 {
        return "-".to_string();
    }
    let pct = (u128::from(used) * 100).div_ceil(u128::from(size));
    format!("{pct}%")
}

/// The broken parts inside entries, and the content that could not be looked into.
pub fn render_findings(entries: &[Entry]) -> String {
    let mut out = String::new();
    let broken: Vec<&Entry> = entries.iter().filter(|e| !e.findings.is_empty()).collect();
    if !broken.is_empty() {
        out.push_str("\nBroken parts (`cachetop repair ID` removes only these):\n");
        for e in broken {
            let _ = writeln!(
                out,
                "  {} {}  {}",
                e.source.kind,
                escape(&e.id),
                truncate(&escape(e.label()), 60)
            );
            for f in &e.findings {
                let _ = writeln!(
                    out,
                    "    {}  {}  {}",
                    escape(f.kind.as_str()),
                    escape(&f.path),
                    format_size(f.bytes)
                );
                let _ = writeln!(out, "      {}", escape(&f.detail));
            }
        }
    }
    // One line per distinct reason, with how many entries it concerns.
    let mut reasons: Vec<(&str, usize)> = Vec::new();
    for c in entries.iter().filter_map(|e| e.content.as_ref()) {
        if let Some(why) = &c.error {
            match reasons.iter_mut().find(|(r, _)| r == why) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        }
    }
    if !reasons.is_empty() {
        out.push_str("\nContent not (fully) scanned:\n");
        for (why, n) in reasons {
            let _ = writeln!(out, "  {}: {}", plural(n, "entry", "entries"), escape(why));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::SourceStatus;
    use crate::model::{SourceKind, SourceRef};
    use crate::policy::Policy;
    use crate::sources::{ErrorKind, SourceError};
    use chrono::TimeZone;
    use std::sync::Arc;

    const A: &str = "unix:///a.sock";
    const B: &str = "tcp://10.0.0.2:2375";

    fn entry(source: &SourceRef, host: Option<&str>, id: &str, size: u64) -> Entry {
        let mut e = Entry::new(source.clone(), id, "exec.cachemount");
        e.size_bytes = size;
        e.host = host.map(Arc::from);
        e
    }

    fn status(source: &SourceRef, host: Option<&str>, error: Option<&str>) -> SourceStatus {
        SourceStatus {
            source: source.clone(),
            error: error.map(|m| SourceError::new(ErrorKind::NoAnswer, m)),
            summary: "ok".to_string(),
            details: serde_json::Value::Null,
            location: None,
            host: host.map(str::to_string),
        }
    }

    #[test]
    fn entries_group_by_host_in_the_order_given_then_those_of_no_host() {
        let a = SourceRef::new(SourceKind::Docker, A);
        let b = SourceRef::new(SourceKind::Docker, B);
        let d = SourceRef::new(SourceKind::Dir, "/cache");
        let entries = [
            entry(&b, Some(B), "b1", 9),
            entry(&d, None, "d1", 8),
            entry(&a, Some(A), "a1", 7),
            entry(&b, Some(B), "b2", 6),
        ];
        let groups = group_by_host(&entries, &[A, B, "unix:///down.sock"]);
        let ids: Vec<(Option<&str>, Vec<&str>)> = groups
            .iter()
            .map(|(h, v)| (*h, v.iter().map(|e| e.id.as_str()).collect()))
            .collect();
        assert_eq!(
            ids,
            [
                (Some(A), vec!["a1"]),
                (Some(B), vec!["b1", "b2"]),
                (Some("unix:///down.sock"), vec![]),
                (None, vec!["d1"]),
            ]
        );
    }

    #[test]
    fn the_table_of_many_hosts_has_a_heading_per_host_naming_its_failure() {
        let a = SourceRef::new(SourceKind::Docker, A);
        let b = SourceRef::new(SourceKind::Docker, B);
        let now = chrono::Utc
            .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
            .unwrap();
        let inv = Inventory {
            generated_at: now,
            policy: Policy::default(),
            sources: vec![
                status(&a, Some(A), None),
                status(&b, Some(B), Some("no answer within 3s")),
            ],
            entries: vec![entry(&a, Some(A), "a1", 2048)],
        };
        let text = render_report(&inv, &Disks::default(), now, None);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("SOURCE"), "{text}");
        assert_eq!(lines[1], format!("[{A}] 1 entry, 2.05 kB"), "{text}");
        assert!(
            lines[2].starts_with("docker") && lines[2].contains("a1"),
            "{text}"
        );
        assert_eq!(
            lines[3],
            format!("[{B}] 0 entries, 0 B; FAILED: docker no answer within 3s")
        );
        assert!(
            text.contains(&format!("\ndocker {B}: FAILED: no answer")),
            "{text}"
        );

        // One host: the table is as it always was.
        let one = Inventory {
            sources: vec![status(&a, Some(A), None)],
            ..inv
        };
        let text = render_report(&one, &Disks::default(), now, None);
        assert!(!text.contains('['), "{text}");
    }
}
