//! The screen with its real worker task, against in-memory sources: keys go in,
//! the worker lists, scans, prunes and repairs, and the state shows the results.

use crate::tui_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use tokio::sync::mpsc;
use tokio_stream_shim::ReceiverStream;

use cachetop::model::{Entry, Finding, Flag, SourceKind, SourceRef};
use cachetop::plan::{Done, Outcome, Progress};
use cachetop::policy::Policy;
use cachetop::repair::{RepairItem, RepairPlan, Repairer};
use cachetop::scan::Scanner;
use cachetop::sources::{ErrorKind, SharedSource, SourceError};
use cachetop::tui::app::{App, Caps, Overlay};
use cachetop::tui::keys::Mode;
use cachetop::tui::view::Theme;
use cachetop::tui::worker::Worker;
use cachetop::tui::{Ending, Session, drive};
use tui_support::*;

const NPM: &str = "t5y8u1i4o7p0a3s6d9f2g5h8j";
const CARGO: &str = "ufkdtw3x1lkysw5eit7oc8i9m";

/// Entries as a source lists them: no scan results yet.
fn listed_entries() -> Vec<Entry> {
    sample_entries()
        .into_iter()
        .map(|mut e| {
            e.disk_bytes = None;
            e.findings.clear();
            e.content = None;
            e.flags.clear();
            e
        })
        .collect()
}

fn session(
    sources: Vec<SharedSource>,
    scanner: Option<Arc<dyn Scanner>>,
    repair: Option<Arc<dyn Repairer>>,
) -> Session {
    let refs = sources.iter().map(|s| s.source_ref().clone()).collect();
    let caps = Caps {
        read_only: false,
        repair: repair.is_some(),
    };
    let worker = Worker {
        sources,
        policy: Policy::default(),
        scanner,
        repair,
        clock: Arc::new(now),
    }
    .spawn();
    let app = App::new(
        refs,
        Policy::default(),
        caps,
        now(),
        Rect::new(0, 0, 100, 30),
    );
    Session::new(app, worker)
}

fn type_keys(s: &mut Session, script: &str) {
    for k in keys(script) {
        s.key(k);
    }
}

fn message_text(app: &App) -> String {
    match app.overlays.last() {
        Some(Overlay::Message { lines, .. }) => lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("no message shown: {other:?}"),
    }
}

#[tokio::test]
async fn the_worker_deletes_only_after_y_and_the_table_refreshes() {
    let src = FakeSource::new(docker(), listed_entries());
    let mut s = session(vec![src.clone()], None, None);
    settle(&mut s).await;
    assert_eq!(s.app.list.len(), 7);

    type_keys(&mut s, "/npm<Enter>d");
    settle(&mut s).await;
    // Give the worker every chance to act on something it should not have been sent.
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.drain();
    assert!(src.deleted().is_empty(), "d alone reached the source");
    assert_eq!(s.app.mode(), Mode::Confirm);

    type_keys(&mut s, "y");
    assert!(s.app.busy.is_some(), "no pruning status");
    settle(&mut s).await;
    assert_eq!(src.deleted(), vec![NPM], "not exactly the chosen id");
    let msg = message_text(&s.app);
    assert!(
        msg.contains("Deleted 1 of 1 planned, reclaimed 289 MB"),
        "{msg}"
    );
    assert!(msg.contains(NPM), "{msg}");
    // Listed, re-read by the executor, listed again after the prune.
    assert_eq!(*src.lists.lock().unwrap(), 3);
    assert_eq!(s.app.list.len(), 6);
    assert!(s.app.list.entries().iter().all(|e| e.id != NPM));
}

#[tokio::test]
async fn an_entry_used_between_plan_and_confirm_is_skipped_with_its_reason() {
    let src = FakeSource::new(docker(), listed_entries());
    let mut s = session(vec![src.clone()], None, None);
    settle(&mut s).await;
    type_keys(&mut s, "/npm<Enter>d");
    settle(&mut s).await;
    assert_eq!(s.app.mode(), Mode::Confirm);
    {
        let mut entries = src.entries.lock().unwrap();
        let npm = entries.iter_mut().find(|e| e.id == NPM).unwrap();
        npm.last_used_at = Some(now());
        npm.usage_count = Some(3);
    }
    type_keys(&mut s, "y");
    settle(&mut s).await;
    assert!(src.deleted().is_empty(), "a changed entry was deleted");
    let msg = message_text(&s.app);
    assert!(msg.contains("Deleted 0 of 1 planned"), "{msg}");
    assert!(msg.contains("used since the plan was made"), "{msg}");
}

#[tokio::test]
async fn the_enricher_fills_in_sizes_and_findings_as_scans_finish() {
    let src = FakeSource::new(docker(), listed_entries());
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let enricher: Arc<dyn Scanner> = Arc::new(move |e: &Entry| {
        log.lock().unwrap().push(e.id.clone());
        if e.id == "w868h0xtrfdj3n5tglnm032ah" {
            panic!("a scan that blows up must not take the screen with it");
        }
        let mount = e.mount.as_ref()?;
        let mut out = e.clone();
        out.disk_bytes = Some(e.size_bytes * 3);
        if mount.target.contains("cargo") {
            out.findings.push(Finding {
                kind: cachetop::model::FindingKind::CargoPartialExtraction,
                path: "registry/src/x/http-1.4.1".into(),
                detail: "no .cargo-ok".into(),
                bytes: 1_000,
            });
        }
        Some(out)
    });
    let mut s = session(vec![src.clone()], Some(enricher), None);
    settle(&mut s).await;
    assert_eq!(seen.lock().unwrap().len(), 7, "not every entry was scanned");
    assert!(s.app.scan.is_none());
    let cargo = s.app.list.entries().iter().find(|e| e.id == CARGO).unwrap();
    assert_eq!(cargo.disk_bytes, Some(2_480_000_000 * 3));
    assert!(cargo.has(Flag::Partial), "findings were not re-classified");
    assert!(cargo.has(Flag::SizeMismatch));
    let ctx = s
        .app
        .list
        .entries()
        .iter()
        .find(|e| e.id == "w868h0xtrfdj3n5tglnm032ah")
        .unwrap();
    assert_eq!(
        ctx.disk_bytes, None,
        "the panicking scan left its entry as listed"
    );
    assert_eq!(s.app.list.row(0).unwrap().id, CARGO);
}

#[tokio::test]
async fn a_failed_source_pops_an_error_and_the_others_still_show() {
    let good = FakeSource::new(docker(), listed_entries());
    let bad_ref = SourceRef::new(SourceKind::Docker, "tcp://127.0.0.1:9");
    let bad = FakeSource::new(bad_ref, vec![]);
    *bad.fail_list.lock().unwrap() = Some(SourceError::new(
        ErrorKind::Unreachable,
        "cannot connect to tcp://127.0.0.1:9: connection refused; is dockerd running?",
    ));
    let mut s = session(vec![good, bad], None, None);
    settle(&mut s).await;
    assert_eq!(s.app.list.len(), 7);
    assert_eq!(s.app.mode(), Mode::Error);
    assert!(s.app.errors[0].contains("connection refused"));
}

#[tokio::test]
async fn repair_plans_and_runs_through_the_worker_after_y() {
    let src = FakeSource::new(docker(), listed_entries());
    let planned = Arc::new(Mutex::new(Vec::<String>::new()));
    let executed = Arc::new(Mutex::new(Vec::<RepairPlan>::new()));
    let hook = Arc::new(Recording {
        planned: planned.clone(),
        executed: executed.clone(),
    });
    let mut s = session(vec![src.clone()], None, Some(hook));
    settle(&mut s).await;
    type_keys(&mut s, "R");
    settle(&mut s).await;
    assert_eq!(*planned.lock().unwrap(), vec![CARGO]);
    assert_eq!(s.app.mode(), Mode::Confirm);
    assert!(executed.lock().unwrap().is_empty(), "R alone repaired");
    type_keys(&mut s, "y");
    settle(&mut s).await;
    assert_eq!(executed.lock().unwrap().len(), 1);
    assert!(message_text(&s.app).contains("Removed 1 broken part, reclaimed 1 kB"));
    assert!(src.deleted().is_empty(), "a repair deleted a whole entry");
}

/// A repair that records what it is asked to plan and carry out.
struct Recording {
    planned: Arc<Mutex<Vec<String>>>,
    executed: Arc<Mutex<Vec<RepairPlan>>>,
}

#[async_trait::async_trait]
impl Repairer for Recording {
    async fn plan(&self, e: &Entry) -> RepairPlan {
        self.planned.lock().unwrap().push(e.id.clone());
        RepairPlan {
            items: vec![RepairItem {
                entry: e.clone(),
                parts: vec![Finding {
                    kind: cachetop::model::FindingKind::CargoPartialExtraction,
                    path: "registry/src/x/http-1.4.1".into(),
                    detail: "crate dir without .cargo-ok".into(),
                    bytes: 1_000,
                }],
            }],
            skipped: vec![],
        }
    }

    async fn execute(&self, plan: &RepairPlan, _: &[SharedSource], _: &Progress) -> Outcome {
        self.executed.lock().unwrap().push(plan.clone());
        Outcome {
            done: plan
                .items
                .iter()
                .flat_map(|it| {
                    it.parts.iter().map(|p| Done {
                        source: it.entry.source.clone(),
                        id: it.entry.id.clone(),
                        path: Some(p.path.clone()),
                        bytes: p.bytes,
                        planned: true,
                    })
                })
                .collect(),
            reclaimed_bytes: 1_000,
            ..Default::default()
        }
    }
}

/// A stream of terminal events fed by a channel.
mod tokio_stream_shim {
    use crossterm::event::Event;
    use futures_util::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::sync::mpsc::UnboundedReceiver;

    pub struct ReceiverStream(pub UnboundedReceiver<std::io::Result<Event>>);

    impl Stream for ReceiverStream {
        type Item = std::io::Result<Event>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
}

#[tokio::test]
async fn the_loop_draws_on_events_only_and_quits_on_q() {
    let src = FakeSource::new(docker(), listed_entries());
    let mut s = session(vec![src], None, None);
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let feeder = tokio::spawn(async move {
        // Let everything load, then stay idle for a while: a fixed frame rate would
        // draw dozens of frames here.
        tokio::time::sleep(Duration::from_millis(800)).await;
        for k in keys("jq") {
            let _ = tx.send(Ok(crossterm::event::Event::Key(k)));
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let ending = tokio::time::timeout(
        Duration::from_secs(10),
        drive(
            &mut terminal,
            &mut s,
            ReceiverStream(rx),
            std::future::pending(),
            &Theme::COLOR,
            now,
        ),
    )
    .await
    .expect("the loop did not end on q")
    .unwrap();
    feeder.abort();
    assert_eq!(ending, Ending::Quit);
    assert_eq!(s.app.cursor, 1);
    let frames = terminal.get_frame().count();
    assert!(
        frames <= 8,
        "{frames} frames for a load and one key: the loop redraws without events"
    );
    let screen = screen_text(&terminal);
    assert!(screen.contains("/usr/local/cargo"), "{screen}");
}

#[tokio::test]
async fn the_loop_ends_on_a_signal() {
    let src = FakeSource::new(docker(), listed_entries());
    let mut s = session(vec![src], None, None);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let input = futures_util::stream::pending::<std::io::Result<crossterm::event::Event>>();
    let stop = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        "SIGHUP"
    };
    let ending = tokio::time::timeout(
        Duration::from_secs(10),
        drive(
            &mut terminal,
            &mut s,
            input.boxed(),
            stop,
            &Theme::COLOR,
            now,
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(ending, Ending::Signal("SIGHUP"));
}
