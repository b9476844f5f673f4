//! The screen wired the way `cachetop` starts it: the real worker scans the listed
//! entries with the content scan, and `R` repairs through the same planner and
//! executor as `cachetop repair`, on a directory holding real cargo data.

use crate::scan_support;
use crate::tui_support;

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

/// The README's row for a cargo finding: (what happened, a build alone, builds
/// sharing the cache at once), and the fix it gives for all of them.
fn readme_cargo_row(kind: &str) -> ([String; 3], String) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with(&format!("| `{kind}` |")))
        .unwrap_or_else(|| panic!("README.md has no row for {kind}"));
    let cells: Vec<String> = row.split('|').map(|c| c.trim().to_string()).collect();
    assert_eq!(cells.len(), 7, "{row}");
    let fix = readme
        .lines()
        .find_map(|l| l.strip_prefix("Fix, for each: "))
        .expect("README.md's fix for cargo findings")
        .to_string();
    ([cells[3].clone(), cells[4].clone(), cells[5].clone()], fix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_details_pane_says_what_the_readme_says_for_each_cargo_finding() {
    // Real cargo data broken the four ways the cargo detector names.
    let root = scratch().join("screen-words");
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
    std::fs::remove_file(src.join(ITOA).join(".cargo-ok")).unwrap();
    let (git_home, _) = git_dep_home("screen-words-git", 3);
    copy_tree(&git_home.join("git"), &root.join("mnt/git"));
    let checkouts = root.join("mnt/git/checkouts");
    let repo = std::fs::read_dir(&checkouts)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let rev = std::fs::read_dir(repo.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    std::fs::remove_file(rev.path().join(".cargo-ok")).unwrap();

    let sources: Vec<SharedSource> = vec![Arc::new(DirSource::new(root.clone()))];
    let worker = Worker {
        sources: sources.clone(),
        policy: Policy::default(),
        scanner: Some(Arc::new(cachetop::scan::OnDisk)),
        repair: None,
        clock: Arc::new(now),
    }
    .spawn();
    let caps = Caps {
        read_only: true,
        repair: false,
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
    for k in keys("<Enter>") {
        s.key(k);
    }
    assert_eq!(s.app.mode(), Mode::Details);
    let pane: Vec<String> = s.app.details_lines().into_iter().map(|l| l.text).collect();

    // Each finding's lines under its heading: what happened, alone, shared, fix.
    let parts_of = |kind: &str| -> Vec<&str> {
        let at = pane
            .iter()
            .position(|l| l.starts_with(&format!("  {kind}  ")))
            .unwrap_or_else(|| panic!("no {kind} in the pane:\n{}", pane.join("\n")));
        pane[at + 1..at + 5]
            .iter()
            .map(|l| l.strip_prefix("      ").unwrap_or_else(|| panic!("{l:?}")))
            .collect()
    };
    let cases = [
        ("cargo.partial_extraction", None),
        ("cargo.torn_marker", Some(("empty, `ok` or other", "empty"))),
        (
            "cargo.corrupt_crate",
            Some(("after N bytes", "after 1000 bytes")),
        ),
        ("cargo.git_checkout_incomplete", None),
    ];
    for (kind, placeholder) in cases {
        let ([happened, alone, shared], fix) = readme_cargo_row(kind);
        let happened = match placeholder {
            Some((from, to)) => {
                assert!(happened.contains(from), "{happened}");
                happened.replace(from, to)
            }
            None => happened,
        };
        let parts = parts_of(kind);
        assert_eq!(parts[0], happened, "{kind}: what happened");
        assert_eq!(parts[1], format!("A build alone: {alone}"), "{kind}");
        assert_eq!(
            parts[2],
            format!("Builds sharing the cache at once: {shared}"),
            "{kind}"
        );
        // The README gives one fix for all; each finding's fix holds both its halves.
        let (now_part, for_good) = fix
            .trim_end_matches('.')
            .split_once(" removes the part now; ")
            .expect("the README's fix: now, then for good");
        assert_eq!(now_part, "`R` on the screen or `cachetop repair`");
        assert!(
            parts[3].starts_with("Fix: `R` or `cachetop repair` removes it"),
            "{kind}: {}",
            parts[3]
        );
        assert!(
            parts[3].contains(for_good),
            "{kind}: {}\n{for_good}",
            parts[3]
        );
        assert!(for_good.contains("`cargo-registry-unlocked`"), "{for_good}");
    }
}
