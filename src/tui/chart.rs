//! The header's chart of bytes by time since last use. Its buckets come from
//! `--stale-after` (S): used within S/7 (rounded down to a whole unit), within S, for
//! S up to 4S, and 4S or more. The edge at S is the stale rule itself, so the last two
//! bars hold exactly what is stale.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::Entry;
use crate::policy::{DEFAULT_STALE_AFTER, idle_for};
use crate::units::format_duration;

/// Where one bucket ends and the next begins, shortest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgeEdges {
    pub edges: [Duration; 3],
}

impl Default for AgeEdges {
    fn default() -> Self {
        Self::new(DEFAULT_STALE_AFTER)
    }
}

impl AgeEdges {
    pub fn new(stale_after: Duration) -> Self {
        Self {
            edges: [
                whole_unit(stale_after / 7),
                stale_after,
                stale_after.saturating_mul(4),
            ],
        }
    }

    /// The bucket of something idle for `idle`.
    pub fn slot(&self, idle: Duration) -> usize {
        self.edges.iter().take_while(|e| idle >= **e).count()
    }

    /// "<1d", "1d-7d", "7d-4w", "≥4w" for the default 7d.
    pub fn labels(&self) -> [String; 4] {
        let [a, b, c] = self.edges.map(format_duration);
        [
            format!("<{a}"),
            format!("{a}-{b}"),
            format!("{b}-{c}"),
            format!("≥{c}"),
        ]
    }
}

/// `d` rounded down to whole days, hours, minutes or seconds, the largest that fits,
/// so the label reads `5h` rather than `18514s`.
fn whole_unit(d: Duration) -> Duration {
    let secs = d.as_secs();
    let unit = [86_400, 3_600, 60, 1]
        .into_iter()
        .find(|u| secs >= *u)
        .unwrap_or(1);
    Duration::from_secs(secs - secs % unit)
}

/// Bytes in each bucket, and of entries with no time at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgeBuckets {
    pub bytes: [u64; 4],
    pub unknown: u64,
    pub edges: AgeEdges,
}

impl AgeBuckets {
    pub fn of<'a>(
        entries: impl IntoIterator<Item = &'a Entry>,
        now: DateTime<Utc>,
        edges: AgeEdges,
    ) -> Self {
        let mut b = AgeBuckets {
            edges,
            ..Default::default()
        };
        for e in entries {
            let bytes = e.effective_bytes();
            match e.last_activity() {
                None => b.unknown = b.unknown.saturating_add(bytes),
                Some(t) => {
                    let slot = edges.slot(idle_for(t, now));
                    b.bytes[slot] = b.bytes[slot].saturating_add(bytes);
                }
            }
        }
        b
    }

    pub fn labels(&self) -> [String; 4] {
        self.edges.labels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Flag, SourceKind, SourceRef};
    use crate::policy::{Policy, classify};
    use chrono::TimeZone;

    const H: u64 = 3_600;
    const D: u64 = 86_400;

    fn labels(stale_after: u64) -> [String; 4] {
        AgeEdges::new(Duration::from_secs(stale_after)).labels()
    }

    #[test]
    fn buckets_follow_stale_after() {
        assert_eq!(labels(7 * D), ["<1d", "1d-7d", "7d-4w", "≥4w"]);
        assert_eq!(labels(36 * H), ["<5h", "5h-36h", "36h-6d", "≥6d"]);
        assert_eq!(labels(90 * 60), ["<12m", "12m-90m", "90m-6h", "≥6h"]);
        assert_eq!(labels(30 * D), ["<4d", "4d-30d", "30d-120d", "≥120d"]);
        assert_eq!(labels(14 * D), ["<2d", "2d-2w", "2w-8w", "≥8w"]);
    }

    #[test]
    fn the_stale_edge_is_the_stale_rule_for_every_stale_after() {
        let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        for stale_after in [90 * 60, 36 * H, 7 * D, 30 * D] {
            let policy = Policy {
                stale_after: Duration::from_secs(stale_after),
            };
            let edges = AgeEdges::new(policy.stale_after);
            // Idle times on both sides of each edge.
            let mut entries: Vec<Entry> = [0, 1, stale_after / 7, stale_after - 1, stale_after]
                .into_iter()
                .chain([
                    stale_after + 1,
                    4 * stale_after - 1,
                    4 * stale_after,
                    9 * stale_after,
                ])
                .enumerate()
                .map(|(i, idle)| {
                    let mut e = Entry::new(
                        SourceRef::new(SourceKind::Docker, "unix:///d"),
                        format!("e{i}"),
                        "regular",
                    );
                    e.size_bytes = 1 << i;
                    e.last_used_at = Some(now - chrono::Duration::seconds(idle as i64));
                    e
                })
                .collect();
            classify(&mut entries, &policy, now);
            let b = AgeBuckets::of(&entries, now, edges);
            let stale: u64 = entries
                .iter()
                .filter(|e| e.has(Flag::Stale))
                .map(|e| e.size_bytes)
                .sum();
            assert_eq!(b.bytes[2] + b.bytes[3], stale, "stale after {stale_after}s");
            assert_eq!(b.bytes.iter().sum::<u64>(), (1 << entries.len()) - 1);
            // 4S exactly is in the last bucket; just below it is not.
            assert_eq!(edges.slot(Duration::from_secs(4 * stale_after)), 3);
            assert_eq!(edges.slot(Duration::from_secs(4 * stale_after - 1)), 2);
        }
    }
}
