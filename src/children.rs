//! Child processes cachetop starts (docker credential helpers) run code from outside,
//! so each is bounded: its own process group, a cap on what it writes, a time limit
//! after which the whole group is killed. Every group still running when cachetop
//! ends (it exits, the screen closes, or a fatal signal arrives) is killed too, so a
//! helper that hangs never outlives cachetop.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// How long, and how much output, one run may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub time: Duration,
    pub stdout_bytes: usize,
    pub stderr_bytes: usize,
}

/// A child that exited by itself within its bounds.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a child gave no usable answer. No variant holds what the child wrote.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot start {program}: {error}")]
    Spawn { program: String, error: io::Error },
    #[error("{program} did not answer within {}", seconds(*after))]
    TimedOut { program: String, after: Duration },
    #[error("{program} wrote more than {limit} bytes to {stream}")]
    TooMuchOutput {
        program: String,
        stream: &'static str,
        limit: usize,
    },
    #[error("talking to {program} failed: {error}")]
    Io { program: String, error: io::Error },
    #[error("{program} was not started: {MAX_GROUPS} child processes already run")]
    TooMany { program: String },
}

/// `30 s`, `1.5 s`.
pub fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Runs `program args`, writes `input` to its stdin and closes it, and collects what
/// it writes. The child is its own process group's leader; on a timeout, too much
/// output, or the caller dropping this future, the whole group is killed.
pub async fn run(
    program: &str,
    args: &[&str],
    input: &[u8],
    bounds: Bounds,
) -> Result<Finished, ChildError> {
    watch_fatal_signals();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| ChildError::Spawn {
            program: program.to_string(),
            error,
        })?;
    let Some(pgid) = child.id().and_then(|pid| i32::try_from(pid).ok()) else {
        // Already reaped: it cannot have answered anything.
        return Err(ChildError::Io {
            program: program.to_string(),
            error: io::Error::other("it exited before it could be read"),
        });
    };
    let Some(group) = Group::register(pgid) else {
        // It has had no input yet; take it down before it does anything.
        kill_group(pgid);
        return Err(ChildError::TooMany {
            program: program.to_string(),
        });
    };
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let exchange = async {
        let write = async {
            if let Some(mut w) = stdin {
                // A helper that exits without reading its input is its own business.
                match w.write_all(input).await {
                    Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        };
        let (written, out, err) = tokio::join!(
            write,
            read_capped(stdout, bounds.stdout_bytes),
            read_capped(stderr, bounds.stderr_bytes)
        );
        written.map_err(|error| ChildError::Io {
            program: program.to_string(),
            error,
        })?;
        let too_much = |stream, limit| ChildError::TooMuchOutput {
            program: program.to_string(),
            stream,
            limit,
        };
        let io_error = |error| ChildError::Io {
            program: program.to_string(),
            error,
        };
        let stdout = out
            .map_err(io_error)?
            .ok_or_else(|| too_much("stdout", bounds.stdout_bytes))?;
        let stderr = err
            .map_err(io_error)?
            .ok_or_else(|| too_much("stderr", bounds.stderr_bytes))?;
        let status = child.wait().await.map_err(io_error)?;
        Ok(Finished {
            status,
            stdout,
            stderr,
        })
    };
    let result = match tokio::time::timeout(bounds.time, exchange).await {
        Ok(r) => r,
        Err(_) => Err(ChildError::TimedOut {
            program: program.to_string(),
            after: bounds.time,
        }),
    };
    match result {
        Ok(finished) => {
            // Reaped: the group id may be reused now, so it must never be killed.
            group.release();
            Ok(finished)
        }
        Err(e) => {
            group.kill();
            // SIGKILL cannot be ignored; the wait only reaps. Bounded all the same
            // (a process stuck in the kernel), and kill_on_drop reaps it later.
            let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
            Err(e)
        }
    }
}

/// Reads to the end, or `None` as soon as more than `cap` bytes arrive.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: Option<R>,
    cap: usize,
) -> io::Result<Option<Vec<u8>>> {
    let Some(reader) = reader else {
        return Ok(Some(Vec::new()));
    };
    let mut buf = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut buf).await?;
    Ok((buf.len() <= cap).then_some(buf))
}

/// At most this many children run at once (one per registry being read).
pub const MAX_GROUPS: usize = 64;

/// Process groups of children still running; 0 is a free slot. Plain atomics, so a
/// signal handler may read them.
static GROUPS: [AtomicI32; MAX_GROUPS] = [const { AtomicI32::new(0) }; MAX_GROUPS];

/// One registered process group. Dropping it kills the group: a future cancelled
/// mid-run (the screen closing) takes its child with it.
struct Group {
    slot: usize,
    pgid: i32,
}

impl Group {
    fn register(pgid: i32) -> Option<Group> {
        (0..MAX_GROUPS).find_map(|slot| {
            GROUPS[slot]
                .compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
                .ok()
                .map(|_| Group { slot, pgid })
        })
    }

    /// Forgets the group without killing it (its leader was reaped).
    fn release(self) {
        let _ =
            GROUPS[self.slot].compare_exchange(self.pgid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn kill(self) {
        drop(self);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // Whoever takes the slot kills the group, once.
        if GROUPS[self.slot]
            .compare_exchange(self.pgid, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            kill_group(self.pgid);
        }
    }
}

fn kill_group(pgid: i32) {
    if pgid > 1 {
        // SAFETY: killpg has no memory preconditions and is async-signal-safe.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// Kills every child process group still running. Called on every way out of
/// cachetop; safe to call more than once, and from a signal handler.
pub fn kill_all() {
    for slot in &GROUPS {
        let pgid = slot.swap(0, Ordering::SeqCst);
        if pgid != 0 {
            kill_group(pgid);
        }
    }
}

/// The catchable signals whose default action ends the process and that a user or
/// the system sends: the screen restores the terminal on each, and a child's group is
/// killed on each. Left out: SIGKILL and SIGSTOP (cannot be caught), SIGILL, SIGFPE,
/// SIGSEGV, SIGBUS, SIGTRAP, SIGSYS and SIGABRT (faults and aborts of cachetop's own
/// code, where the panic hook restores the terminal), SIGPIPE (Rust ignores it, so a
/// write fails instead), and signals that stop rather than end (SIGTSTP, SIGTTIN,
/// SIGTTOU) or are ignored by default (SIGCHLD, SIGWINCH, SIGURG, SIGCONT).
pub fn fatal_signals() -> Vec<(i32, &'static str)> {
    let mut v = vec![
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGIO, "SIGIO"),
    ];
    #[cfg(target_os = "linux")]
    {
        v.push((libc::SIGPWR, "SIGPWR"));
        v.push((libc::SIGSTKFLT, "SIGSTKFLT"));
        for rt in libc::SIGRTMIN()..=libc::SIGRTMAX() {
            v.push((rt, "a real-time signal"));
        }
    }
    v
}

/// Set once the caller ends the process itself on a fatal signal (the screen, which
/// restores the terminal first); otherwise the default action follows the kill.
static CALLER_ENDS_ON_SIGNAL: AtomicBool = AtomicBool::new(false);

/// Says that the caller handles fatal signals and ends the process itself: a signal
/// then only kills the children's groups.
pub fn caller_ends_on_signal() {
    CALLER_ENDS_ON_SIGNAL.store(true, Ordering::SeqCst);
}

/// From the first child on, a fatal signal kills every child's group first. A child
/// has its own group, so a Ctrl-C at the terminal no longer reaches it by itself.
fn watch_fatal_signals() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (sig, _) in fatal_signals() {
            // SAFETY: the action only touches atomics and calls killpg, sigaction and
            // raise, which are async-signal-safe.
            let _ = unsafe { signal_hook::low_level::register(sig, move || on_fatal_signal(sig)) };
        }
    });
}

fn on_fatal_signal(sig: i32) {
    kill_all();
    if !CALLER_ENDS_ON_SIGNAL.load(Ordering::SeqCst)
        && signal_hook::low_level::emulate_default_handler(sig).is_err()
    {
        // Signals signal-hook has no table entry for (real-time ones) end the process
        // by default: restore that and raise it again.
        // SAFETY: signal and raise are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(ms: u64) -> Bounds {
        Bounds {
            time: Duration::from_millis(ms),
            stdout_bytes: 1024,
            stderr_bytes: 1024,
        }
    }

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    #[tokio::test]
    async fn answers_within_bounds_are_collected() {
        let f = run(
            "/bin/sh",
            &["-c", "read x; echo \"got $x\"; echo err >&2; exit 3"],
            b"hello\n",
            bounds(10_000),
        )
        .await
        .unwrap();
        assert_eq!(f.stdout, b"got hello\n");
        assert_eq!(f.stderr, b"err\n");
        assert_eq!(f.status.code(), Some(3));
    }

    #[tokio::test]
    async fn a_child_that_hangs_is_killed_with_its_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The grandchild (sleep) is what would be left behind if only the child died.
        let script = format!("sleep 1000 & echo $! > {}; wait", pidfile.display());
        let e = run("/bin/sh", &["-c", &script], b"", bounds(500))
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("/bin/sh did not answer within 0.5 s"),
            "{e}"
        );
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        // Killed, then reaped by init: gone or a zombie for a moment.
        while alive(grandchild) && std::time::Instant::now() < deadline {
            let stat =
                std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            if stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        assert!(
            !alive(grandchild) || stat.contains(") Z "),
            "the helper's own child still runs: {stat}"
        );
    }

    #[tokio::test]
    async fn too_much_output_stops_the_read_and_kills_the_child() {
        let e = run("/bin/sh", &["-c", "yes"], b"", bounds(10_000))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ChildError::TooMuchOutput {
                    stream: "stdout",
                    limit: 1024,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().contains("more than 1024 bytes to stdout"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_missing_program_says_so() {
        let e = run(
            "/nonexistent/docker-credential-x",
            &["get"],
            b"",
            bounds(1000),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, ChildError::Spawn { error, .. } if error.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_cancelled_run_and_kill_all_leave_no_group_behind() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 1000", pidfile.display());
        let args = ["-c", script.as_str()];
        let fut = run("/bin/sh", &args, b"", bounds(60_000));
        // Dropped mid-run, as the screen's worker is when it closes.
        let _ = tokio::time::timeout(Duration::from_millis(500), fut).await;
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "still running: {stat}"
        );
    }

    #[test]
    fn the_fatal_signals_cover_quit_and_leave_out_faults() {
        let sigs: Vec<i32> = fatal_signals().iter().map(|(s, _)| *s).collect();
        for s in [
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
        ] {
            assert!(sigs.contains(&s), "{s}");
        }
        for s in [libc::SIGKILL, libc::SIGSEGV, libc::SIGPIPE, libc::SIGTSTP] {
            assert!(!sigs.contains(&s), "{s}");
        }
    }
}
