//! The screen wired the way `cachetop` starts it: the real worker scans the listed
//! entries with the content scan, and `R` repairs through the same planner and
//! executor as `cachetop repair`, on a directory holding real cargo data.

mod scan_support;
mod tui_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ratatui::layout::Rect;

use cachetop::policy::Policy;
use cachetop::sources::SharedSource;
use cachetop::sources::dir::DirSource;
use cachetop::tui::Session;
use cachetop::tui::app::{App, Caps, Overlay};
use cachetop::tui::keys::Mode;
use cachetop::tui::worker::Worker;
use scan_support::*;
use tui_support::{keys, now};

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

async fn settle(s: &mut Session) {
    tokio::time::timeout(Duration::from_secs(60), s.settle())
        .await
        .expect("the worker did not finish in 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_scans_and_r_removes_exactly_the_broken_parts() {
    // One directory holding a cargo registry from a real `cargo fetch`, broken twice.
    let root = scratch().join("screen");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("mnt")).unwrap();
    copy_tree(&cargo_home().join("registry"), &root.join("mnt/registry"));
    let reg = registry_name();
    let src = root.join("mnt/registry/src").join(&reg);
    std::fs::write(src.join(CFG_IF).join(".cargo-ok"), b"").unwrap();
    let archive = root
        .join("mnt/registry/cache")
        .join(&reg)
        .join(format!("{ITOA}.crate"));
    let whole = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &whole[..1000]).unwrap();
    let before = files(&root);

    let sources: Vec<SharedSource> = vec![Arc::new(DirSource::new(root.clone()))];
    let worker = Worker {
        sources: sources.clone(),
        policy: Policy::default(),
        scanner: Some(Arc::new(cachetop::scan::OnDisk)),
        repair: Some(Arc::new(cachetop::repair::OnDisk)),
        clock: Arc::new(now),
    }
    .spawn();
    let caps = Caps {
        read_only: false,
        repair: true,
    };
    let app = App::new(
        sources.iter().map(|s| s.source_ref().clone()).collect(),
        Policy::default(),
        caps,
        now(),
        Rect::new(0, 0, 120, 40),
    );
    let mut s = Session::new(app, worker);
    settle(&mut s).await;

    // The scan filled the entry in: true size, two findings, partial.
    let e = &s.app.list.entries()[0];
    assert_eq!(e.disk_bytes, Some(before.values().sum::<u64>()));
    let mut kinds: Vec<&str> = e.findings.iter().map(|f| f.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, vec!["cargo.corrupt_crate", "cargo.torn_marker"]);
    assert!(e.has(cachetop::model::Flag::Partial));

    for k in keys("R") {
        s.key(k);
    }
    settle(&mut s).await;
    assert_eq!(s.app.mode(), Mode::Confirm);
    assert_eq!(files(&root), before, "R alone removed something");
    for k in keys("y") {
        s.key(k);
    }
    settle(&mut s).await;
    let msg = message_text(&s.app);
    assert!(msg.contains("Removed 2 broken parts"), "{msg}");

    let cut = Path::new("mnt/registry/cache")
        .join(&reg)
        .join(format!("{ITOA}.crate"));
    let torn = Path::new("mnt/registry/src").join(&reg).join(CFG_IF);
    let expected: std::collections::BTreeMap<_, _> = before
        .into_iter()
        .filter(|(p, _)| *p != cut && !p.starts_with(&torn))
        .collect();
    assert_eq!(files(&root), expected);
    // The refresh after the repair scans again and finds nothing.
    settle(&mut s).await;
    assert!(s.app.list.entries()[0].findings.is_empty());
}
