//! The report as Prometheus metrics (text exposition format 0.0.4), for node_exporter's
//! textfile collector. Pure: a report value in, text out; `cmd::report` does the I/O.
//!
//! Every family is a gauge. Per-source families carry `source` (the kind of source,
//! e.g. `docker`) and `name` (its address, path, repository or ref), so two `--dir`
//! sources stay apart; `sum by (source, kind)` gives the report's figures per kind. A
//! failed source has `cachetop_source_up 0` and no entry series (a gap, not a false 0).
//! Sizes are counted as the report counts them: measured on disk when scanned, else as
//! the source reports (`effective_bytes`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::time::Duration;

use crate::filesystems::{Disks, Filesystem};
use crate::inventory::{Inventory, SourceStatus};
use crate::model::{Flag, SourceKind, SourceRef};
use crate::prune::{build_plan, stale_eviction};
use crate::terminal_text::{escape, is_unsafe};

/// How long each source took to list its entries, when it was measured.
pub type Timings = HashMap<SourceRef, Duration>;

/// The whole exposition: every family, in a fixed order, each with HELP and TYPE.
pub fn render(inv: &Inventory, timings: &Timings, disks: &Disks) -> String {
    let mut out = Exposition::default();
    out.family(
        "cachetop_report_timestamp_seconds",
        "When the report was generated, in seconds since the Unix epoch.",
    );
    out.sample(&[], inv.generated_at.timestamp());
    out.family(
        "cachetop_stale_after_seconds",
        "Entries not used for this long are flagged stale (--stale-after).",
    );
    out.sample(&[], inv.policy.stale_after.as_secs());

    source_families(&mut out, inv, timings);
    entry_families(&mut out, inv);
    flag_families(&mut out, inv);
    reclaimable_families(&mut out, inv);
    gha_families(&mut out, &inv.sources);
    filesystem_families(&mut out, disks);
    out.text
}

fn source_labels(s: &SourceRef) -> [(&'static str, &str); 2] {
    [("source", s.kind.as_str()), ("name", &s.name)]
}

/// A source's labels and one more.
fn with_label<'a>(
    s: &'a SourceRef,
    key: &'static str,
    value: &'a str,
) -> [(&'static str, &'a str); 3] {
    let [a, b] = source_labels(s);
    [a, b, (key, value)]
}

fn source_families(out: &mut Exposition, inv: &Inventory, timings: &Timings) {
    out.family(
        "cachetop_source_up",
        "Whether the source could be read (1) or failed (0).",
    );
    for s in &inv.sources {
        out.sample(&source_labels(&s.source), u64::from(s.ok()));
    }
    out.family(
        "cachetop_source_scrape_duration_seconds",
        "How long the source took to list its entries.",
    );
    for s in &inv.sources {
        if let Some(d) = timings.get(&s.source) {
            out.sample(&source_labels(&s.source), d.as_secs_f64());
        }
    }
}

#[derive(Default)]
struct Tally {
    entries: u64,
    bytes: u64,
    reported_bytes: u64,
}

impl Tally {
    fn add(&mut self, effective: u64, reported: u64) {
        self.entries += 1;
        self.bytes = self.bytes.saturating_add(effective);
        self.reported_bytes = self.reported_bytes.saturating_add(reported);
    }
}

fn entry_families(out: &mut Exposition, inv: &Inventory) {
    let mut by_kind: BTreeMap<(&SourceRef, &str), Tally> = BTreeMap::new();
    for e in &inv.entries {
        by_kind
            .entry((&e.source, e.kind.as_str()))
            .or_default()
            .add(e.effective_bytes(), e.size_bytes);
    }
    let labels = |s, kind| with_label(s, "kind", kind);
    out.family(
        "cachetop_entries",
        "Cache entries, by source and entry kind.",
    );
    for ((s, kind), t) in &by_kind {
        out.sample(&labels(s, kind), t.entries);
    }
    out.family(
        "cachetop_entry_bytes",
        "Bytes of the cache entries as the report counts them (measured on disk when \
         scanned, else as the source reports), by source and entry kind.",
    );
    for ((s, kind), t) in &by_kind {
        out.sample(&labels(s, kind), t.bytes);
    }
    out.family(
        "cachetop_entry_reported_bytes",
        "Bytes of the cache entries as their sources report them, by source and entry kind.",
    );
    for ((s, kind), t) in &by_kind {
        out.sample(&labels(s, kind), t.reported_bytes);
    }
}

/// Every flag of every source that answered, zeros included, so a series does not
/// vanish when the last stale entry goes.
fn flag_families(out: &mut Exposition, inv: &Inventory) {
    let mut by_flag: HashMap<(&SourceRef, Flag), Tally> = HashMap::new();
    for e in &inv.entries {
        for f in &e.flags {
            by_flag
                .entry((&e.source, *f))
                .or_default()
                .add(e.effective_bytes(), e.size_bytes);
        }
    }
    let series: Vec<(&SourceRef, Flag, Option<&Tally>)> = ok_sources(inv)
        .flat_map(|s| Flag::ALL.map(|f| (s, f, by_flag.get(&(s, f)))))
        .collect();
    let labels = |s, f: Flag| with_label(s, "flag", f.as_str());
    out.family(
        "cachetop_flagged_entries",
        "Cache entries carrying a flag (stale, partial, in_use, size_mismatch, orphaned), \
         by source.",
    );
    for (s, f, t) in &series {
        out.sample(&labels(s, *f), t.map_or(0, |t| t.entries));
    }
    out.family(
        "cachetop_flagged_bytes",
        "Bytes of the cache entries carrying a flag, as the report counts them, by source. \
         flag=\"stale\" and flag=\"partial\" are the stale and partial bytes.",
    );
    for (s, f, t) in &series {
        out.sample(&labels(s, *f), t.map_or(0, |t| t.bytes));
    }
}

/// What `prune --stale` (the screen's `E`) would delete now: stale entries that are
/// not in use, shared or held by a child that stays.
fn reclaimable_families(out: &mut Exposition, inv: &Inventory) {
    let plan = build_plan(&inv.entries, &stale_eviction(), inv.generated_at);
    let mut by_source: HashMap<&SourceRef, Tally> = HashMap::new();
    for it in &plan.items {
        let e = &it.entry;
        by_source
            .entry(&e.source)
            .or_default()
            .add(e.effective_bytes(), e.size_bytes);
    }
    let sources: Vec<&SourceRef> = ok_sources(inv).collect();
    out.family(
        "cachetop_reclaimable_entries",
        "Entries `cachetop prune --stale` would delete now, by source.",
    );
    for s in &sources {
        let n = by_source.get(s).map_or(0, |t| t.entries);
        out.sample(&source_labels(s), n);
    }
    out.family(
        "cachetop_reclaimable_bytes",
        "Bytes `cachetop prune --stale` would free now (stale entries not in use, shared \
         or needed by another), by source.",
    );
    for s in &sources {
        let n = by_source.get(s).map_or(0, |t| t.bytes);
        out.sample(&source_labels(s), n);
    }
}

/// The Actions cache usage GitHub reports, against the limit it is measured against.
fn gha_families(out: &mut Exposition, sources: &[SourceStatus]) {
    let gha: Vec<&SourceStatus> = sources
        .iter()
        .filter(|s| s.ok() && s.source.kind == SourceKind::Gha)
        .collect();
    out.family(
        "cachetop_gha_cache_usage_bytes",
        "GitHub Actions cache usage of the repository, as GitHub's usage API reports it.",
    );
    for s in &gha {
        let usage = &s.details["usage_api"]["active_caches_size_in_bytes"];
        if let Some(n) = usage.as_u64() {
            out.sample(&[("name", &s.source.name)], n);
        }
    }
    out.family(
        "cachetop_gha_cache_limit_bytes",
        "The GitHub Actions cache limit the repository's usage is measured against \
         (--gha-limit).",
    );
    for s in &gha {
        if let Some(n) = s.details["limit_bytes"].as_u64() {
            out.sample(&[("name", &s.source.name)], n);
        }
    }
}

/// A family's name, help, and the figure it takes from each filesystem.
type FilesystemFamily = (&'static str, &'static str, fn(&Filesystem) -> u64);

/// Each local filesystem that holds a source's data, by its mount point.
fn filesystem_families(out: &mut Exposition, disks: &Disks) {
    let filesystems: Vec<(String, &Filesystem)> = disks
        .filesystems
        .iter()
        .map(|f| (f.mount_point.to_string_lossy().into_owned(), f))
        .collect();
    let families: [FilesystemFamily; 4] = [
        (
            "cachetop_filesystem_size_bytes",
            "Size of a filesystem that holds cached data, by mount point.",
            |f| f.usage.size_bytes,
        ),
        (
            "cachetop_filesystem_used_bytes",
            "Bytes in use on a filesystem that holds cached data (as df counts them).",
            |f| f.usage.used_bytes,
        ),
        (
            "cachetop_filesystem_free_bytes",
            "Bytes free to unprivileged users (what a build can still write) on a \
             filesystem that holds cached data.",
            |f| f.usage.free_bytes,
        ),
        (
            "cachetop_filesystem_reclaimable_bytes",
            "Bytes `cachetop prune --stale` would free now on a filesystem.",
            |f| f.reclaimable_bytes,
        ),
    ];
    for (name, help, value) in families {
        out.family(name, help);
        for (path, f) in &filesystems {
            out.sample(&[("path", path)], value(f));
        }
    }
}

fn ok_sources(inv: &Inventory) -> impl Iterator<Item = &SourceRef> {
    inv.sources.iter().filter(|s| s.ok()).map(|s| &s.source)
}

/// The text being written, and the family whose samples are being added.
#[derive(Default)]
struct Exposition {
    text: String,
    name: &'static str,
}

impl Exposition {
    /// HELP and TYPE of a new family. Names and help texts are cachetop's own: they
    /// hold nothing the format would need escaped.
    fn family(&mut self, name: &'static str, help: &str) {
        self.name = name;
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(self.name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(k);
                self.text.push_str("=\"");
                push_label_value(&mut self.text, v);
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the format wants it: `\`, `"` and newline escaped (`\\`, `\"`,
/// `\n`). Values come from outside (paths, refs, record kinds), and a metrics file is
/// read on terminals too, so every other character a terminal acts on (controls,
/// bidi) is written as the visible escape the table shows (`\x1b`, `\u{202e}`), its
/// backslash doubled so that the parsed value is that escape.
fn push_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if is_unsafe(c) => {
                let mut buf = [0u8; 4];
                out.push_str(&escape(c.encode_utf8(&mut buf)).replace('\\', "\\\\"));
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::SourceStatus;
    use crate::model::Entry;
    use crate::policy::Policy;
    use crate::sources::SourceError;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn status(source: &SourceRef, error: Option<&str>, details: serde_json::Value) -> SourceStatus {
        SourceStatus {
            source: source.clone(),
            error: error.map(|m| SourceError::new(crate::sources::ErrorKind::Other, m.to_string())),
            summary: String::new(),
            details,
            location: None,
            host: None,
        }
    }

    fn entry(s: &SourceRef, id: &str, kind: &str, size: u64, disk: Option<u64>) -> Entry {
        let mut e = Entry::new(s.clone(), id, kind);
        e.size_bytes = size;
        e.disk_bytes = disk;
        e
    }

    /// Sample lines (`name{labels} value`) of one family.
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            })
            .collect()
    }

    fn inventory() -> (Inventory, SourceRef, SourceRef, SourceRef) {
        let docker = SourceRef::new(SourceKind::Docker, "unix:///run/d.sock");
        let dir = SourceRef::new(SourceKind::Dir, "/cache/a \"b\"\\c\nd\x1be\u{202e}");
        let gha = SourceRef::new(SourceKind::Gha, "octo/app");
        let down = SourceRef::new(SourceKind::Registry, "r:5000/app:cache");
        let mut stale_big = entry(&docker, "a", "exec.cachemount", 100, Some(250));
        stale_big.flags = [Flag::Stale].into_iter().collect();
        let mut stale_in_use = entry(&docker, "b", "exec.cachemount", 40, None);
        stale_in_use.flags = [Flag::Stale, Flag::InUse].into_iter().collect();
        stale_in_use.in_use = true;
        let regular = entry(&docker, "c", "regular", 7, None);
        let mut partial = entry(&dir, "registry/src", "cargo.registry-src", 30, Some(31));
        partial.flags = [Flag::Partial].into_iter().collect();
        let inv = Inventory {
            generated_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            policy: Policy {
                stale_after: Duration::from_secs(3600),
            },
            sources: vec![
                status(&docker, None, json!({})),
                status(&dir, None, json!({})),
                status(
                    &gha,
                    None,
                    json!({"limit_bytes": 10_000_000_000u64,
                           "usage_api": {"active_caches_size_in_bytes": 1234}}),
                ),
                status(&down, Some("401"), json!({})),
            ],
            entries: vec![stale_big, partial, stale_in_use, regular],
        };
        (inv, docker, dir, down)
    }

    #[test]
    fn every_family_has_help_and_type_and_sums_as_the_report_does() {
        let (inv, ..) = inventory();
        let mut timings = Timings::new();
        timings.insert(inv.sources[0].source.clone(), Duration::from_millis(1500));
        let text = render(&inv, &timings, &Disks::default());
        for name in [
            "cachetop_entries",
            "cachetop_entry_bytes",
            "cachetop_flagged_bytes",
            "cachetop_reclaimable_bytes",
            "cachetop_filesystem_size_bytes",
            "cachetop_filesystem_free_bytes",
            "cachetop_source_up",
            "cachetop_source_scrape_duration_seconds",
            "cachetop_gha_cache_usage_bytes",
            "cachetop_gha_cache_limit_bytes",
        ] {
            assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{name}");
        }
        let d = r#"source="docker",name="unix:///run/d.sock""#;
        assert!(text.contains(&format!(
            "cachetop_entries{{{d},kind=\"exec.cachemount\"}} 2\n"
        )));
        // Measured on disk when scanned (250), else reported (40): as the report's totals.
        assert!(text.contains(&format!(
            "cachetop_entry_bytes{{{d},kind=\"exec.cachemount\"}} 290\n"
        )));
        assert!(text.contains(&format!(
            "cachetop_entry_reported_bytes{{{d},kind=\"exec.cachemount\"}} 140\n"
        )));
        assert!(text.contains(&format!(
            "cachetop_flagged_bytes{{{d},flag=\"stale\"}} 290\n"
        )));
        assert!(text.contains(&format!(
            "cachetop_flagged_entries{{{d},flag=\"in_use\"}} 1\n"
        )));
        assert!(text.contains(&format!(
            "cachetop_flagged_bytes{{{d},flag=\"orphaned\"}} 0\n"
        )));
        // The stale entry in use is never reclaimable.
        assert!(text.contains(&format!("cachetop_reclaimable_bytes{{{d}}} 250\n")));
        assert!(text.contains(&format!("cachetop_reclaimable_entries{{{d}}} 1\n")));
        assert!(text.contains(&format!(
            "cachetop_source_scrape_duration_seconds{{{d}}} 1.5\n"
        )));
        assert_eq!(
            samples(&text, "cachetop_source_scrape_duration_seconds").len(),
            1,
            "only measured sources"
        );
        assert!(text.contains("cachetop_gha_cache_usage_bytes{name=\"octo/app\"} 1234\n"));
        assert!(text.contains("cachetop_gha_cache_limit_bytes{name=\"octo/app\"} 10000000000\n"));
        assert!(text.contains("cachetop_report_timestamp_seconds 1767323045\n"));
        assert!(text.contains("cachetop_stale_after_seconds 3600\n"));
        let total: u64 = samples(&text, "cachetop_entry_bytes")
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(total, inv.totals().size_bytes);
    }

    #[test]
    fn a_failed_source_is_down_with_no_entry_series() {
        let (inv, _, _, down) = inventory();
        let text = render(&inv, &Timings::new(), &Disks::default());
        let labels = r#"source="registry",name="r:5000/app:cache""#;
        assert!(text.contains(&format!("cachetop_source_up{{{labels}}} 0\n")));
        assert!(text.contains("cachetop_source_up{source=\"docker\""));
        let of_down: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&down.name) && !l.starts_with("cachetop_source_up"))
            .collect();
        assert!(of_down.is_empty(), "{of_down:?}");
    }

    #[test]
    fn hostile_label_values_are_escaped_and_inert() {
        let (inv, _, dir, _) = inventory();
        let text = render(&inv, &Timings::new(), &Disks::default());
        assert!(!text.chars().any(|c| is_unsafe(c) && c != '\n'), "{text}");
        let written = r#"name="/cache/a \"b\"\\c\nd\\x1be\\u{202e}""#;
        assert!(
            text.contains(&format!(
                "cachetop_source_up{{source=\"dir\",{written}}} 1\n"
            )),
            "{text}"
        );
        // Every line is one sample, comment or family: no value broke a line.
        for line in text.lines() {
            assert!(
                line.starts_with("cachetop_") || line.starts_with("# "),
                "{line:?}"
            );
        }
        assert!(dir.name.contains('\n'));
    }

    #[test]
    fn filesystems_are_labelled_by_mount_point() {
        use crate::filesystems::{Owner, Probe, Usage, group};
        let (inv, docker, ..) = inventory();
        let mut disks = group(vec![(
            Owner::Source(docker),
            Probe {
                device: 7,
                mount_point: "/var/lib/do\"cker".into(),
                usage: Usage {
                    size_bytes: 1000,
                    used_bytes: 600,
                    free_bytes: 400,
                },
            },
        )]);
        disks.filesystems[0].reclaimable_bytes = 250;
        let text = render(&inv, &Timings::new(), &disks);
        let l = r#"{path="/var/lib/do\"cker"}"#;
        assert!(
            text.contains(&format!("cachetop_filesystem_size_bytes{l} 1000\n")),
            "{text}"
        );
        assert!(text.contains(&format!("cachetop_filesystem_used_bytes{l} 600\n")));
        assert!(text.contains(&format!("cachetop_filesystem_free_bytes{l} 400\n")));
        assert!(text.contains(&format!("cachetop_filesystem_reclaimable_bytes{l} 250\n")));
    }
}
