//! The `cachetop.report.v1` document, its findings (repair's too), and how every
//! document is written. Every field is always present; absent values are `null`;
//! sizes are integer bytes; times RFC 3339 UTC.

use std::collections::BTreeMap;

use std::io;

use serde::Serialize;

use super::origins::{Origins, RunOrigin};
use crate::filesystems::Disks;
use crate::inventory::{Inventory, Totals};
use crate::model::{Entry, Finding};
use crate::terminal_text::is_unsafe;
use crate::units::rfc3339;

pub const REPORT_SCHEMA: &str = "cachetop.report.v1";

#[derive(Serialize)]
pub struct ReportDoc<'a> {
    pub schema: &'static str,
    pub generated_at: String,
    pub stale_after_secs: u64,
    pub sources: Vec<SourceDoc<'a>>,
    pub entries: EntriesDoc<'a>,
    pub totals: TotalsDoc,
    /// The local filesystems that hold the sources' data (none for what is elsewhere).
    pub filesystems: Vec<FilesystemDoc<'a>>,
}

#[derive(Serialize)]
pub struct FilesystemDoc<'a> {
    /// The mount point.
    pub path: String,
    pub device: u64,
    pub size_bytes: u64,
    pub used_bytes: u64,
    /// Free to unprivileged users.
    pub free_bytes: u64,
    /// What the stale eviction (`prune --stale`) would free here now.
    pub reclaimable_bytes: u64,
    /// The names of the sources whose data it holds.
    pub sources: Vec<&'a str>,
}

pub fn filesystem_docs(disks: &Disks) -> Vec<FilesystemDoc<'_>> {
    disks
        .filesystems
        .iter()
        .map(|f| FilesystemDoc {
            path: f.mount_point.to_string_lossy().into_owned(),
            device: f.device,
            size_bytes: f.usage.size_bytes,
            used_bytes: f.usage.used_bytes,
            free_bytes: f.usage.free_bytes,
            reclaimable_bytes: f.reclaimable_bytes,
            sources: f.sources.iter().map(|s| s.name.as_str()).collect(),
        })
        .collect()
}

/// Entries are serialized one at a time, never all held as documents at once:
/// 100,000 records must fit the memory budget. With `--lint`, each carries its
/// `origins`; with `many_hosts`, its `host`.
pub struct EntriesDoc<'a>(
    pub &'a [Entry],
    pub Option<&'a Origins>,
    /// More than one Docker host is read.
    pub bool,
);

impl Serialize for EntriesDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| {
            let mut doc = entry_doc(e);
            doc.origins = self.1.map(|o| o.of(e));
            doc.host = self.2.then_some(e.host.as_deref());
            doc
        }))
    }
}

#[derive(Serialize)]
pub struct SourceDoc<'a> {
    pub kind: &'static str,
    pub name: &'a str,
    /// Only when more than one Docker host is read (absent otherwise, so documents
    /// of one host are unchanged): the host it belongs to, `null` for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Option<&'a str>>,
    pub ok: bool,
    pub error: Option<&'a str>,
    pub details: serde_json::Value,
}

#[derive(Serialize)]
pub struct EntryDoc<'a> {
    pub source: &'static str,
    pub source_name: &'a str,
    /// As `SourceDoc::host`: present only when more than one Docker host is read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<Option<&'a str>>,
    pub id: &'a str,
    pub kind: &'a str,
    pub description: &'a str,
    pub mount_target: Option<&'a str>,
    pub cache_id: Option<&'a str>,
    pub command: Option<&'a str>,
    pub size_bytes: u64,
    pub disk_bytes: Option<u64>,
    /// `disk_bytes` when measured, else `size_bytes`: what the totals add up.
    pub effective_bytes: u64,
    pub created_at: Option<String>,
    pub last_used_at: Option<String>,
    pub usage_count: Option<u64>,
    pub in_use: bool,
    pub shared: bool,
    pub flags: Vec<&'static str>,
    pub content: Option<ContentDoc<'a>>,
    pub findings: Vec<FindingDoc<'a>>,
    pub details: &'a BTreeMap<String, String>,
    /// Only with `--lint` (absent otherwise, so documents without it are unchanged):
    /// the `RUN`s of the linted Dockerfiles that mount this cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origins: Option<Vec<RunOrigin>>,
}

#[derive(Serialize)]
pub struct ContentDoc<'a> {
    pub path: &'a str,
    pub files: Option<u64>,
    pub error: Option<&'a str>,
}

#[derive(Serialize)]
pub struct FindingDoc<'a> {
    pub kind: &'a str,
    pub path: &'a str,
    pub detail: &'a str,
    pub bytes: u64,
}

#[derive(Serialize)]
pub struct TotalsDoc {
    pub entries: usize,
    /// The sum of the entries' `effective_bytes` (the meaning v1 always had).
    pub size_bytes: u64,
    /// The sum of the entries' `size_bytes`, as the sources report them.
    pub reported_bytes: u64,
    pub stale_entries: usize,
    pub stale_bytes: u64,
    pub partial_entries: usize,
}

impl From<Totals> for TotalsDoc {
    fn from(t: Totals) -> Self {
        Self {
            entries: t.entries,
            size_bytes: t.size_bytes,
            reported_bytes: t.reported_bytes,
            stale_entries: t.stale_entries,
            stale_bytes: t.stale_bytes,
            partial_entries: t.partial_entries,
        }
    }
}

pub fn entry_doc(e: &Entry) -> EntryDoc<'_> {
    EntryDoc {
        source: e.source.kind.as_str(),
        source_name: &e.source.name,
        host: None,
        id: &e.id,
        kind: &e.kind,
        description: &e.description,
        mount_target: e.mount.as_ref().map(|m| m.target.as_str()),
        cache_id: e.mount.as_ref().and_then(|m| m.cache_id.as_deref()),
        command: e.mount.as_ref().map(|m| m.command.as_str()),
        size_bytes: e.size_bytes,
        disk_bytes: e.disk_bytes,
        effective_bytes: e.effective_bytes(),
        created_at: e.created_at.map(rfc3339),
        last_used_at: e.last_used_at.map(rfc3339),
        usage_count: e.usage_count,
        in_use: e.in_use,
        shared: e.shared,
        flags: e.flags.iter().map(|f| f.as_str()).collect(),
        content: e.content.as_ref().map(|c| ContentDoc {
            path: &c.path,
            files: c.files,
            error: c.error.as_deref(),
        }),
        findings: e.findings.iter().map(finding_doc).collect(),
        details: &e.details,
        origins: None,
    }
}

pub fn finding_doc(f: &Finding) -> FindingDoc<'_> {
    FindingDoc {
        kind: f.kind.as_str(),
        path: &f.path,
        detail: &f.detail,
        bytes: f.bytes,
    }
}

pub fn report_doc<'a>(inv: &'a Inventory, disks: &'a Disks) -> ReportDoc<'a> {
    report_doc_with(inv, disks, None)
}

/// The report, with each entry's `origins` when `--lint` gave files.
pub fn report_doc_with<'a>(
    inv: &'a Inventory,
    disks: &'a Disks,
    origins: Option<&'a Origins>,
) -> ReportDoc<'a> {
    let many_hosts = inv.many_hosts();
    ReportDoc {
        schema: REPORT_SCHEMA,
        generated_at: rfc3339(inv.generated_at),
        stale_after_secs: inv.policy.stale_after.as_secs(),
        sources: inv
            .sources
            .iter()
            .map(|s| SourceDoc {
                kind: s.source.kind.as_str(),
                name: &s.source.name,
                host: many_hosts.then_some(s.host.as_deref()),
                ok: s.ok(),
                error: s.error.as_ref().map(|e| e.message.as_str()),
                details: with_summary(&s.details, &s.summary),
            })
            .collect(),
        entries: EntriesDoc(&inv.entries, origins, many_hosts),
        totals: inv.totals().into(),
        filesystems: filesystem_docs(disks),
    }
}

/// Puts the one-line summary into `details` so the top-level fields stay as specified.
fn with_summary(details: &serde_json::Value, summary: &str) -> serde_json::Value {
    let mut obj = match details {
        serde_json::Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    if !summary.is_empty() {
        obj.insert("summary".into(), summary.into());
    }
    serde_json::Value::Object(obj)
}

/// Writes one JSON document. Strings keep their exact values, but the characters a
/// terminal acts on that JSON allows raw (DEL, C1 and bidi controls; serde_json
/// escapes C0 itself) are written as `\uXXXX`, so a document shown on a terminal
/// (`report --json` run by hand) cannot act on it either.
pub fn write_json<W: io::Write>(out: W, doc: &impl Serialize) -> serde_json::Result<()> {
    doc.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        InertFormatter,
    ))
}

struct InertFormatter;

impl serde_json::ser::Formatter for InertFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        out: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.bytes().all(|b| b < 0x7f) {
            return out.write_all(fragment.as_bytes());
        }
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if is_unsafe(c) {
                out.write_all(&fragment.as_bytes()[start..i])?;
                // Every character escaped here is in the Basic Multilingual Plane.
                write!(out, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        out.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::SourceStatus;
    use crate::model::{SourceKind, SourceRef};
    use crate::policy::Policy;
    use chrono::TimeZone;

    fn status(source: &SourceRef, host: Option<&str>) -> SourceStatus {
        SourceStatus {
            source: source.clone(),
            error: None,
            summary: String::new(),
            details: serde_json::json!({}),
            location: None,
            host: host.map(str::to_string),
        }
    }

    #[test]
    fn sources_and_entries_name_their_host_only_when_there_are_many() {
        let a = SourceRef::new(SourceKind::Docker, "unix:///a.sock");
        let b = SourceRef::new(SourceKind::Docker, "unix:///b.sock");
        let d = SourceRef::new(SourceKind::Dir, "/c");
        let mut on_b = Entry::new(b.clone(), "x", "regular");
        on_b.host = Some("unix:///b.sock".into());
        let mut inv = Inventory {
            generated_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 21, 12, 0, 0)
                .unwrap(),
            policy: Policy::default(),
            sources: vec![
                status(&a, Some("unix:///a.sock")),
                status(&b, Some("unix:///b.sock")),
                status(&d, None),
            ],
            entries: vec![on_b, Entry::new(d.clone(), "registry", "cargo.registry")],
        };
        let doc = serde_json::to_value(report_doc(&inv, &Disks::default())).unwrap();
        let hosts: Vec<&serde_json::Value> = doc["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["host"])
            .collect();
        assert_eq!(
            hosts,
            [
                &"unix:///a.sock".into(),
                &"unix:///b.sock".into(),
                &serde_json::Value::Null
            ]
        );
        assert_eq!(doc["entries"][0]["host"], "unix:///b.sock");
        assert!(doc["entries"][1].as_object().unwrap()["host"].is_null());

        inv.sources.remove(0);
        let doc = serde_json::to_value(report_doc(&inv, &Disks::default())).unwrap();
        assert!(!doc["sources"][0].as_object().unwrap().contains_key("host"));
        assert!(!doc["entries"][0].as_object().unwrap().contains_key("host"));
    }

    #[test]
    fn json_keeps_exact_strings_with_nothing_a_terminal_acts_on() {
        let hostile = "a\x1b]0;t\x07\u{9b}2J\x7f\u{202e}txt\u{2066}é\"\\\n";
        let mut out = Vec::new();
        write_json(&mut out, &serde_json::json!({ "k\u{202e}": hostile })).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(!text.chars().any(is_unsafe), "{text}");
        assert!(text.contains("\\u001b") && text.contains("\\u202e") && text.contains('é'));
        let back: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back["k\u{202e}"], hostile);
    }
}
