//! What the screen's repairs removed, so a repaired entry is judged against what is
//! left on disk and not against the source's figure from before the repair (see
//! [`crate::policy::judge_repaired`]).

use std::collections::HashMap;

use crate::model::Entry;
use crate::plan::Outcome;
use crate::policy::{Repaired, judge_repaired};
use crate::tui::listing::{EntryList, Key, key_of};
use crate::units::format_size;

/// Shown in the details pane of an entry judged this way.
pub const NOTE_KEY: &str = "Repaired";

#[derive(Debug, Default)]
pub struct RepairMemory {
    by_entry: HashMap<Key, Repaired>,
}

impl RepairMemory {
    /// Remembers what a repair removed from each entry, with the figure the source
    /// reported for it when the repair ran.
    pub fn remember(&mut self, outcome: &Outcome, list: &EntryList) {
        for d in &outcome.done {
            let key: Key = (d.source.clone(), d.id.clone());
            let Some(e) = list.get(&key) else {
                continue;
            };
            let reported_bytes = e.size_bytes;
            let r = self.by_entry.entry(key).or_insert(Repaired {
                reported_bytes,
                removed_bytes: 0,
            });
            if r.reported_bytes != reported_bytes {
                *r = Repaired {
                    reported_bytes,
                    removed_bytes: 0,
                };
            }
            r.removed_bytes = r.removed_bytes.saturating_add(d.bytes);
        }
    }

    /// Judges the entries a repair changed; forgets those whose source reports a new
    /// figure.
    pub fn judge(&mut self, entries: &mut [Entry]) {
        if self.by_entry.is_empty() {
            return;
        }
        for e in entries {
            let key = key_of(e);
            let Some(r) = self.by_entry.get(&key) else {
                continue;
            };
            if judge_repaired(e, r) {
                e.details.insert(
                    NOTE_KEY.to_string(),
                    format!(
                        "{} removed; the source still reports its size from before",
                        format_size(r.removed_bytes)
                    ),
                );
            } else {
                self.by_entry.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Flag, SourceKind, SourceRef};
    use crate::plan::Done;
    use crate::policy::{Policy, classify};
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_repaired_entry_is_not_size_mismatched_by_the_stale_figure() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let src = SourceRef::new(SourceKind::Docker, "unix:///d");
        let mut before = Entry::new(src.clone(), "m", "exec.cachemount");
        before.size_bytes = 50_000_000;
        before.disk_bytes = Some(50_000_000);
        let mut list = EntryList::new();
        list.replace_source(&src, vec![before.clone()], now);
        let mut memory = RepairMemory::default();
        memory.remember(
            &Outcome {
                done: vec![Done {
                    source: src.clone(),
                    id: "m".into(),
                    path: Some("registry/src/x/big-1.0.0".into()),
                    bytes: 30_000_000,
                    planned: true,
                }],
                ..Default::default()
            },
            &list,
        );
        // The refresh after the repair: same figure from the daemon, 20 MB on disk.
        let mut after = vec![before.clone()];
        after[0].disk_bytes = Some(20_000_000);
        classify(&mut after, &Policy::default(), now);
        assert!(after[0].has(Flag::SizeMismatch));
        memory.judge(&mut after);
        assert!(!after[0].has(Flag::SizeMismatch));
        assert!(after[0].details[NOTE_KEY].starts_with("30 MB removed"));
        // A build used it and the daemon measured again: judged as any other.
        let mut later = vec![before];
        later[0].size_bytes = 80_000_000;
        later[0].disk_bytes = Some(20_000_000);
        classify(&mut later, &Policy::default(), now);
        memory.judge(&mut later);
        assert!(later[0].has(Flag::SizeMismatch));
        assert!(memory.by_entry.is_empty());
    }
}
