//! A tmux server of the test's own (never the user's), to run the real binary on a
//! real terminal and read back what the terminal shows. tmux is installed from Debian
//! when missing.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{text, unique};

fn ensure_tmux() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let present = || {
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if present() {
            return;
        }
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let run = |args: &[&str]| {
            let mut cmd = if root {
                Command::new(args[0])
            } else {
                let mut c = Command::new("sudo");
                c.arg("-n").arg(args[0]);
                c
            };
            cmd.args(&args[1..])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        if !run(&["apt-get", "install", "-y", "-q", "tmux"]) {
            run(&["apt-get", "update", "-q"]);
            run(&["apt-get", "install", "-y", "-q", "tmux"]);
        }
        assert!(
            present(),
            "tmux is missing and could not be installed with apt-get (needs root or sudo -n)"
        );
    });
}

/// One tmux server with one pane running `shell_line`; killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(width: u16, height: u16, shell_line: &str) -> Tmux {
        ensure_tmux();
        let t = Tmux {
            socket: unique("cachetop-adv"),
        };
        let status = t
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "t"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(shell_line)
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        t
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    pub fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("tmux capture-pane");
        text(&out.stdout)
    }

    pub fn display(&self, format: &str) -> String {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "t", format])
            .output()
            .expect("tmux display-message");
        text(&out.stdout).trim().to_string()
    }

    pub fn keys(&self, keys: &[&str]) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tmux send-keys {keys:?}");
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Text typed as it is (`send-keys -l`).
    pub fn type_text(&self, s: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", "t", "-l", s])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tmux send-keys -l {s:?}");
        std::thread::sleep(Duration::from_millis(150));
    }

    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The shell line for a pane: a marker, `command` (its pid written to `pidfile`, run
/// with `exec` so the pid is cachetop's), how it exited, and the terminal's mode after.
pub fn pane_line(pidfile: &Path, command: &str) -> String {
    // A prune lock of its own, as `cachetop()` gives: screen deletions take the
    // machine's prune lock without waiting, and other tests prune at the same time.
    format!(
        "sh -c 'echo before-cachetop; sh -c \"echo \\$\\$ > {pid}; exec env CACHETOP_LOCK_DIR={lock} {command}\"; \
         echo cachetop exited $?; stty -a; sleep 600'",
        pid = pidfile.display(),
        lock = super::own_lock_dir().display(),
    )
}

/// Waits for a pid file's pid.
pub fn read_pid(pidfile: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        assert!(Instant::now() < deadline, "no pid in {}", pidfile.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}
