//! Reads every configured source at once and classifies what they hold.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;

use crate::model::{Entry, Flag, SourceRef};
use crate::policy::{Policy, classify};
use crate::sources::{Listing, SharedSource, SourceError};

/// How one source fared.
#[derive(Clone, Debug)]
pub struct SourceStatus {
    pub source: SourceRef,
    pub error: Option<SourceError>,
    pub summary: String,
    pub details: serde_json::Value,
}

impl SourceStatus {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub fn from_result(source: SourceRef, result: &Result<Listing, SourceError>) -> Self {
        match result {
            Ok(l) => Self {
                source,
                error: None,
                summary: l.summary.clone(),
                details: l.details.clone(),
            },
            Err(e) => Self {
                source,
                error: Some(e.clone()),
                summary: String::new(),
                details: serde_json::Value::Object(Default::default()),
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct Inventory {
    pub generated_at: DateTime<Utc>,
    pub policy: Policy,
    pub sources: Vec<SourceStatus>,
    /// Classified, largest first.
    pub entries: Vec<Entry>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub entries: usize,
    /// Sum of `effective_bytes`: measured when known, else reported.
    pub size_bytes: u64,
    /// Sum of the sizes the sources report.
    pub reported_bytes: u64,
    pub stale_entries: usize,
    pub stale_bytes: u64,
    pub partial_entries: usize,
}

impl Inventory {
    pub fn totals(&self) -> Totals {
        totals(&self.entries)
    }

    pub fn failed_sources(&self) -> impl Iterator<Item = &SourceStatus> {
        self.sources.iter().filter(|s| !s.ok())
    }
}

/// Sizes count what is on disk when it was measured, else what the source reports.
pub fn totals<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Totals {
    let mut t = Totals::default();
    for e in entries {
        t.entries += 1;
        t.size_bytes = t.size_bytes.saturating_add(e.effective_bytes());
        t.reported_bytes = t.reported_bytes.saturating_add(e.size_bytes);
        if e.has(Flag::Stale) {
            t.stale_entries += 1;
            t.stale_bytes = t.stale_bytes.saturating_add(e.effective_bytes());
        }
        if e.has(Flag::Partial) {
            t.partial_entries += 1;
        }
    }
    t
}

/// Largest first; ties broken by id so output is stable.
pub fn sort_by_size(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        b.effective_bytes()
            .cmp(&a.effective_bytes())
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Lists every source concurrently. A failed source is reported, the others still show.
pub async fn collect(sources: &[SharedSource], policy: &Policy, now: DateTime<Utc>) -> Inventory {
    let results = join_all(sources.iter().map(|s| s.list())).await;
    let mut statuses = Vec::with_capacity(sources.len());
    let mut entries = Vec::new();
    for (source, result) in sources.iter().zip(results) {
        statuses.push(SourceStatus::from_result(
            source.source_ref().clone(),
            &result,
        ));
        if let Ok(listing) = result {
            if entries.is_empty() {
                entries = listing.entries; // no copy of a large list
            } else {
                entries.extend(listing.entries);
            }
        }
    }
    classify(&mut entries, policy, now);
    sort_by_size(&mut entries);
    Inventory {
        generated_at: now,
        policy: policy.clone(),
        sources: statuses,
        entries,
    }
}

/// Reports scan progress: (entries done, entries to scan).
pub type ScanProgress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Looks inside the content of every entry `want` picks (`scan::scan_entry` on
/// blocking threads), then classifies and sorts again: measured sizes and findings
/// change flags and order.
pub async fn scan(
    inv: &mut Inventory,
    want: impl Fn(&Entry) -> bool + Send + Sync + 'static,
    progress: ScanProgress,
) {
    let mut entries = std::mem::take(&mut inv.entries);
    let scanned = tokio::task::spawn_blocking(move || {
        // A bug in a detector must cost its findings, never the inventory.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::scan::scan_selected(&mut entries, &want, &*progress)
        }));
        entries
    })
    .await;
    if let Ok(entries) = scanned {
        inv.entries = entries;
    }
    classify(&mut inv.entries, &inv.policy, inv.generated_at);
    sort_by_size(&mut inv.entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SourceKind, SourceRef};

    #[test]
    fn totals_are_sums_of_fields_each_entry_shows() {
        let src = SourceRef::new(SourceKind::Dir, "/home/ci/.cargo");
        let mut measured = Entry::new(src.clone(), "registry/src", "cargo.registry-src");
        measured.size_bytes = 1_000; // what cargo's database recorded
        measured.disk_bytes = Some(5_000); // what is on disk now
        measured.flags.insert(Flag::Stale);
        let mut reported = Entry::new(src, "registry/cache", "cargo.registry-cache");
        reported.size_bytes = 300;
        let t = totals([&measured, &reported]);
        assert_eq!(t.entries, 2);
        assert_eq!(
            t.size_bytes,
            measured.effective_bytes() + reported.effective_bytes()
        );
        assert_eq!(t.size_bytes, 5_300);
        assert_eq!(t.reported_bytes, 1_300);
        assert_eq!(t.stale_bytes, 5_000);
    }
}
