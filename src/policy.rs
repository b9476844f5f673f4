//! Classification: a pure function of entries, a policy and `now`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{Entry, Flag};

pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(7 * 86_400);
const MIB: u64 = 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// An entry not used for this long is stale.
    pub stale_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            stale_after: DEFAULT_STALE_AFTER,
        }
    }
}

/// Sets the derived flags of every entry. `orphaned` is set by the source that can
/// see the graph, so it is kept as found.
pub fn classify(entries: &mut [Entry], policy: &Policy, now: DateTime<Utc>) {
    for e in entries {
        classify_entry(e, policy, now);
    }
}

pub fn classify_entry(e: &mut Entry, policy: &Policy, now: DateTime<Utc>) {
    let orphaned = e.has(Flag::Orphaned);
    e.flags.clear();
    if orphaned {
        e.flags.insert(Flag::Orphaned);
    }
    if e.in_use {
        e.flags.insert(Flag::InUse);
    } else if is_stale(e, policy, now) {
        // Something in use right now is by definition not stale.
        e.flags.insert(Flag::Stale);
    }
    if !e.findings.is_empty() {
        e.flags.insert(Flag::Partial);
    }
    if let Some(disk) = e.disk_bytes
        && sizes_disagree(e.size_bytes, disk)
    {
        e.flags.insert(Flag::SizeMismatch);
    }
}

fn is_stale(e: &Entry, policy: &Policy, now: DateTime<Utc>) -> bool {
    match e.last_activity() {
        Some(t) => idle_for(t, now) >= policy.stale_after,
        // Never used and no creation time: we cannot tell, so we do not accuse it.
        None => false,
    }
}

/// How long since `t`; zero when `t` is in the future (clock skew).
pub fn idle_for(t: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - t).to_std().unwrap_or(Duration::ZERO)
}

/// What a repair removed from an entry, to judge its size by afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repaired {
    /// The source's figure when the repair ran.
    pub reported_bytes: u64,
    /// What the repair removed.
    pub removed_bytes: u64,
}

/// Judges the size of an entry a repair changed. BuildKit measures a cache mount again
/// only when a build next uses it, so after a repair the daemon goes on reporting its
/// figure from before: compared with the repaired content it would cry `SIZE?`. While
/// the source reports that same figure, the measured size is compared with it less
/// what the repair removed. False when the source reports a new figure: the repair is
/// behind it and the ordinary rule (already applied) holds.
pub fn judge_repaired(e: &mut Entry, repaired: &Repaired) -> bool {
    if e.size_bytes != repaired.reported_bytes {
        return false;
    }
    if let Some(disk) = e.disk_bytes {
        let expected = repaired
            .reported_bytes
            .saturating_sub(repaired.removed_bytes);
        if sizes_disagree(expected, disk) {
            e.flags.insert(Flag::SizeMismatch);
        } else {
            e.flags.remove(&Flag::SizeMismatch);
        }
    }
    true
}

/// Reported and measured sizes differ by more than max(1 MiB, 10% of the reported size).
pub fn sizes_disagree(reported: u64, disk: u64) -> bool {
    let diff = reported.abs_diff(disk);
    diff > MIB.max(reported / 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, SourceKind, SourceRef};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    fn entry(last_used_days_ago: Option<i64>) -> Entry {
        let mut e = Entry::new(
            SourceRef::new(SourceKind::Docker, "unix:///x"),
            "abc",
            "exec.cachemount",
        );
        e.created_at = Some(now() - chrono::Duration::days(60));
        e.last_used_at = last_used_days_ago.map(|d| now() - chrono::Duration::days(d));
        e
    }

    fn classified(mut e: Entry, policy: &Policy) -> Entry {
        classify_entry(&mut e, policy, now());
        e
    }

    #[test]
    fn stale_after_the_policy_age_and_not_before() {
        let p = Policy::default();
        assert!(classified(entry(Some(8)), &p).has(Flag::Stale));
        assert!(classified(entry(Some(7)), &p).has(Flag::Stale));
        assert!(!classified(entry(Some(6)), &p).has(Flag::Stale));
        let short = Policy {
            stale_after: Duration::from_secs(86_400),
        };
        assert!(classified(entry(Some(2)), &short).has(Flag::Stale));
    }

    #[test]
    fn after_a_repair_the_measured_size_is_judged_against_what_is_left() {
        const MB: u64 = 1_000_000;
        let repaired = Repaired {
            reported_bytes: 500 * MB,
            removed_bytes: 200 * MB,
        };
        // The daemon still reports 500 MB; 300 MB are left on disk.
        let mut e = entry(Some(1));
        e.size_bytes = 500 * MB;
        e.disk_bytes = Some(300 * MB);
        classify_entry(&mut e, &Policy::default(), now());
        assert!(e.has(Flag::SizeMismatch), "the plain rule cries SIZE?");
        assert!(judge_repaired(&mut e, &repaired));
        assert!(
            !e.has(Flag::SizeMismatch),
            "what is left is what is expected"
        );
        // Content that disagrees with what is left is still flagged.
        e.disk_bytes = Some(450 * MB);
        assert!(judge_repaired(&mut e, &repaired));
        assert!(e.has(Flag::SizeMismatch));
        // Not measured yet: nothing is decided, the repair is still remembered.
        e.disk_bytes = None;
        e.flags.clear();
        assert!(judge_repaired(&mut e, &repaired));
        assert!(!e.has(Flag::SizeMismatch));
        // The daemon measured again: its figure stands, the repair is forgotten.
        let mut fresh = entry(Some(1));
        fresh.size_bytes = 300 * MB;
        fresh.disk_bytes = Some(100 * MB);
        classify_entry(&mut fresh, &Policy::default(), now());
        assert!(!judge_repaired(&mut fresh, &repaired));
        assert!(fresh.has(Flag::SizeMismatch), "left as classified");
    }

    #[test]
    fn never_used_falls_back_to_creation_time() {
        assert!(classified(entry(None), &Policy::default()).has(Flag::Stale));
        let mut e = entry(None);
        e.created_at = None;
        assert!(!classified(e, &Policy::default()).has(Flag::Stale));
    }

    #[test]
    fn in_use_is_flagged_and_never_stale() {
        let mut e = entry(Some(30));
        e.in_use = true;
        let e = classified(e, &Policy::default());
        assert!(e.has(Flag::InUse));
        assert!(!e.has(Flag::Stale));
    }

    #[test]
    fn future_timestamps_are_not_stale() {
        let mut e = entry(Some(-3));
        e.created_at = e.last_used_at;
        assert!(!classified(e, &Policy::default()).has(Flag::Stale));
    }

    #[test]
    fn size_mismatch_uses_max_of_one_mib_and_ten_percent() {
        assert!(sizes_disagree(0, 6_000_000));
        assert!(!sizes_disagree(0, MIB));
        assert!(sizes_disagree(0, MIB + 1));
        assert!(!sizes_disagree(100 * MIB, 91 * MIB));
        assert!(sizes_disagree(100 * MIB, 89 * MIB));
        let mut e = entry(Some(1));
        e.disk_bytes = Some(6_000_000);
        assert!(classified(e.clone(), &Policy::default()).has(Flag::SizeMismatch));
        e.disk_bytes = None;
        assert!(!classified(e, &Policy::default()).has(Flag::SizeMismatch));
    }

    #[test]
    fn findings_make_an_entry_partial_and_flags_are_recomputed() {
        let mut e = entry(Some(1));
        e.findings.push(Finding {
            kind: crate::model::FindingKind::CargoPartialExtraction,
            path: "registry/src/x/http-1.4.1".into(),
            detail: "no .cargo-ok".into(),
            bytes: 10,
        });
        e.flags.insert(Flag::Stale); // left over from an earlier policy
        let e = classified(e, &Policy::default());
        assert!(e.has(Flag::Partial));
        assert!(!e.has(Flag::Stale));
    }

    #[test]
    fn orphaned_is_kept_as_the_source_set_it() {
        let mut e = entry(Some(1));
        e.flags.insert(Flag::Orphaned);
        assert!(classified(e, &Policy::default()).has(Flag::Orphaned));
    }
}
