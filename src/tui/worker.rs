//! The one task that owns the sources. The screen sends it commands and gets events
//! back; nothing else talks to a daemon, a directory or an API, and the draw loop
//! never waits on one.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use super::message::{Command, Event};
use crate::inventory::SourceStatus;
use crate::model::Entry;
use crate::policy::Policy;
use crate::prune::{Step, execute};
use crate::sources::SharedSource;
use crate::tui::hooks::{Enricher, RepairHook};

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Worker {
    pub sources: Vec<SharedSource>,
    pub policy: Policy,
    pub enricher: Option<Enricher>,
    pub repair: Option<RepairHook>,
    /// Read before each prune (the executor re-classifies with it).
    pub clock: Clock,
}

pub struct WorkerHandle {
    pub commands: UnboundedSender<Command>,
    pub events: UnboundedReceiver<Event>,
    /// For pure but heavy jobs (plans) that run beside the worker and answer on the
    /// same channel, so they never wait behind a slow listing.
    pub events_tx: UnboundedSender<Event>,
    pub task: JoinHandle<()>,
}

/// Scan results are sent in batches, so the screen re-sorts a few times a second
/// rather than once per entry.
const BATCH_EVERY: Duration = Duration::from_millis(150);
const BATCH_MAX: usize = 512;

impl Worker {
    pub fn spawn(self) -> WorkerHandle {
        let (cmd_tx, cmd_rx) = unbounded_channel();
        let (ev_tx, ev_rx) = unbounded_channel();
        let task = tokio::spawn(self.run(cmd_rx, ev_tx.clone()));
        WorkerHandle {
            commands: cmd_tx,
            events: ev_rx,
            events_tx: ev_tx,
            task,
        }
    }

    async fn run(self, mut commands: UnboundedReceiver<Command>, events: UnboundedSender<Event>) {
        let mut generation = 0u64;
        let mut scan: Option<JoinHandle<()>> = None;
        let mut queue: std::collections::VecDeque<Command> = Default::default();
        loop {
            let cmd = match queue.pop_front() {
                Some(c) => c,
                None => match commands.recv().await {
                    Some(c) => c,
                    None => break,
                },
            };
            // Whatever else arrived meanwhile waits its turn; extra refreshes merge.
            while let Ok(c) = commands.try_recv() {
                queue.push_back(c);
            }
            match cmd {
                Command::Refresh => {
                    queue.retain(|c| !matches!(c, Command::Refresh));
                    if let Some(s) = scan.take() {
                        s.abort();
                    }
                    generation += 1;
                    let listed = self.refresh(generation, &events).await;
                    if let Some(enricher) = &self.enricher
                        && !listed.is_empty()
                    {
                        let _ = events.send(Event::ScanProgress {
                            generation,
                            done: 0,
                            total: listed.len(),
                        });
                        scan = Some(tokio::spawn(enrich(
                            enricher.clone(),
                            listed,
                            generation,
                            events.clone(),
                        )));
                    }
                    let _ = events.send(Event::Refreshed { generation });
                }
                Command::Prune(plan) => {
                    let tx = events.clone();
                    let progress = move |step: Step<'_>| {
                        let text = match step {
                            Step::Rereading(s) => format!("re-reading {s}"),
                            Step::Deleting(e) => format!("deleting {} {}", e.source.kind, e.id),
                        };
                        let _ = tx.send(Event::Step(text));
                    };
                    let outcome = execute(
                        &plan,
                        &self.sources,
                        &self.policy,
                        (self.clock)(),
                        &progress,
                    )
                    .await;
                    let _ = events.send(Event::Pruned {
                        plan: Box::new(plan),
                        outcome: Box::new(outcome),
                    });
                }
                Command::PlanRepair(entry) => {
                    let res = match &self.repair {
                        None => Err("no repair is configured".to_string()),
                        Some(hook) => {
                            let plan = hook.plan.clone();
                            blocking(move || plan(&entry)).await
                        }
                    };
                    let _ = events.send(Event::RepairPlanned(res.map(Box::new)));
                }
                Command::Repair(plan) => {
                    let res = match &self.repair {
                        None => Err("no repair is configured".to_string()),
                        Some(hook) => {
                            let exec = hook.execute.clone();
                            blocking(move || exec(&plan)).await
                        }
                    };
                    let _ = events.send(Event::Repaired(res));
                }
            }
        }
        if let Some(s) = scan {
            s.abort();
        }
    }

    /// Lists every source at once and reports each as soon as it answers.
    async fn refresh(&self, generation: u64, events: &UnboundedSender<Event>) -> Vec<Entry> {
        let _ = events.send(Event::Loading {
            generation,
            sources: self
                .sources
                .iter()
                .map(|s| s.source_ref().clone())
                .collect(),
        });
        let mut pending: FuturesUnordered<_> = self
            .sources
            .iter()
            .map(|s| async move { (s.source_ref().clone(), s.list().await) })
            .collect();
        let mut all = Vec::new();
        while let Some((sref, result)) = pending.next().await {
            let status = Box::new(SourceStatus::from_result(sref, &result));
            let entries = result.map(|l| l.entries).unwrap_or_default();
            if self.enricher.is_some() {
                all.extend(entries.iter().cloned());
            }
            let _ = events.send(Event::Listed {
                generation,
                status,
                entries,
            });
        }
        all
    }
}

/// Runs a hook on a blocking thread; a hook that panics becomes an error message.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(format!("the hook failed: {e}")),
    }
}

/// Runs the enricher over every listed entry on blocking threads, a few at a time,
/// and sends what it fills in back in batches.
async fn enrich(
    enricher: Enricher,
    entries: Vec<Entry>,
    generation: u64,
    events: UnboundedSender<Event>,
) {
    let total = entries.len();
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut results = futures_util::stream::iter(entries.into_iter().map(|e| {
        let f = enricher.clone();
        tokio::task::spawn_blocking(move || f(&e))
    }))
    .buffer_unordered(parallel);
    let mut batch = Vec::new();
    let mut done = 0;
    let _ = events.send(Event::ScanProgress {
        generation,
        done,
        total,
    });
    let mut reported = 0;
    let mut deadline = tokio::time::Instant::now() + BATCH_EVERY;
    loop {
        tokio::select! {
            result = results.next() => {
                let Some(result) = result else { break };
                done += 1;
                // A scan that panicked leaves its entry as listed.
                if let Ok(Some(e)) = result {
                    batch.push(e);
                }
                if batch.len() >= BATCH_MAX {
                    flush(&events, generation, &mut batch, done, total);
                    reported = done;
                    deadline = tokio::time::Instant::now() + BATCH_EVERY;
                }
            }
            // Nothing waits long for a slow neighbour to finish.
            _ = tokio::time::sleep_until(deadline) => {
                if !batch.is_empty() || done != reported {
                    flush(&events, generation, &mut batch, done, total);
                    reported = done;
                }
                deadline = tokio::time::Instant::now() + BATCH_EVERY;
            }
        }
    }
    flush(&events, generation, &mut batch, done, total);
}

fn flush(
    events: &UnboundedSender<Event>,
    generation: u64,
    batch: &mut Vec<Entry>,
    done: usize,
    total: usize,
) {
    if !batch.is_empty() {
        let _ = events.send(Event::Updated {
            generation,
            entries: std::mem::take(batch),
        });
    }
    let _ = events.send(Event::ScanProgress {
        generation,
        done,
        total,
    });
}
