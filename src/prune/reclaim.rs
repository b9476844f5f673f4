//! "Reclaimable now" per filesystem: what the stale eviction (the screen's `E`,
//! `prune --stale`) would free on each, from the planner's own decisions.

use chrono::{DateTime, Utc};

use super::planner::build_plan;
use super::selector::Selector;
use crate::filesystems::Disks;
use crate::model::{Entry, Flag};
use crate::plan::Item;

/// The selector of the stale eviction.
pub fn stale_eviction() -> Selector {
    Selector {
        flags: vec![Flag::Stale],
        ..Default::default()
    }
}

/// Sets each filesystem's `reclaimable_bytes`: what the stale eviction would free
/// there, only what it would plan (nothing in use, shared or kept for any reason).
pub fn fill_reclaimable(disks: &mut Disks, entries: &[Entry], now: DateTime<Utc>) {
    if disks.filesystems.is_empty() {
        return;
    }
    let mut sums = vec![0u64; disks.filesystems.len()];
    let plan = build_plan(entries, &stale_eviction(), now);
    for item in &plan.items {
        if let Some(slot) = disks.of_entry(&item.entry).and_then(|i| sums.get_mut(i)) {
            *slot = slot.saturating_add(item.bytes());
        }
    }
    for (fs, sum) in disks.filesystems.iter_mut().zip(sums) {
        fs.reclaimable_bytes = sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filesystems::{Owner, Probe, Usage, group};
    use crate::model::{SourceKind, SourceRef};

    #[test]
    fn only_what_the_stale_eviction_would_delete_counts() {
        let docker = SourceRef::new(SourceKind::Docker, "unix:///d");
        let dir = SourceRef::new(SourceKind::Dir, "/c");
        let probe = |device| Probe {
            device,
            mount_point: "/".into(),
            usage: Usage::default(),
        };
        let mut disks = group(vec![
            (Owner::Source(docker.clone()), probe(1)),
            (Owner::Source(dir.clone()), probe(2)),
        ]);
        let entry = |s: &SourceRef, id: &str, size: u64, stale: bool| {
            let mut e = Entry::new(s.clone(), id, "regular");
            e.size_bytes = size;
            if stale {
                e.flags.insert(Flag::Stale);
            }
            e
        };
        let mut busy = entry(&docker, "busy", 1000, true);
        busy.in_use = true;
        let mut shared = entry(&docker, "shared", 2000, true);
        shared.shared = true;
        let gha = entry(&SourceRef::new(SourceKind::Gha, "o/r"), "g", 7, true);
        let entries = vec![
            entry(&docker, "old", 100, true),
            entry(&docker, "fresh", 50, false),
            busy,
            shared,
            entry(&dir, "d", 30, true),
            gha,
        ];
        fill_reclaimable(&mut disks, &entries, chrono::Utc::now());
        let got: Vec<u64> = disks
            .filesystems
            .iter()
            .map(|f| f.reclaimable_bytes)
            .collect();
        assert_eq!(got, vec![100, 30]);
    }
}
