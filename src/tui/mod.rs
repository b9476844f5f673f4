//! The interactive screen.
//!
//! - `app`: the state and `update(action) -> effects` (pure, tested by key journeys);
//! - `keys`: the one key table (handling, footer and help);
//! - `worker`: the one task that owns the sources and talks by `message`s;
//! - `view`: pure drawing; `text`: the words it draws;
//! - `terminal`: raw mode and the alternate screen, always restored.
//!
//! The loop redraws when a key, a resize or a worker event arrives, and on a slow
//! spinner tick only while work is in flight; never at a fixed frame rate. With
//! `--interval` the worker refreshes by itself; the loop only applies what it sends.

pub mod app;
pub(crate) mod chart;
pub mod keys;
pub mod listing;
pub mod live;
pub mod message;
pub mod mouse;
pub mod planning;
pub(crate) mod repaired;
pub(crate) mod terminal;
pub(crate) mod text;
pub mod view;
pub mod worker;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyEvent};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;

use crate::policy::Policy;
use crate::prune::Budget;
use crate::repair::Repairer;
use crate::report::origins::Origins;
use crate::scan::Scanner;
use crate::sources::SharedSource;
use app::{App, Caps, Effect};
use message::Command;
use view::Theme;
use worker::{LiveOptions, Worker, WorkerHandle};

/// How often the spinner turns while work is in flight.
const SPINNER_TICK: Duration = Duration::from_millis(125);

#[derive(Clone)]
pub struct Options {
    pub read_only: bool,
    pub theme: Theme,
    /// Looks into the content of what is listed.
    pub scanner: Option<Arc<dyn Scanner>>,
    /// The repair behind `R`; without one, `R` is not bound.
    pub repair: Option<Arc<dyn Repairer>>,
    /// `--lint`: the Dockerfiles the details pane links cache mounts to.
    pub origins: Option<Arc<Origins>>,
    /// Background refreshes, the prune lock and the disk reader (see
    /// [`worker::LiveOptions`]).
    pub live: LiveOptions,
    /// The config file's budget, shown in the header and planned by `B`.
    pub budget: Budget,
    /// Capture the mouse (wheel, clicks); off with `--no-mouse` or `mouse = false`,
    /// since capture takes over the terminal's own text selection.
    pub mouse: bool,
}

/// Why the screen closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Quit,
    Signal(&'static str),
    /// The terminal went away (end of input).
    InputClosed,
}

/// Takes over the terminal, runs the screen until it closes, and gives it back.
pub async fn run(
    sources: Vec<SharedSource>,
    policy: Policy,
    options: Options,
) -> anyhow::Result<Ending> {
    let stop = fatal_signal()?;

    let mut guard = terminal::enter(options.mouse)?;
    let size = guard.terminal.size()?;
    let caps = Caps {
        read_only: options.read_only,
        repair: options.repair.is_some(),
    };
    let mut app = App::new(
        sources.iter().map(|s| s.source_ref().clone()).collect(),
        policy.clone(),
        caps,
        Utc::now(),
        Rect::new(0, 0, size.width, size.height),
    );
    app.set_origins(options.origins);
    app.live.interval = options.live.interval;
    app.live.budget = options.budget;
    let worker = Worker {
        sources,
        policy,
        scanner: options.scanner,
        repair: options.repair,
        clock: Arc::new(Utc::now),
    }
    .spawn_live(options.live);
    let input = crossterm::event::EventStream::new();
    let mut session = Session::new(app, worker);
    let ending = drive(
        &mut guard.terminal,
        &mut session,
        input,
        stop,
        &options.theme,
        Utc::now,
    )
    .await;
    drop(guard);
    // What went wrong in the background and was not shown on screen.
    for p in terminal::take_panics() {
        let _ = writeln!(std::io::stderr(), "cachetop: {p}");
    }
    ending
}

/// Resolves with the name of the first fatal signal (see
/// [`crate::children::fatal_signals`]): the loop then ends and the terminal is given
/// back, whichever signal it was. Child processes are killed as the signal arrives.
fn fatal_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    enum Watch {
        Tokio(Signal),
        /// A signal tokio cannot watch (the last real-time one): its handler writes
        /// to a socket pair.
        Pipe(tokio::net::UnixStream),
    }
    crate::children::caller_ends_on_signal();
    let mut watches = Vec::new();
    for (sig, name) in crate::children::fatal_signals() {
        let watch = match signal(SignalKind::from_raw(sig)) {
            Ok(s) => Watch::Tokio(s),
            Err(_) => {
                let (read, write) = std::os::unix::net::UnixStream::pair()?;
                read.set_nonblocking(true)?;
                signal_hook::low_level::pipe::register(sig, write)?;
                Watch::Pipe(tokio::net::UnixStream::from_std(read)?)
            }
        };
        watches.push((watch, name));
    }
    Ok(async move {
        let waits = watches.iter_mut().map(|(w, name)| {
            Box::pin(async move {
                match w {
                    Watch::Tokio(s) => {
                        s.recv().await;
                    }
                    Watch::Pipe(r) => {
                        let _ = r.readable().await;
                    }
                }
                *name
            })
        });
        futures_util::future::select_all(waits).await.0
    })
}

/// The screen's state and its worker, stepped by terminal and worker events. The
/// real loop and the tests drive the same thing.
pub struct Session {
    pub app: App,
    pub worker: WorkerHandle,
    worker_alive: bool,
}

impl Session {
    pub fn new(app: App, worker: WorkerHandle) -> Self {
        let mut s = Self {
            app,
            worker,
            worker_alive: true,
        };
        let effects = s.app.start();
        s.dispatch(effects);
        s
    }

    pub fn worker_alive(&self) -> bool {
        self.worker_alive
    }

    /// Sends effects to the worker.
    pub fn dispatch(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            let cmd = match effect {
                Effect::Refresh => Command::Refresh,
                Effect::Prune(plan) => Command::Prune(plan),
                Effect::PlanRepair(e) => Command::PlanRepair(e),
                Effect::Repair(plan) => Command::Repair(plan),
                Effect::Plan(request) => {
                    let tx = self.worker.events_tx.clone();
                    off_the_loop(move || {
                        let planned =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                planning::plan(&request)
                            }));
                        let _ = tx.send(match planned {
                            Ok(p) => message::Event::Planned(Box::new(p)),
                            Err(_) => message::Event::Failed(
                                "the plan could not be made; nothing was deleted".to_string(),
                            ),
                        });
                    });
                    continue;
                }
                Effect::Count(job) => {
                    let tx = self.worker.events_tx.clone();
                    off_the_loop(move || {
                        let counted =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.count()))
                                .ok();
                        let _ = tx.send(message::Event::Counted {
                            version: job.version,
                            counted,
                        });
                    });
                    continue;
                }
                Effect::Discard(overlay) => {
                    off_the_loop(move || drop(overlay));
                    continue;
                }
            };
            if self.worker.commands.send(cmd).is_err() {
                self.lose_worker();
            }
        }
    }

    pub fn key(&mut self, ev: KeyEvent) {
        let effects = self.app.handle_key(ev);
        self.dispatch(effects);
    }

    /// A terminal event; true when the screen should be drawn again.
    pub fn terminal_event(&mut self, ev: TermEvent) -> bool {
        match ev {
            TermEvent::Key(k) => {
                self.key(k);
                true
            }
            TermEvent::Resize(w, h) => {
                self.app.resize(w, h);
                true
            }
            TermEvent::Mouse(m) => match self.app.handle_mouse(m) {
                Some(effects) => {
                    self.dispatch(effects);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    pub fn worker_event(&mut self, ev: message::Event) {
        let effects = self.app.apply(ev);
        self.dispatch(effects);
    }

    /// Applies every worker event already waiting, without waiting for more.
    pub fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Ok(ev) = self.worker.events.try_recv() {
            self.worker_event(ev);
            n += 1;
        }
        n
    }

    /// Waits for the next worker event and applies it (and any already waiting).
    /// False when the worker is gone.
    pub async fn next_worker_event(&mut self) -> bool {
        match self.worker.events.recv().await {
            Some(ev) => {
                self.worker_event(ev);
                self.drain();
                true
            }
            None => {
                self.lose_worker();
                false
            }
        }
    }

    /// Applies worker events until nothing is in flight.
    pub async fn settle(&mut self) {
        while self.app.in_flight() && self.next_worker_event().await {}
    }

    fn lose_worker(&mut self) {
        if self.worker_alive {
            self.worker_alive = false;
            self.app.worker_gone();
        }
    }
}

/// Runs pure but heavy work on a blocking thread (inline when there is no runtime).
fn off_the_loop(job: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(job);
        }
        Err(_) => job(),
    }
}

/// The event loop, generic over the backend and the input so tests can run it on a
/// `TestBackend` with scripted keys.
pub async fn drive<B, I>(
    terminal: &mut Terminal<B>,
    session: &mut Session,
    mut input: I,
    stop: impl std::future::Future<Output = &'static str>,
    theme: &Theme,
    clock: fn() -> DateTime<Utc>,
) -> anyhow::Result<Ending>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    I: Stream<Item = std::io::Result<TermEvent>> + Unpin,
{
    let mut tick = tokio::time::interval(SPINNER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tokio::pin!(stop);
    session.app.now = clock();
    terminal.draw(|f| view::draw(f, &session.app, theme))?;
    loop {
        let dirty = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => {
                    session.app.now = clock();
                    session.terminal_event(ev)
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(Ending::InputClosed),
            },
            ev = session.worker.events.recv(), if session.worker_alive => match ev {
                Some(ev) => {
                    session.app.now = clock();
                    session.worker_event(ev);
                    session.drain();
                    true
                }
                None => {
                    // A panic in the worker already restored the terminal; the screen
                    // cannot load or delete anything without it, so it closes.
                    anyhow::bail!("the background worker stopped unexpectedly");
                }
            },
            _ = tick.tick(), if session.app.in_flight() => {
                session.app.tick();
                true
            }
            name = &mut stop => return Ok(Ending::Signal(name)),
        };
        if session.app.quit {
            return Ok(Ending::Quit);
        }
        let panics = terminal::take_panics();
        let dirty = dirty || !panics.is_empty();
        session.app.errors.extend(panics);
        if dirty {
            terminal.draw(|f| view::draw(f, &session.app, theme))?;
        }
    }
}
