//! The one inventory stream: every configured source listed at once, each reported as
//! it answers with its entries classified, then the content of the entries asked for
//! looked into on blocking threads, the results sent in batches and classified again.
//! The commands gather the whole stream ([`collect`], [`collect_naming`]); the screen's
//! worker passes each event on as it comes.

use std::collections::{HashMap, HashSet};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, Stream, StreamExt};

use crate::model::{Entry, Flag, SourceRef};
use crate::policy::{Policy, classify, classify_entry};
use crate::scan::Scanner;
use crate::sources::{Listing, SharedSource, SourceError};

/// How one source fared.
#[derive(Clone, Debug)]
pub struct SourceStatus {
    pub source: SourceRef,
    pub error: Option<SourceError>,
    pub summary: String,
    pub details: serde_json::Value,
    /// Where its data is on this machine, if it is (see [`Listing::location`]).
    pub location: Option<std::path::PathBuf>,
    /// The Docker host it belongs to, if any (see [`crate::sources::Source::host`]).
    pub host: Option<String>,
}

impl SourceStatus {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// The status of a source of this host.
    pub fn on_host(mut self, host: Option<&str>) -> Self {
        self.host = host.map(str::to_string);
        self
    }

    pub fn from_result(source: SourceRef, result: &Result<Listing, SourceError>) -> Self {
        match result {
            Ok(l) => Self {
                source,
                error: None,
                summary: l.summary.clone(),
                details: l.details.clone(),
                location: l.location.clone(),
                host: None,
            },
            Err(e) => Self {
                source,
                error: Some(e.clone()),
                summary: String::new(),
                details: serde_json::Value::Object(Default::default()),
                location: None,
                host: None,
            },
        }
    }
}

/// Whose content to look into once every source has answered, and with what.
#[derive(Clone)]
pub struct Scan {
    pub scanner: Arc<dyn Scanner>,
    /// Only the entries with these ids; every entry when `None`.
    pub only: Option<HashSet<String>>,
}

impl Scan {
    /// Every entry the scanner has something to look at in.
    pub fn all(scanner: Arc<dyn Scanner>) -> Self {
        Self {
            scanner,
            only: None,
        }
    }

    fn picks(&self, e: &Entry) -> bool {
        self.only.as_ref().is_none_or(|ids| ids.contains(&e.id)) && self.scanner.wants(e)
    }
}

/// What the stream says, in this order: each source once, then the end of the listing,
/// then scan results.
#[derive(Debug)]
pub enum Event {
    /// One source answered, or failed; its entries are classified.
    Listed {
        status: SourceStatus,
        entries: Vec<Entry>,
    },
    /// Every source has answered; the content of `to_scan` entries is looked into next.
    ListingDone { to_scan: usize },
    /// These entries' content was looked into (they are classified again); `done` of
    /// `total` scans are over. The last event of a scan, with `done == total`.
    Scanned {
        entries: Vec<Entry>,
        done: usize,
        total: usize,
    },
}

/// Scan results are sent in batches, so the screen re-sorts a few times a second
/// rather than once per entry.
const BATCH_EVERY: Duration = Duration::from_millis(150);
const BATCH_MAX: usize = 512;

/// Lists every source concurrently and, with `scan`, looks into content after.
/// Classification happens here and only here, with `policy` and `now`.
pub fn stream(
    sources: &[SharedSource],
    policy: &Policy,
    now: DateTime<Utc>,
    scan: Option<Scan>,
) -> impl Stream<Item = Event> + Send + 'static {
    let pending: FuturesUnordered<ListingFuture> = sources
        .iter()
        .map(|s| {
            let s = s.clone();
            let listing: ListingFuture = Box::pin(async move {
                let result = s.list().await;
                let status =
                    SourceStatus::from_result(s.source_ref().clone(), &result).on_host(s.host());
                (status, result)
            });
            listing
        })
        .collect();
    let pipeline = Pipeline {
        state: State::Listing {
            pending,
            to_scan: Vec::new(),
        },
        policy: policy.clone(),
        now,
        scan,
    };
    futures_util::stream::unfold(pipeline, Pipeline::next)
}

type ListingFuture = BoxFuture<'static, (SourceStatus, Result<Listing, SourceError>)>;
type ScanResults = Pin<Box<dyn Stream<Item = Option<Entry>> + Send>>;

struct Pipeline {
    state: State,
    policy: Policy,
    now: DateTime<Utc>,
    scan: Option<Scan>,
}

enum State {
    Listing {
        pending: FuturesUnordered<ListingFuture>,
        /// Copies of the entries to scan, as they are listed.
        to_scan: Vec<Entry>,
    },
    Scanning(Batches),
    Done,
}

struct Batches {
    results: ScanResults,
    batch: Vec<Entry>,
    done: usize,
    total: usize,
    /// `done` when a batch was last sent.
    reported: usize,
    deadline: tokio::time::Instant,
}

impl Batches {
    fn send(&mut self) -> Event {
        self.reported = self.done;
        self.deadline = tokio::time::Instant::now() + BATCH_EVERY;
        Event::Scanned {
            entries: std::mem::take(&mut self.batch),
            done: self.done,
            total: self.total,
        }
    }
}

impl Pipeline {
    async fn next(mut self) -> Option<(Event, Self)> {
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Listing {
                    mut pending,
                    mut to_scan,
                } => {
                    let Some((status, result)) = pending.next().await else {
                        let total = to_scan.len();
                        self.state = match &self.scan {
                            Some(scan) if total > 0 => State::Scanning(Batches {
                                results: scan_each(scan.scanner.clone(), to_scan),
                                batch: Vec::new(),
                                done: 0,
                                total,
                                reported: 0,
                                deadline: tokio::time::Instant::now() + BATCH_EVERY,
                            }),
                            _ => State::Done,
                        };
                        return Some((Event::ListingDone { to_scan: total }, self));
                    };
                    let mut entries = result.map(|l| l.entries).unwrap_or_default();
                    classify(&mut entries, &self.policy, self.now);
                    if let Some(scan) = &self.scan {
                        to_scan.extend(entries.iter().filter(|e| scan.picks(e)).cloned());
                    }
                    self.state = State::Listing { pending, to_scan };
                    return Some((Event::Listed { status, entries }, self));
                }
                State::Scanning(mut b) => {
                    tokio::select! {
                        result = b.results.next() => match result {
                            Some(scanned) => {
                                b.done += 1;
                                // A scan that failed or panicked leaves its entry as listed.
                                if let Some(mut e) = scanned {
                                    classify_entry(&mut e, &self.policy, self.now);
                                    b.batch.push(e);
                                }
                                if b.batch.len() >= BATCH_MAX {
                                    let event = b.send();
                                    self.state = State::Scanning(b);
                                    return Some((event, self));
                                }
                                self.state = State::Scanning(b);
                            }
                            None => return Some((b.send(), self)),
                        },
                        // Nothing waits long for a slow neighbour to finish.
                        _ = tokio::time::sleep_until(b.deadline) => {
                            if !b.batch.is_empty() || b.done != b.reported {
                                let event = b.send();
                                self.state = State::Scanning(b);
                                return Some((event, self));
                            }
                            b.deadline = tokio::time::Instant::now() + BATCH_EVERY;
                            self.state = State::Scanning(b);
                        }
                    }
                }
                State::Done => return None,
            }
        }
    }
}

/// Scans each entry on a blocking thread, a few at a time.
fn scan_each(scanner: Arc<dyn Scanner>, entries: Vec<Entry>) -> ScanResults {
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let scans = entries.into_iter().map(move |e| {
        let scanner = scanner.clone();
        tokio::task::spawn_blocking(move || scanner.scan(&e))
    });
    Box::pin(
        futures_util::stream::iter(scans)
            .buffer_unordered(parallel)
            .map(|joined| joined.ok().flatten()),
    )
}

/// The host of each source, when a run reads more than one Docker host: outputs
/// name the host of what they list, plan and do. Sources of no host are not in it.
pub type HostsOf = HashMap<SourceRef, String>;

#[derive(Clone, Debug)]
pub struct Inventory {
    pub generated_at: DateTime<Utc>,
    pub policy: Policy,
    /// In the order the sources were configured.
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

    /// The Docker hosts read, each once, in the order they were configured.
    pub fn hosts(&self) -> Vec<&str> {
        crate::sources::hosts::hosts_in(self.sources.iter().map(|s| s.host.as_deref()))
    }

    /// More than one Docker host is read: outputs name the host of each source and
    /// entry, and group by host.
    pub fn many_hosts(&self) -> bool {
        self.hosts().len() > 1
    }

    /// The host of each source of a host, when more than one host is read (`None`
    /// for one: outputs then never name it).
    pub fn hosts_of(&self) -> Option<HostsOf> {
        self.many_hosts().then(|| {
            self.sources
                .iter()
                .filter_map(|s| Some((s.source.clone(), s.host.clone()?)))
                .collect()
        })
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

/// The whole stream, gathered: every source, and the content `scan` asks for.
pub async fn collect(
    sources: &[SharedSource],
    policy: &Policy,
    now: DateTime<Utc>,
    scan: Option<Scan>,
    progress: &dyn Fn(usize, usize),
) -> Inventory {
    let all = |_: &Gathering| true;
    let gathered = gather(sources, policy, now, scan, progress, &all).await;
    gathered.unwrap_or_else(|| Gathering::new(sources, policy, now).finish())
}

/// How many times sources are read when an id asked for is missing: dockerd 20.10
/// leaves a record out of `/system/df` now and then while other builds run, and a
/// record that is missing for a moment must not be called unknown.
const ID_READS: usize = 3;
const ID_REREAD_AFTER: Duration = Duration::from_millis(300);

/// [`collect`], listing again (a few times, before any content is looked into) while
/// some of `ids` are missing. `clock` gives the time of each reading.
pub async fn collect_naming(
    sources: &[SharedSource],
    policy: &Policy,
    clock: &dyn Fn() -> DateTime<Utc>,
    scan: Option<Scan>,
    ids: &[String],
    progress: &dyn Fn(usize, usize),
) -> Inventory {
    for _ in 1..ID_READS {
        let named = |g: &Gathering| g.names_all(ids);
        if let Some(inv) = gather(sources, policy, clock(), scan.clone(), progress, &named).await {
            return inv;
        }
        tokio::time::sleep(ID_REREAD_AFTER).await;
    }
    collect(sources, policy, clock(), scan, progress).await
}

/// Gathers the stream; `None` (and no content looked into) when `keep` refuses what the
/// sources listed.
async fn gather(
    sources: &[SharedSource],
    policy: &Policy,
    now: DateTime<Utc>,
    scan: Option<Scan>,
    progress: &dyn Fn(usize, usize),
    keep: &dyn Fn(&Gathering) -> bool,
) -> Option<Inventory> {
    let mut gathering = Gathering::new(sources, policy, now);
    let mut events = pin!(stream(sources, policy, now, scan));
    while let Some(event) = events.next().await {
        match event {
            Event::Listed { status, entries } => gathering.listed(status, entries),
            Event::ListingDone { to_scan } => {
                if !keep(&gathering) {
                    return None;
                }
                if to_scan > 0 {
                    progress(0, to_scan);
                }
            }
            Event::Scanned {
                entries,
                done,
                total,
            } => {
                gathering.scanned(entries);
                progress(done, total);
            }
        }
    }
    Some(gathering.finish())
}

/// An inventory being gathered from the stream.
struct Gathering {
    inv: Inventory,
    /// Each configured source's place, so the output keeps their order.
    order: HashMap<SourceRef, usize>,
    /// Where each entry is, once scan results come.
    index: HashMap<(SourceRef, String), usize>,
}

impl Gathering {
    fn new(sources: &[SharedSource], policy: &Policy, now: DateTime<Utc>) -> Self {
        let order = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.source_ref().clone(), i))
            .collect();
        Self {
            inv: Inventory {
                generated_at: now,
                policy: policy.clone(),
                sources: Vec::with_capacity(sources.len()),
                entries: Vec::new(),
            },
            order,
            index: HashMap::new(),
        }
    }

    fn listed(&mut self, status: SourceStatus, entries: Vec<Entry>) {
        self.inv.sources.push(status);
        if self.inv.entries.is_empty() {
            self.inv.entries = entries; // no copy of a large list
        } else {
            self.inv.entries.extend(entries);
        }
    }

    fn names_all(&self, ids: &[String]) -> bool {
        let listed: HashSet<&str> = self.inv.entries.iter().map(|e| e.id.as_str()).collect();
        ids.iter().all(|id| listed.contains(id.as_str()))
    }

    fn scanned(&mut self, entries: Vec<Entry>) {
        if self.index.is_empty() {
            self.index = self
                .inv
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| ((e.source.clone(), e.id.clone()), i))
                .collect();
        }
        for e in entries {
            if let Some(&i) = self.index.get(&(e.source.clone(), e.id.clone())) {
                self.inv.entries[i] = e;
            }
        }
    }

    /// Sources in their configured order; entries largest first, ties in the order of
    /// their sources.
    fn finish(mut self) -> Inventory {
        let order = &self.order;
        let place = |s: &SourceRef| order.get(s).copied().unwrap_or(usize::MAX);
        self.inv.sources.sort_by_key(|s| place(&s.source));
        self.inv.entries.sort_by_key(|e| place(&e.source));
        sort_by_size(&mut self.inv.entries);
        self.inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Finding, FindingKind, SourceKind, SourceRef};
    use crate::sources::{Deletion, Source};
    use async_trait::async_trait;
    use chrono::TimeZone;
    use std::sync::Mutex;

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

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }

    /// A source that answers after `delay`, listing these ids (stale, with content),
    /// and counts its listings.
    struct Slow {
        sref: SourceRef,
        delay: Duration,
        ids: Mutex<Vec<&'static str>>,
        lists: Mutex<usize>,
    }

    #[async_trait]
    impl Source for Slow {
        fn source_ref(&self) -> &SourceRef {
            &self.sref
        }
        async fn list(&self) -> Result<Listing, SourceError> {
            tokio::time::sleep(self.delay).await;
            *self.lists.lock().unwrap() += 1;
            let entries = self
                .ids
                .lock()
                .unwrap()
                .iter()
                .map(|id| {
                    let mut e = Entry::new(self.sref.clone(), *id, "exec.cachemount");
                    e.size_bytes = 10;
                    e.last_used_at = Some(now() - chrono::Duration::days(30));
                    e
                })
                .collect();
            Ok(Listing {
                entries,
                ..Default::default()
            })
        }
        async fn delete(&self, _: &Entry) -> Result<Deletion, SourceError> {
            unreachable!()
        }
    }

    fn slow(name: &str, delay_ms: u64, ids: &[&'static str]) -> Arc<Slow> {
        Arc::new(Slow {
            sref: SourceRef::new(SourceKind::Docker, name),
            delay: Duration::from_millis(delay_ms),
            ids: Mutex::new(ids.to_vec()),
            lists: Mutex::new(0),
        })
    }

    /// Finds something broken in every entry whose id starts with `b`.
    fn finder(e: &Entry) -> Option<Entry> {
        let mut e = e.clone();
        e.disk_bytes = Some(1_000_000_000);
        if e.id.starts_with('b') {
            e.findings.push(Finding {
                kind: FindingKind::NpmInterruptedWrite,
                path: "_cacache/tmp/x".into(),
                detail: "left by npm".into(),
                bytes: 1,
            });
        }
        Some(e)
    }

    #[tokio::test]
    async fn each_source_comes_classified_as_it_answers_then_the_scans() {
        let fast = slow("unix:///fast", 0, &["a1"]);
        let late = slow("unix:///late", 200, &["b1", "b2"]);
        let sources: Vec<SharedSource> = vec![late.clone(), fast.clone()];
        let scan = Scan::all(Arc::new(finder));
        let events: Vec<Event> = stream(&sources, &Policy::default(), now(), Some(scan))
            .collect()
            .await;
        let Event::Listed { status, entries } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(status.source.name, "unix:///fast", "the first to answer");
        assert!(entries[0].has(Flag::Stale), "classified as listed");
        assert!(
            matches!(&events[1], Event::Listed { status, .. } if status.source.name == "unix:///late")
        );
        assert!(matches!(events[2], Event::ListingDone { to_scan: 3 }));
        let scanned: Vec<&Entry> = events[3..]
            .iter()
            .flat_map(|e| match e {
                Event::Scanned { entries, .. } => entries.iter(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(scanned.len(), 3);
        assert!(scanned.iter().all(|e| e.has(Flag::SizeMismatch)));
        assert_eq!(scanned.iter().filter(|e| e.has(Flag::Partial)).count(), 2);
        assert!(matches!(
            events.last(),
            Some(Event::Scanned {
                done: 3,
                total: 3,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn collect_keeps_the_configured_order_and_scans_only_what_it_is_asked() {
        let sources: Vec<SharedSource> = vec![
            slow("unix:///late", 100, &["b1"]),
            slow("unix:///fast", 0, &["a1", "b2"]),
        ];
        let scan = Scan {
            scanner: Arc::new(finder),
            only: Some(["b2".to_string()].into()),
        };
        let seen = Mutex::new(Vec::new());
        let inv = collect(&sources, &Policy::default(), now(), Some(scan), &|d, t| {
            seen.lock().unwrap().push((d, t))
        })
        .await;
        let names: Vec<&str> = inv.sources.iter().map(|s| s.source.name.as_str()).collect();
        assert_eq!(names, ["unix:///late", "unix:///fast"]);
        let ids: Vec<&str> = inv.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b2", "a1", "b1"], "the scanned one is largest now");
        assert!(inv.entries[0].has(Flag::Partial));
        assert!(!inv.entries[2].has(Flag::Partial), "b1 was not asked for");
        assert_eq!(seen.lock().unwrap().last(), Some(&(1, 1)));
    }

    #[tokio::test]
    async fn each_host_is_read_at_once_and_a_slow_one_fails_alone() {
        use crate::sources::hosts::OnHost;
        let timeout = Duration::from_millis(300);
        let on = |host: &str, s: Arc<Slow>| OnHost::wrap(&Arc::from(host), timeout, s);
        let sources: Vec<SharedSource> = vec![
            on("unix:///a", slow("unix:///a", 100, &["a1"])),
            on("unix:///b", slow("unix:///b", 100, &["b1"])),
            on("unix:///hangs", slow("unix:///hangs", 60_000, &["h1"])),
            slow("/cache", 0, &["d1"]),
        ];
        let start = std::time::Instant::now();
        let inv = collect(&sources, &Policy::default(), now(), None, &|_, _| {}).await;
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "held up by the slow host"
        );
        assert_eq!(inv.hosts(), ["unix:///a", "unix:///b", "unix:///hangs"]);
        assert!(inv.many_hosts());
        let failed: Vec<&str> = inv
            .failed_sources()
            .map(|s| s.source.name.as_str())
            .collect();
        assert_eq!(failed, ["unix:///hangs"]);
        let mut hosts: Vec<(&str, Option<&str>)> = inv
            .entries
            .iter()
            .map(|e| (e.id.as_str(), e.host.as_deref()))
            .collect();
        hosts.sort();
        assert_eq!(
            hosts,
            [
                ("a1", Some("unix:///a")),
                ("b1", Some("unix:///b")),
                ("d1", None)
            ]
        );
        let of = inv.hosts_of().unwrap();
        assert_eq!(of.len(), 3, "the directory belongs to no host");
    }

    #[tokio::test]
    async fn a_missing_id_is_listed_again_before_anything_is_scanned() {
        let src = slow("unix:///d", 0, &["a1"]);
        let sources: Vec<SharedSource> = vec![src.clone()];
        let scanned = Arc::new(Mutex::new(0));
        let count = scanned.clone();
        let scanner = move |e: &Entry| {
            *count.lock().unwrap() += 1;
            finder(e)
        };
        let inv = collect_naming(
            &sources,
            &Policy::default(),
            &now,
            Some(Scan::all(Arc::new(scanner))),
            &["gone".to_string()],
            &|_, _| {},
        )
        .await;
        assert_eq!(*src.lists.lock().unwrap(), ID_READS);
        assert_eq!(
            *scanned.lock().unwrap(),
            1,
            "only the last reading is scanned"
        );
        assert_eq!(inv.entries.len(), 1);
    }
}
