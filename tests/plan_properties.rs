//! The dry run is the real run's plan, for generated records and selectors: the real
//! binary against the loopback Engine stand-in, once with `--dry-run` and once with
//! `--yes`, must print the same `planned[]`, and the real run must send exactly those
//! ids to the daemon, in that order.

use crate::common;

use chrono::{Duration, Utc};
use common::replay::{Replay, ReplayServer};
use common::*;
use proptest::prelude::*;
use proptest::sample::subsequence;
use serde_json::{Value, json};

const KINDS: [&str; 5] = [
    "regular",
    "exec.cachemount",
    "source.local",
    "internal",
    "frontend",
];
const TARGETS: [&str; 2] = ["/cache/cargo", "/var/cache/apt"];
/// Idle times far from every threshold used below (7d stale, 1d/10d unused-for), so
/// the two runs, a moment apart, see the same flags.
const IDLE_HOURS: [i64; 4] = [3, 5 * 24 + 3, 15 * 24 + 3, 40 * 24 + 3];

#[derive(Clone, Debug)]
struct Record {
    kind: &'static str,
    /// Indexes of later records (BuildKit's parent links have no cycles).
    parents: Vec<usize>,
    in_use: bool,
    shared: bool,
    size: u64,
    idle_hours: i64,
    target: &'static str,
    /// `Parents` (1.42+) rather than `Parent`.
    parents_array: bool,
}

fn id(i: usize) -> String {
    format!("rec{i:022}")
}

fn record() -> impl Strategy<Value = Record> {
    (
        prop::sample::select(KINDS.to_vec()),
        subsequence((1..10usize).collect::<Vec<_>>(), 0..=2),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        0u64..2_000_000_000,
        prop::sample::select(IDLE_HOURS.to_vec()),
        prop::sample::select(TARGETS.to_vec()),
        any::<bool>(),
    )
        .prop_map(
            |(kind, parents, in_use, shared, size, idle_hours, target, parents_array)| Record {
                kind,
                parents,
                in_use,
                shared,
                size,
                idle_hours,
                target,
                parents_array,
            },
        )
}

/// A `/system/df` body of the generated records, with parent links made acyclic.
fn df_body(records: &[Record]) -> Vec<u8> {
    let now = Utc::now();
    let items: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let parents: Vec<String> = r
                .parents
                .iter()
                .map(|p| i + p)
                .filter(|&p| p < records.len())
                .map(id)
                .collect();
            let description = if r.kind == "exec.cachemount" {
                format!("cached mount {} from exec /bin/sh -c make", r.target)
            } else {
                format!("mount / from exec /bin/sh -c step {i}")
            };
            let used = now - Duration::hours(r.idle_hours);
            let mut rec = json!({
                "ID": id(i),
                "Type": r.kind,
                "Description": description,
                "InUse": r.in_use,
                "Shared": r.shared,
                "Size": r.size,
                "CreatedAt": (used - Duration::days(1)).to_rfc3339(),
                "LastUsedAt": used.to_rfc3339(),
                "UsageCount": 3,
            });
            if r.parents_array {
                rec["Parents"] = json!(parents);
            } else {
                rec["Parent"] = json!(parents.first().cloned().unwrap_or_default());
            }
            rec
        })
        .collect();
    serde_json::to_vec(&json!({ "BuildCache": items })).unwrap()
}

/// Selector arguments; never none, which is a usage error.
fn selector(n: usize) -> impl Strategy<Value = Vec<String>> {
    (
        any::<bool>(),
        prop::option::weighted(0.3, prop::sample::select(KINDS.to_vec())),
        prop::option::weighted(
            0.3,
            subsequence((0..=n).collect::<Vec<_>>(), 1..=3.min(n + 1)),
        ),
        prop::option::weighted(0.3, prop::sample::select(vec!["1d", "10d"])),
        prop::option::weighted(0.2, prop::sample::select(TARGETS.to_vec())),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(stale, kind, ids, unused, target, source)| {
            let mut args: Vec<String> = Vec::new();
            if stale {
                args.push("--stale".into());
            }
            if let Some(k) = kind {
                args.extend(["--type".into(), k.to_string()]);
            }
            if let Some(ids) = ids {
                args.push("--id".into());
                // One past the last record: an id no entry has.
                args.extend(ids.into_iter().map(id));
            }
            if let Some(u) = unused {
                args.extend(["--unused-for".into(), u.to_string()]);
            }
            if let Some(t) = target {
                args.extend(["--mount-target".into(), t.to_string()]);
            }
            if source || args.is_empty() {
                args.extend(["--source".into(), "docker".into()]);
            }
            args
        })
}

fn records_and_selector() -> impl Strategy<Value = (Vec<Record>, Vec<String>)> {
    prop::collection::vec(record(), 0..10).prop_flat_map(|records| {
        let n = records.len();
        (Just(records), selector(n))
    })
}

/// Runs `prune SELECTOR MODE --json`; returns its document and the ids the daemon
/// was asked to delete by this run.
fn prune(server: &ReplayServer, selector: &[String], mode: &str) -> (Value, Vec<String>) {
    let before = server.prunes.lock().unwrap().len();
    let out = cachetop()
        .args(["--host", &server.host(), "prune", mode, "--json"])
        .args(selector)
        .output()
        .unwrap();
    assert_no_panic(&out);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{selector:?} {mode}: {:?}\n{}",
        out.status,
        text(&out.stderr)
    );
    let prunes = server.prunes.lock().unwrap()[before..].to_vec();
    (json_of(&out), prunes)
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

proptest! {
    // Each case runs the binary twice: a modest number of cases. A failure prints
    // its shrunk case; there is no source tree to persist it beside.
    #![proptest_config(ProptestConfig {
        cases: 32,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_dry_run_prints_the_plan_the_real_run_carries_out(
        (records, selector) in records_and_selector()
    ) {
        // One daemon for both runs: it answers the same records every time.
        let server = ReplayServer::start(Replay::new("1.41", df_body(&records)));
        let (dry, dry_prunes) = prune(&server, &selector, "--dry-run");
        let (real, real_prunes) = prune(&server, &selector, "--yes");
        prop_assert_eq!(dry["dry_run"].as_bool(), Some(true));
        // An empty plan is not carried out, and its document says `dry_run` (noted,
        // not asserted: whether that should follow the mode is another question).
        let nothing = real["planned"].as_array().is_some_and(|p| p.is_empty());
        prop_assert_eq!(real["dry_run"].as_bool(), Some(nothing));
        prop_assert_eq!(&dry["planned"], &real["planned"], "{:?}", selector);
        prop_assert!(dry_prunes.is_empty(), "the dry run deleted {:?}", dry_prunes);
        // Exactly the plan reaches the daemon, in the plan's order, and is reported.
        let planned = ids_of(&real["planned"]);
        prop_assert_eq!(&real_prunes, &planned);
        prop_assert_eq!(ids_of(&real["deleted"]), planned.clone());
        for p in real["planned"].as_array().unwrap() {
            let i: usize = p["id"].as_str().unwrap()[3..].parse().unwrap();
            prop_assert!(!records[i].in_use && !records[i].shared, "planned {}", p["id"]);
        }
    }
}
