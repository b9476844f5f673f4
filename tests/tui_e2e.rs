//! The real binary on a real terminal: tmux runs `cachetop` against the isolated
//! daemon, keys are typed into it, the screen is read back, and the daemon's own API
//! says what happened. tmux is installed from Debian when missing.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tmux::{self, Tmux};
use common::*;

/// The shell line for a pane running cachetop against the isolated daemon, with no
/// user configuration or cargo home.
fn pane_line(pidfile: &Path) -> String {
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    format!(
        "env -u DOCKER_HOST -u NO_COLOR XDG_CONFIG_HOME=/nonexistent CARGO_HOME={NO_CARGO_HOME} {}",
        tmux::pane_line(
            pidfile,
            &format!("{} --host {}", bin.display(), daemon().host)
        )
    )
}

/// After cachetop: the normal screen is back, with the cursor, in cooked mode.
fn assert_restored(t: &Tmux, screen: &str) {
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(
        t.display("#{cursor_flag}"),
        "1",
        "the cursor is still hidden"
    );
    assert!(
        screen.contains("before-cachetop"),
        "the old screen is gone:\n{screen}"
    );
    assert!(
        !screen.contains("cachetop │"),
        "the table is left over:\n{screen}"
    );
    assert!(
        screen.contains(" icanon") && screen.contains(" echo "),
        "the terminal is still raw:\n{screen}"
    );
}

#[test]
fn browse_filter_delete_with_confirm_and_quit_on_a_real_terminal() {
    let _lock = deletion_lock();
    let target = format!("/cache/{}", unique("tui-e2e"));
    build(&cache_mount_dockerfile(&target, 2_000_000));
    let mount_record = |target: &str| -> Option<String> {
        let needle = format!("cached mount {target} from exec");
        api_records()
            .into_iter()
            .find(|r| {
                r["Description"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(&needle))
            })
            .and_then(|r| r["ID"].as_str().map(str::to_string))
    };
    let built = mount_record(&target).expect("the build left no cache mount record");

    let dir = tempfile::tempdir().unwrap();
    let t = Tmux::start(160, 48, &pane_line(&dir.path().join("pid")));

    // The daemon may hold more records than fit (a long-lived test daemon): filter to
    // the mount once the listing is in.
    t.wait_for("the listing", |s| s.contains("ok:"));
    t.keys(&["/"]);
    t.type_text(&target);
    t.keys(&["Enter"]);
    // Exactly the records whose id, type or description holds the target, as the
    // daemon itself lists them.
    let expected = api_records()
        .iter()
        .filter(|r| {
            ["ID", "Type", "Description"]
                .iter()
                .any(|k| r[*k].as_str().is_some_and(|v| v.contains(&target)))
        })
        .count();
    assert!(expected >= 1);
    t.wait_for("the filter", |s| s.contains(&format!("filter: {target}")));
    // The cursor follows the selected entry while the filter is typed, so it can rest on
    // any match: go to the top, where the largest match is.
    t.keys(&["g"]);
    let screen = t.wait_for("the first match selected", |s| s.contains("row 1/"));
    assert!(
        screen.contains(&format!("row 1/{expected} ")),
        "the filter does not show exactly the {expected} matching records:\n{screen}"
    );
    let first = screen
        .lines()
        .skip_while(|l| !l.contains("MOUNT / DESCRIPTION"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        first.contains(&target) && first.contains("cachemount"),
        "the cache mount is not the first row: {first:?}"
    );
    // Its row, with a human size and a fresh last use.
    assert!(first.contains("2 MB"), "no human size in {first:?}");
    let fresh = first.contains("just now")
        || first.contains("s ago")
        || (1..=5).any(|m| first.contains(&format!(" {m}m ago")));
    assert!(fresh, "not used in the last minutes: {first:?}");

    // d opens the plan and deletes nothing.
    t.keys(&["d"]);
    let screen = t.wait_for("the confirm dialog", |s| {
        s.contains("Delete 1 entry, 2 MB?")
    });
    // The record the daemon lists for the mount now (read again: it is the one that
    // must go).
    let id = mount_record(&target).expect("the cache mount record vanished");
    assert!(
        screen.contains(&id),
        "the dialog does not name the record {id} (right after the build: {built}):\n{screen}"
    );
    assert!(screen.contains("y/Enter"), "{screen}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(api_record(&id).is_some(), "d alone deleted the record");

    // y deletes it, and only it.
    t.keys(&["y"]);
    let screen = t.wait_for("the outcome", |s| s.contains("Deleted 1 of 1 planned"));
    assert!(screen.contains("reclaimed 2 MB"), "{screen}");
    assert!(
        api_record(&id).is_none(),
        "the record is still in the daemon"
    );

    // The table refreshed without it; quit to a restored screen.
    t.keys(&["Escape"]);
    t.wait_for("the refreshed table", |s| {
        !s.contains("Prune finished")
            && !s
                .lines()
                .any(|l| l.contains("cachemount") && l.contains(&target))
    });
    t.keys(&["q"]);
    let screen = t.wait_for("cachetop to exit", |s| {
        s.contains("cachetop exited") && s.contains("speed")
    });
    assert!(screen.contains("cachetop exited 0"), "{screen}");
    assert_restored(&t, &screen);
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let t = Tmux::start(80, 24, &pane_line(&pidfile));
        t.wait_for("the screen", |s| {
            s.contains("cachetop │") && s.contains("ok:")
        });
        assert_eq!(t.display("#{alternate_on}"), "1");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), pid.trim()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {pid}");
        let screen = t.wait_for("cachetop to exit", |s| {
            s.contains("cachetop exited") && s.contains("speed")
        });
        assert!(screen.contains("cachetop exited 1"), "{signal}:\n{screen}");
        assert!(
            screen.contains(&format!("stopped by SIG{signal}")),
            "{signal}:\n{screen}"
        );
        assert_restored(&t, &screen);
    }
}

#[test]
fn off_a_terminal_it_exits_2_with_a_hint() {
    let out = cachetop_on_daemon().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("cachetop report"), "{err}");
    assert_no_panic(&out);
}

#[test]
fn read_only_screen_offers_no_delete_on_a_real_terminal() {
    let bin = assert_cmd::cargo::cargo_bin("cachetop");
    let line = format!(
        "env -u DOCKER_HOST XDG_CONFIG_HOME=/nonexistent CARGO_HOME={} {} --host {} --read-only",
        NO_CARGO_HOME,
        bin.display(),
        daemon().host
    );
    let t = Tmux::start(160, 48, &line);
    let screen = t.wait_for("the screen", |s| {
        s.contains("READ-ONLY") && s.contains("ok:")
    });
    assert!(!screen.contains("d delete"), "{screen}");
    t.keys(&["d"]);
    t.keys(&["E"]);
    let screen = t.screen();
    assert!(!screen.contains("Delete"), "{screen}");
    assert!(!screen.contains("Evict"), "{screen}");
}
