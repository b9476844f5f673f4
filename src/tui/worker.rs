//! The one task that owns the sources. The screen sends it commands and gets events
//! back; nothing else talks to a daemon, a directory or an API, and the draw loop
//! never waits on one.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::stream::{Stream, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;

use super::message::{Command, Event};
use crate::inventory::{self, Scan};
use crate::model::Entry;
use crate::policy::Policy;
use crate::prune::{Step, execute};
use crate::repair::{Refusal, RepairOutcome, RepairPlan, RepairStep, Repairer};
use crate::scan::Scanner;
use crate::sources::SharedSource;

pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

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
                    scan = self.refresh(generation, &events).await;
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
                    let plan = match &self.repair {
                        Some(repair) => repair.plan(&entry).await,
                        None => unconfigured(&entry),
                    };
                    let _ = events.send(Event::RepairPlanned(Box::new(plan)));
                }
                Command::Repair(plan) => {
                    let outcome = match &self.repair {
                        Some(repair) => {
                            let progress = Arc::new(|_: &RepairStep| {});
                            repair.execute(&plan, &self.sources, progress).await
                        }
                        None => RepairOutcome {
                            skipped: unconfigured_plan(&plan),
                            failures: 1,
                            ..Default::default()
                        },
                    };
                    let _ = events.send(Event::Repaired(Box::new(outcome)));
                }
            }
        }
        if let Some(s) = scan {
            s.abort();
        }
    }

    /// Lists every source at once and reports each as soon as it answers; then the
    /// content scan goes on in the background, its handle returned.
    async fn refresh(
        &self,
        generation: u64,
        events: &UnboundedSender<Event>,
    ) -> Option<JoinHandle<()>> {
        let _ = events.send(Event::Loading {
            generation,
            sources: self
                .sources
                .iter()
                .map(|s| s.source_ref().clone())
                .collect(),
        });
        let scan = self.scanner.clone().map(Scan::all);
        let mut stream = Box::pin(inventory::stream(
            &self.sources,
            &self.policy,
            (self.clock)(),
            scan,
        ));
        while let Some(event) = stream.next().await {
            match event {
                inventory::Event::Listed { status, entries } => {
                    let _ = events.send(Event::Listed {
                        generation,
                        status: Box::new(status),
                        entries,
                    });
                }
                inventory::Event::ListingDone { to_scan: 0 } => return None,
                inventory::Event::ListingDone { to_scan } => {
                    // Announced now, so nothing in between looks idle.
                    let _ = events.send(Event::ScanProgress {
                        generation,
                        done: 0,
                        total: to_scan,
                    });
                    return Some(tokio::spawn(pass_scans(stream, generation, events.clone())));
                }
                other => pass_scan(other, generation, events),
            }
        }
        None
    }
}

/// Passes the scan results of a refresh on, as they come.
async fn pass_scans(
    mut stream: impl Stream<Item = inventory::Event> + Unpin,
    generation: u64,
    events: UnboundedSender<Event>,
) {
    while let Some(event) = stream.next().await {
        pass_scan(event, generation, &events);
    }
}

fn pass_scan(event: inventory::Event, generation: u64, events: &UnboundedSender<Event>) {
    if let inventory::Event::Scanned {
        entries,
        done,
        total,
    } = event
    {
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
        refused: vec![Refusal {
            source: Some(entry.source.clone()),
            id: entry.id.clone(),
            path: None,
            reason: NO_REPAIR.to_string(),
        }],
    }
}

fn unconfigured_plan(plan: &RepairPlan) -> Vec<Refusal> {
    plan.items
        .iter()
        .flat_map(|it| unconfigured(&it.entry).refused)
        .collect()
}
