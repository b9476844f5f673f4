//! The live screen's pure parts: which entries a background refresh looks into again
//! (only those whose record changed since their last scan), and what the screen knows
//! of the last reading (when, the disks, the budget, a refresh that failed).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::filesystems::Disks;
use crate::inventory::SourceStatus;
use crate::model::Entry;
use crate::policy::{Policy, classify_entry};
use crate::prune::Budget;
use crate::prune::lock::LockError;
use crate::scan::Scanner;
use crate::tui::listing::{Key, key_of};

/// What an entry's record said when its content was looked into. A record that still
/// says the same has the same content as far as anyone can tell; one that changed
/// (grew, was used, was taken or released by a build) is looked into again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    size_bytes: u64,
    last_used_at: Option<DateTime<Utc>>,
    usage_count: Option<u64>,
    in_use: bool,
}

impl Fingerprint {
    pub fn of(e: &Entry) -> Self {
        Self {
            size_bytes: e.size_bytes,
            last_used_at: e.last_used_at,
            usage_count: e.usage_count,
            in_use: e.in_use,
        }
    }
}

/// A digest of everything a source's listing says (its state and every fact of every
/// entry, flags included): a background listing with the same digest as the last one
/// sent changes nothing on screen, so it is not sent, and the table is not rebuilt.
pub fn listing_digest(status: &SourceStatus, entries: &[Entry]) -> u64 {
    use std::fmt::Write as _;
    use std::hash::Hasher;
    struct Feed(std::collections::hash_map::DefaultHasher);
    impl std::fmt::Write for Feed {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write(s.as_bytes());
            Ok(())
        }
    }
    let mut feed = Feed(Default::default());
    // Debug writes every field; fed straight into the hasher, never built as a string.
    let _ = write!(feed, "{status:?}{entries:?}");
    feed.0.finish()
}

/// What a scan adds to an entry (see `scan::apply`).
#[derive(Clone, Debug)]
struct Scanned {
    disk_bytes: Option<u64>,
    content: Option<crate::model::Content>,
    findings: Vec<crate::model::Finding>,
}

/// Scan results kept between refreshes, by entry, with the record they were made from.
#[derive(Debug, Default)]
pub struct ScanMemory {
    seen: HashMap<Key, (Fingerprint, Scanned)>,
    /// Bumped by [`ScanMemory::forget_all`]: a scan begun before (still running on a
    /// blocking thread, say during a repair) cannot bring back what it saw.
    epoch: u64,
}

impl ScanMemory {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Keeps what a scan of `listed`, begun in `epoch`, found.
    pub fn remember(&mut self, epoch: u64, listed: &Entry, scanned: &Entry) {
        if epoch != self.epoch {
            return;
        }
        self.seen.insert(
            key_of(listed),
            (
                Fingerprint::of(listed),
                Scanned {
                    disk_bytes: scanned.disk_bytes,
                    content: scanned.content.clone(),
                    findings: scanned.findings.clone(),
                },
            ),
        );
    }

    /// Whether the entry's content was looked into since its record last changed.
    pub fn knows(&self, e: &Entry) -> bool {
        self.seen
            .get(&key_of(e))
            .is_some_and(|(fp, _)| *fp == Fingerprint::of(e))
    }

    /// Puts the remembered scan results back on the entries whose record has not
    /// changed, and classifies those again (a size mismatch, a partial finding).
    /// Returns how many were filled in.
    pub fn restore(&self, entries: &mut [Entry], policy: &Policy, now: DateTime<Utc>) -> usize {
        let mut n = 0;
        for e in entries.iter_mut() {
            let Some((fp, s)) = self.seen.get(&key_of(e)) else {
                continue;
            };
            if *fp != Fingerprint::of(e) {
                continue;
            }
            e.disk_bytes = s.disk_bytes;
            e.content = s.content.clone();
            e.findings = s.findings.clone();
            classify_entry(e, policy, now);
            n += 1;
        }
        n
    }

    /// Forgets every entry not listed any more.
    pub fn keep_only(&mut self, listed: &HashSet<Key>) {
        self.seen.retain(|k, _| listed.contains(k));
    }

    pub fn forget_all(&mut self) {
        self.seen.clear();
        self.epoch += 1;
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// A scanner that looks only into entries whose record changed since their last scan,
/// and remembers what it finds.
pub struct Remembering {
    pub inner: Arc<dyn Scanner>,
    pub memory: Arc<Mutex<ScanMemory>>,
    /// The memory's epoch when this refresh began.
    pub epoch: u64,
}

impl Scanner for Remembering {
    fn wants(&self, entry: &Entry) -> bool {
        let known = self.memory.lock().is_ok_and(|m| m.knows(entry));
        !known && self.inner.wants(entry)
    }

    fn scan(&self, entry: &Entry) -> Option<Entry> {
        let scanned = self.inner.scan(entry)?;
        if let Ok(mut m) = self.memory.lock() {
            m.remember(self.epoch, entry, &scanned);
        }
        Some(scanned)
    }
}

/// What the screen knows of the last reading, for the header.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// How often the worker refreshes by itself; none: only on `r`.
    pub interval: Option<Duration>,
    /// The config file's budget, which `B` plans (empty: none set).
    pub budget: Budget,
    /// When the sources were last read whole.
    pub read_at: Option<DateTime<Utc>>,
    /// The filesystems that hold what was listed, with what `E` would free on each.
    pub disks: Option<Arc<Disks>>,
    /// The refresh under way runs in the background: a source that fails keeps its
    /// last entries instead of emptying the table.
    pub background: bool,
    /// What failed in the background refresh under way.
    pub failing: Vec<String>,
    /// What failed in the last background refresh, with when it was tried.
    pub failed: Option<(DateTime<Utc>, String)>,
}

impl Live {
    /// A reading is over: its time, unless a source failed (the data shown is then
    /// older, and the header says so).
    pub fn read(&mut self, at: DateTime<Utc>) {
        if self.failing.is_empty() {
            self.read_at = Some(at);
            self.failed = None;
        } else {
            self.failed = Some((at, self.failing.join("; ")));
        }
        self.failing.clear();
    }
}

/// What `B` says with no budget in the config file.
pub const NO_BUDGET: &str = "no budget is set: add max_used = \"50GB\" and/or keep_free = \"15%\" \
     to the config file (~/.config/cachetop/config.toml, or --config FILE), then start cachetop again";

/// The message a screen deletion shows when the machine's prune lock is taken.
pub fn lock_message(e: &LockError) -> (String, Vec<String>) {
    match e {
        LockError::Busy { path, holder } | LockError::TimedOut { path, holder, .. } => (
            "Another prune is running".to_string(),
            vec![
                format!("Another cachetop prune is running on this machine{holder}."),
                "Nothing was deleted: one prune at a time, so two never delete from the same \
                 plan."
                    .to_string(),
                "Try again when it has finished (press the key again; the plan is made anew)."
                    .to_string(),
                format!("Lock file: {}", path.display()),
            ],
        ),
        LockError::Io { .. } => (
            "The prune lock cannot be taken".to_string(),
            vec![
                format!("{e}."),
                "Nothing was deleted. Set CACHETOP_LOCK_DIR to a directory of your own and \
                 start cachetop again."
                    .to_string(),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Content, SourceKind, SourceRef};
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn entry(id: &str, size: u64, used: i64) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "d"),
            id,
            "exec.cachemount",
        );
        e.size_bytes = size;
        e.last_used_at = Some(at(used));
        e.content = Some(Content {
            path: format!("/var/lib/docker/overlay2/{id}/diff"),
            ..Default::default()
        });
        e
    }

    /// What a scan of `e` returns: measured bigger than reported.
    fn scanned(e: &Entry) -> Entry {
        let mut s = e.clone();
        s.disk_bytes = Some(e.size_bytes * 10 + 5_000_000);
        s.content.as_mut().unwrap().files = Some(3);
        s
    }

    #[test]
    fn only_new_entries_and_changed_records_are_looked_into_again() {
        let mut m = ScanMemory::default();
        let a = entry("a", 100, 0);
        let b = entry("b", 200, 0);
        m.remember(0, &a, &scanned(&a));
        m.remember(0, &b, &scanned(&b));
        assert!(m.knows(&a) && m.knows(&b));
        assert!(!m.knows(&entry("new", 100, 0)), "a new entry");
        assert!(!m.knows(&entry("a", 101, 0)), "its size changed");
        assert!(!m.knows(&entry("a", 100, 5)), "it was used since");
        let mut more = a.clone();
        more.usage_count = Some(9);
        assert!(!m.knows(&more), "its use count changed");
        let mut taken = a.clone();
        taken.in_use = true;
        assert!(!m.knows(&taken), "a build took it");
        let mut renamed = a.clone();
        renamed.description = "only the words changed".into();
        assert!(m.knows(&renamed), "the record's facts are the same");
        let other_source = {
            let mut e = a.clone();
            e.source = SourceRef::new(SourceKind::Docker, "other");
            e
        };
        assert!(!m.knows(&other_source), "the same id on another daemon");
    }

    #[test]
    fn remembered_results_come_back_on_unchanged_entries_and_are_classified() {
        let mut m = ScanMemory::default();
        let a = entry("a", 100, 0);
        m.remember(0, &a, &scanned(&a));
        let mut listed = vec![entry("a", 100, 0), entry("a2", 100, 0), entry("a", 7, 0)];
        listed[2].id = "a".into();
        listed[2].size_bytes = 7;
        let n = m.restore(&mut listed, &Policy::default(), at(10));
        assert_eq!(n, 1);
        assert_eq!(listed[0].disk_bytes, Some(5_001_000));
        assert!(
            listed[0].has(crate::model::Flag::SizeMismatch),
            "classified with the scan's size"
        );
        assert_eq!(listed[1].disk_bytes, None);
        assert_eq!(
            listed[2].disk_bytes, None,
            "its record changed: no old results"
        );
        m.keep_only(&[key_of(&listed[1])].into_iter().collect());
        assert!(m.is_empty(), "a is no longer listed as it was remembered");
    }

    #[test]
    fn the_remembering_scanner_skips_what_it_knows() {
        let calls = Arc::new(Mutex::new(0usize));
        let counted = calls.clone();
        let inner: Arc<dyn Scanner> = Arc::new(move |e: &Entry| {
            *counted.lock().unwrap() += 1;
            Some(scanned(e))
        });
        let s = Remembering {
            inner,
            memory: Arc::default(),
            epoch: 0,
        };
        let a = entry("a", 100, 0);
        assert!(s.wants(&a));
        assert!(s.scan(&a).is_some());
        assert!(!s.wants(&a), "scanned and unchanged");
        assert!(s.wants(&entry("a", 100, 1)), "used since");
        assert_eq!(*calls.lock().unwrap(), 1);
        s.memory.lock().unwrap().forget_all();
        assert!(s.wants(&a), "a full refresh looks again");
        s.scan(&a);
        assert!(
            s.wants(&a),
            "a scan begun before the memory was cleared is not remembered"
        );
    }

    #[test]
    fn the_digest_changes_with_any_fact_of_the_listing() {
        let status = SourceStatus {
            source: SourceRef::new(SourceKind::Docker, "d"),
            error: None,
            summary: "Docker 27".into(),
            details: serde_json::Value::Null,
            location: None,
            host: None,
        };
        let listing = vec![entry("a", 100, 0), entry("b", 100, 0)];
        let d = listing_digest(&status, &listing);
        assert_eq!(d, listing_digest(&status, &listing.clone()));
        let mut flagged = listing.clone();
        flagged[1].flags.insert(crate::model::Flag::Stale);
        assert_ne!(
            d,
            listing_digest(&status, &flagged),
            "a flag that flipped with time"
        );
        let mut described = listing.clone();
        described[0].description = "x".into();
        assert_ne!(d, listing_digest(&status, &described));
        let mut summary = status.clone();
        summary.summary = "Docker 28".into();
        assert_ne!(d, listing_digest(&summary, &listing));
        assert_ne!(d, listing_digest(&status, &listing[..1]));
    }

    #[test]
    fn a_failed_background_reading_keeps_the_last_read_time() {
        let mut live = Live::default();
        live.read(at(0));
        assert_eq!(live.read_at, Some(at(0)));
        live.failing.push("docker d: connection refused".into());
        live.read(at(5));
        assert_eq!(live.read_at, Some(at(0)), "the data shown is from then");
        assert_eq!(
            live.failed,
            Some((at(5), "docker d: connection refused".to_string()))
        );
        live.read(at(10));
        assert_eq!(live.read_at, Some(at(10)));
        assert_eq!(live.failed, None);
    }

    #[test]
    fn the_lock_message_names_the_holder_and_says_to_try_again() {
        let busy = LockError::Busy {
            path: "/run/cachetop/prune-1.lock".into(),
            holder: " (pid 4242)".into(),
        };
        let (title, lines) = lock_message(&busy);
        assert_eq!(title, "Another prune is running");
        let text = lines.join("\n");
        assert!(text.contains("(pid 4242)"), "{text}");
        assert!(text.contains("Nothing was deleted"), "{text}");
        assert!(text.contains("Try again"), "{text}");
        assert!(text.contains("/run/cachetop/prune-1.lock"), "{text}");
        let io = LockError::Io {
            path: "/x".into(),
            why: "denied".into(),
        };
        assert!(lock_message(&io).1.join(" ").contains("CACHETOP_LOCK_DIR"));
    }
}
