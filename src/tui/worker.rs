//! The one task that owns the sources. The screen sends it commands and gets events
//! back; nothing else talks to a daemon, a directory or an API, and the draw loop
//! never waits on one. With an interval it also refreshes by itself, looking only
//! into what changed, and reads the filesystems that hold what it listed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use futures_util::stream::{Stream, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::live::{Remembering, ScanMemory, listing_digest};
use super::message::{Command, Event};
use crate::filesystems::Disks;
use crate::inventory::{self, Inventory, Scan, SourceStatus};
use crate::model::{Entry, SourceRef};
use crate::plan::{Outcome, Progress, Skip, Step};
use crate::policy::Policy;
use crate::prune::execute;
use crate::prune::lock::{LockError, PruneLock};
use crate::repair::{RepairPlan, Repairer};
use crate::scan::Scanner;
use crate::sources::SharedSource;
use crate::tui::listing::{Key, key_of};

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Reads the filesystems that hold an inventory's data, with what the stale eviction
/// would free on each (the command layer gives `report`'s own reader).
pub type DiskReader = Arc<dyn Fn(Inventory) -> BoxFuture<'static, Disks> + Send + Sync>;

pub struct Worker {
    pub sources: Vec<SharedSource>,
    pub policy: Policy,
    /// Looks into the content of what every refresh lists; none: nothing is scanned.
    pub scanner: Option<Arc<dyn Scanner>>,
    /// Plans and carries out the repair behind `R`; none: `R` is not bound.
    pub repair: Option<Arc<dyn Repairer>>,
    /// The time each refresh classifies with.
    pub clock: Clock,
}

/// What makes the screen live; the default is none of it.
#[derive(Clone, Default)]
pub struct LiveOptions {
    /// Lists every source again this often, in the background; none: only on `r`.
    pub interval: Option<Duration>,
    /// Where deletions take the machine's prune lock (see `prune::lock`); none: no
    /// lock is taken (tests that prune in-process).
    pub lock_dirs: Option<Vec<PathBuf>>,
    /// Reads the disks after each refresh; none: the header shows no disks.
    pub disks: Option<DiskReader>,
}

pub struct WorkerHandle {
    pub commands: UnboundedSender<Command>,
    pub events: UnboundedReceiver<Event>,
    /// For pure but heavy jobs (plans) that run beside the worker and answer on the
    /// same channel, so they never wait behind a slow listing.
    pub events_tx: UnboundedSender<Event>,
    pub task: JoinHandle<()>,
}

impl Worker {
    pub fn spawn(self) -> WorkerHandle {
        self.spawn_live(LiveOptions::default())
    }

    pub fn spawn_live(self, live: LiveOptions) -> WorkerHandle {
        let (cmd_tx, cmd_rx) = unbounded_channel();
        let (ev_tx, ev_rx) = unbounded_channel();
        let task = tokio::spawn(self.run(live, cmd_rx, ev_tx.clone()));
        WorkerHandle {
            commands: cmd_tx,
            events: ev_rx,
            events_tx: ev_tx,
            task,
        }
    }

    async fn run(
        self,
        live: LiveOptions,
        mut commands: UnboundedReceiver<Command>,
        events: UnboundedSender<Event>,
    ) {
        let memory = Arc::new(Mutex::new(ScanMemory::default()));
        // The digests of the last listing sent for each source.
        let mut sent: HashMap<SourceRef, Digests> = HashMap::new();
        let mut generation = 0u64;
        // The scan (and disk reading) of the last refresh, going on in the background.
        let mut scan: Option<JoinHandle<()>> = None;
        let mut queue: VecDeque<Command> = Default::default();
        let mut next_tick = live.interval.map(|d| Instant::now() + d);
        loop {
            let cmd = match queue.pop_front() {
                Some(c) => c,
                None => {
                    let tick = async {
                        match next_tick {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        c = commands.recv() => match c {
                            Some(c) => c,
                            None => break,
                        },
                        () = tick => Command::RefreshChanged,
                    }
                }
            };
            // Whatever else arrived meanwhile waits its turn; extra refreshes merge.
            while let Ok(c) = commands.try_recv() {
                queue.push_back(c);
            }
            match cmd {
                Command::Refresh | Command::RefreshChanged => {
                    let full = matches!(cmd, Command::Refresh)
                        || queue.iter().any(|c| matches!(c, Command::Refresh));
                    queue.retain(|c| !matches!(c, Command::Refresh | Command::RefreshChanged));
                    if !full && scan.as_ref().is_some_and(|s| !s.is_finished()) {
                        // The last scan is still going (thousands of records take
                        // minutes): never cut it off for a tick, but list beside it so
                        // a cache made meanwhile still shows.
                        self.relist(generation, &memory, &mut sent, &events).await;
                        next_tick = live.interval.map(|d| Instant::now() + d);
                        continue;
                    }
                    if let Some(s) = scan.take() {
                        s.abort();
                    }
                    if full {
                        if let Ok(mut m) = memory.lock() {
                            m.forget_all();
                        }
                        sent.clear();
                    }
                    generation += 1;
                    scan = self
                        .refresh(generation, !full, &live, &memory, &mut sent, &events)
                        .await;
                    let _ = events.send(Event::Refreshed { generation });
                    // The interval counts from the end of a reading, so a slow source
                    // is never asked again before it answered.
                    next_tick = live.interval.map(|d| Instant::now() + d);
                }
                Command::Prune(plan) => match take_lock(&live.lock_dirs).await {
                    Err(e) => {
                        let _ = events.send(Event::Locked(Box::new(e)));
                    }
                    Ok(_lock) => {
                        let outcome = execute(&plan, &self.sources, &steps(&events)).await;
                        let _ = events.send(Event::Pruned {
                            plan: Box::new(plan),
                            outcome: Box::new(outcome),
                        });
                    }
                },
                Command::PlanRepair(entry) => {
                    let plan = match &self.repair {
                        Some(repair) => repair.plan(&entry).await,
                        None => unconfigured(&entry),
                    };
                    let _ = events.send(Event::RepairPlanned(Box::new(plan)));
                }
                Command::Repair(plan) => match take_lock(&live.lock_dirs).await {
                    Err(e) => {
                        let _ = events.send(Event::Locked(Box::new(e)));
                    }
                    Ok(_lock) => {
                        let outcome = match &self.repair {
                            Some(repair) => {
                                repair.execute(&plan, &self.sources, &steps(&events)).await
                            }
                            None => Outcome {
                                skipped: unconfigured_plan(&plan),
                                failures: 1,
                                ..Default::default()
                            },
                        };
                        let _ = events.send(Event::Repaired(Box::new(outcome)));
                    }
                },
            }
        }
        if let Some(s) = scan {
            s.abort();
        }
    }

    /// Lists every source again while the last refresh's scan still runs. What changed
    /// goes out in that refresh's generation, so the scan's results keep applying to
    /// the entries still listed; what is new waits for the next scan. A source that
    /// fails here keeps what it shows: the next whole refresh reports the failure.
    async fn relist(
        &self,
        generation: u64,
        memory: &Arc<Mutex<ScanMemory>>,
        sent: &mut HashMap<SourceRef, Digests>,
        events: &UnboundedSender<Event>,
    ) {
        let now = (self.clock)();
        let mut stream = Box::pin(inventory::stream(&self.sources, &self.policy, now, None));
        let mut all_read = true;
        while let Some(event) = stream.next().await {
            let inventory::Event::Listed {
                status,
                mut entries,
            } = event
            else {
                continue;
            };
            if !status.ok() {
                all_read = false;
                continue;
            }
            // Judged by the records alone: the scan under way adds to what the
            // screen has, and that is no change of the listing.
            let listed = listing_digest(&status, &entries);
            if sent.get(&status.source).is_some_and(|d| d.listed == listed) {
                continue;
            }
            if let Ok(m) = memory.lock() {
                m.restore(&mut entries, &self.policy, now);
            }
            let shown = listing_digest(&status, &entries);
            sent.insert(status.source.clone(), Digests { listed, shown });
            let _ = events.send(Event::Listed {
                generation,
                status: Box::new(status),
                entries,
            });
        }
        if all_read {
            let _ = events.send(Event::Read {
                generation,
                at: now,
            });
        }
    }

    /// Lists every source at once and reports each as soon as it answers; then the
    /// content scan (and the disk reading) goes on in the background, its handle
    /// returned. In the background (`quiet`), entries whose record has not changed
    /// since their last scan get that scan's results back instead of a new scan.
    async fn refresh(
        &self,
        generation: u64,
        quiet: bool,
        live: &LiveOptions,
        memory: &Arc<Mutex<ScanMemory>>,
        sent: &mut HashMap<SourceRef, Digests>,
        events: &UnboundedSender<Event>,
    ) -> Option<JoinHandle<()>> {
        let configured: Vec<SourceRef> = self
            .sources
            .iter()
            .map(|s| s.source_ref().clone())
            .collect();
        let _ = events.send(if quiet {
            Event::LoadingQuietly { generation }
        } else {
            Event::Loading {
                generation,
                sources: configured.clone(),
            }
        });
        let now = (self.clock)();
        let epoch = memory.lock().map_or(0, |m| m.epoch());
        let scan = self.scanner.clone().map(|inner| {
            Scan::all(Arc::new(Remembering {
                inner,
                memory: memory.clone(),
                epoch,
            }))
        });
        let mut stream = Box::pin(inventory::stream(&self.sources, &self.policy, now, scan));
        let mut listed: HashSet<Key> = HashSet::new();
        let mut gathered = live
            .disks
            .as_ref()
            .map(|_| Gathered::new(now, &self.policy, configured));
        while let Some(event) = stream.next().await {
            match event {
                inventory::Event::Listed {
                    status,
                    mut entries,
                } => {
                    let records = listing_digest(&status, &entries);
                    if let Ok(m) = memory.lock() {
                        m.restore(&mut entries, &self.policy, now);
                    }
                    listed.extend(entries.iter().map(key_of));
                    if let Some(g) = &mut gathered {
                        g.listed(&status, &entries);
                    }
                    if status.ok() {
                        let shown = listing_digest(&status, &entries);
                        let last = sent.insert(
                            status.source.clone(),
                            Digests {
                                listed: records,
                                shown,
                            },
                        );
                        let same = last.is_some_and(|d| d.shown == shown);
                        if quiet && same {
                            // The screen shows exactly this already.
                            continue;
                        }
                    } else {
                        sent.remove(&status.source);
                    }
                    let _ = events.send(Event::Listed {
                        generation,
                        status: Box::new(status),
                        entries,
                    });
                }
                inventory::Event::ListingDone { to_scan } => {
                    if let Ok(mut m) = memory.lock() {
                        m.keep_only(&listed);
                    }
                    let _ = events.send(Event::Read {
                        generation,
                        at: now,
                    });
                    let disks = live.disks.clone().zip(gathered);
                    if to_scan == 0 {
                        return disks.map(|(reader, g)| {
                            tokio::spawn(read_disks(reader, g, generation, events.clone()))
                        });
                    }
                    // Announced now, so nothing in between looks idle.
                    let _ = events.send(Event::ScanProgress {
                        generation,
                        done: 0,
                        total: to_scan,
                    });
                    return Some(tokio::spawn(pass_scans(
                        stream,
                        generation,
                        events.clone(),
                        disks,
                    )));
                }
                other => pass_scan(other, generation, events, None),
            }
        }
        None
    }
}

/// What was last sent for a source: the digest of its records as listed, and of the
/// entries as sent (with what earlier scans found restored).
#[derive(Clone, Copy)]
struct Digests {
    listed: u64,
    shown: u64,
}

/// A copy of what a refresh listed (and scanned), for the disk reading at its end.
struct Gathered {
    inventory: Inventory,
    index: HashMap<Key, usize>,
    configured: Vec<SourceRef>,
}

impl Gathered {
    fn new(now: DateTime<Utc>, policy: &Policy, configured: Vec<SourceRef>) -> Self {
        Self {
            inventory: Inventory {
                generated_at: now,
                policy: policy.clone(),
                sources: Vec::new(),
                entries: Vec::new(),
            },
            index: HashMap::new(),
            configured,
        }
    }

    fn listed(&mut self, status: &SourceStatus, entries: &[Entry]) {
        self.inventory.sources.push(status.clone());
        for e in entries {
            self.index.insert(key_of(e), self.inventory.entries.len());
            self.inventory.entries.push(e.clone());
        }
    }

    fn scanned(&mut self, entries: &[Entry]) {
        for e in entries {
            if let Some(&i) = self.index.get(&key_of(e)) {
                self.inventory.entries[i] = e.clone();
            }
        }
    }

    /// The inventory, its sources in the configured order (the header's order).
    fn finish(mut self) -> Inventory {
        let place = |s: &SourceStatus| self.configured.iter().position(|c| *c == s.source);
        self.inventory.sources.sort_by_key(place);
        self.inventory
    }
}

async fn read_disks(
    reader: DiskReader,
    gathered: Gathered,
    generation: u64,
    events: UnboundedSender<Event>,
) {
    let disks = reader(gathered.finish()).await;
    let _ = events.send(Event::Disks {
        generation,
        disks: Box::new(disks),
    });
}

/// Takes the machine's prune lock without waiting: the screen says who holds it
/// rather than freezing a deletion behind another prune.
async fn take_lock(dirs: &Option<Vec<PathBuf>>) -> Result<Option<PruneLock>, LockError> {
    let Some(dirs) = dirs.clone() else {
        return Ok(None);
    };
    let taken =
        tokio::task::spawn_blocking(move || PruneLock::acquire(&dirs, Duration::ZERO, |_, _| {}))
            .await;
    match taken {
        Ok(result) => result.map(Some),
        Err(e) => Err(LockError::Io {
            path: PathBuf::new(),
            why: e.to_string(),
        }),
    }
}

/// Passes the scan results of a refresh on, as they come; then reads the disks.
async fn pass_scans(
    mut stream: impl Stream<Item = inventory::Event> + Unpin,
    generation: u64,
    events: UnboundedSender<Event>,
    mut disks: Option<(DiskReader, Gathered)>,
) {
    while let Some(event) = stream.next().await {
        pass_scan(event, generation, &events, disks.as_mut().map(|(_, g)| g));
    }
    if let Some((reader, gathered)) = disks {
        read_disks(reader, gathered, generation, events).await;
    }
}

fn pass_scan(
    event: inventory::Event,
    generation: u64,
    events: &UnboundedSender<Event>,
    gathered: Option<&mut Gathered>,
) {
    if let inventory::Event::Scanned {
        entries,
        done,
        total,
    } = event
    {
        if let Some(g) = gathered {
            g.scanned(&entries);
        }
        if !entries.is_empty() {
            let _ = events.send(Event::Updated {
                generation,
                entries,
            });
        }
        let _ = events.send(Event::ScanProgress {
            generation,
            done,
            total,
        });
    }
}

const NO_REPAIR: &str = "no repair is configured";

fn unconfigured(entry: &Entry) -> RepairPlan {
    RepairPlan {
        items: Vec::new(),
        skipped: vec![Skip::entry(entry, NO_REPAIR)],
    }
}

fn unconfigured_plan(plan: &RepairPlan) -> Vec<Skip> {
    plan.items
        .iter()
        .map(|it| Skip::entry(&it.entry, NO_REPAIR))
        .collect()
}

/// What a prune or a repair is doing now, for the status bar.
fn steps(events: &UnboundedSender<Event>) -> Progress {
    let tx = events.clone();
    Arc::new(move |step: Step<'_>| {
        let text = match step {
            Step::Rereading(s) => format!("re-reading {s}"),
            Step::Deleting(e) => format!("deleting {} {}", e.source.kind, e.id),
            Step::Rescanning(e) => format!("re-scanning {}", e.id),
            Step::Removing { entry, path } => format!("removing {path} from {}", entry.id),
        };
        let _ = tx.send(Event::Step(text));
    })
}
