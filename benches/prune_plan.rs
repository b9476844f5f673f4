//! Budget (issue 10): `prune --dry-run` (planning, then the plan as text and as the
//! `cachetop.prune.v1` document) and the execution of that plan grow linearly with the
//! entries: 100,000 take about ten times what 10,000 take, never a hundred.
//!
//!     cargo bench --bench prune_plan
//!
//! The entries are stale BuildKit records, one in ten the child of the one before; the
//! execution runs against a source held in memory, so only cachetop's own work is
//! timed (one re-read of the source, then one delete per planned record).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};

use cachetop::model::{Entry, Flag, Origin, SourceKind, SourceRef};
use cachetop::policy::Policy;
use cachetop::prune::{Selector, build_plan, execute};
use cachetop::report::{json, table};
use cachetop::sources::{Deletion, Listing, SharedSource, Source, SourceError};

const SIZES: [usize; 2] = [10_000, 100_000];
const RUNS: usize = 5;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

fn source() -> SourceRef {
    SourceRef::new(SourceKind::Docker, "unix:///bench.sock")
}

fn id(i: usize) -> String {
    format!("rec{i:022}")
}

fn record(i: usize) -> Entry {
    let mut e = Entry::new(source(), id(i), "exec.cachemount");
    e.description = format!("cached mount /cache/{i} from exec /bin/sh -c make");
    e.size_bytes = 1_000 + i as u64;
    e.last_used_at = Some(now() - chrono::Duration::days(30));
    e.usage_count = Some(1);
    e.flags.insert(Flag::Stale);
    if i % 10 == 1 {
        e.details.insert("parents".into(), id(i - 1));
        e.origin = Origin::Docker {
            parents: vec![id(i - 1)],
        };
    }
    e
}

/// A source held in memory: listing copies it, a delete removes one record.
struct MemSource {
    sref: SourceRef,
    entries: Mutex<HashMap<String, Entry>>,
}

#[async_trait]
impl Source for MemSource {
    fn source_ref(&self) -> &SourceRef {
        &self.sref
    }

    async fn list(&self) -> Result<Listing, SourceError> {
        Ok(Listing {
            entries: self.entries.lock().unwrap().values().cloned().collect(),
            ..Default::default()
        })
    }

    async fn delete(&self, entry: &Entry) -> Result<Deletion, SourceError> {
        let gone = self.entries.lock().unwrap().remove(&entry.id);
        Ok(Deletion {
            deleted_ids: gone.map(|e| vec![e.id]).unwrap_or_default(),
            reclaimed_bytes: Some(entry.size_bytes),
        })
    }
}

struct Times {
    plan: Duration,
    execute: Duration,
}

fn once(n: usize, rt: &tokio::runtime::Runtime) -> Times {
    let entries: Vec<Entry> = (0..n).map(record).collect();
    let selector = Selector {
        flags: vec![Flag::Stale],
        ..Default::default()
    };

    let start = Instant::now();
    let plan = build_plan(&entries, &selector, now());
    let text = table::render_plan(&plan);
    let mut doc = Vec::new();
    json::write_json(&mut doc, &json::prune_doc(&plan, None)).unwrap();
    let plan_time = start.elapsed();
    assert_eq!(plan.items.len(), n, "every record is planned");
    assert!(text.len() > n && doc.len() > n);

    let src = Arc::new(MemSource {
        sref: source(),
        entries: Mutex::new(entries.into_iter().map(|e| (e.id.clone(), e)).collect()),
    });
    let sources: Vec<SharedSource> = vec![src.clone()];
    let start = Instant::now();
    let outcome = rt.block_on(execute(&plan, &sources, &Policy::default(), now(), &|_| {}));
    let execute_time = start.elapsed();
    assert_eq!(outcome.deleted.len(), n, "every record is deleted");
    assert!(src.entries.lock().unwrap().is_empty());
    Times {
        plan: plan_time,
        execute: execute_time,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut per_entry = Vec::new();
    for n in SIZES {
        let runs: Vec<Times> = (0..RUNS).map(|_| once(n, &rt)).collect();
        let plan = median(runs.iter().map(|t| t.plan).collect());
        let exec = median(runs.iter().map(|t| t.execute).collect());
        let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "{n:>7} entries: dry run (plan, text, JSON) {:>8.1} ms ({:.2} µs/entry); \
             execution {:>8.1} ms ({:.2} µs/entry)",
            plan.as_secs_f64() * 1e3,
            us(plan),
            exec.as_secs_f64() * 1e3,
            us(exec),
        );
        per_entry.push((us(plan), us(exec)));
    }
    let (small, large) = (per_entry[0], per_entry[1]);
    println!(
        "per-entry time at {} over {}: dry run x{:.2}, execution x{:.2} (1 is linear; quadratic would be x{})",
        SIZES[1],
        SIZES[0],
        large.0 / small.0,
        large.1 / small.1,
        SIZES[1] / SIZES[0]
    );
    // Linear with room for cache effects; quadratic would be 10 times per entry.
    assert!(large.0 / small.0 < 3.0, "dry run is not linear");
    assert!(large.1 / small.1 < 3.0, "execution is not linear");
}
