//! Taking over the terminal and always giving it back: on quit (the guard's drop), on
//! a panic (the hook), and on every fatal signal that can be caught, SIGQUIT, SIGTERM
//! and SIGHUP among them (the loop ends, then the guard drops). Giving it back
//! includes mouse capture, when it was taken.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};

use crossterm::cursor::{Hide, Show};
use crossterm::event::DisableMouseCapture;
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// True while the screen is ours, so it is given back exactly once.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// True while the mouse is captured.
static MOUSE: AtomicBool = AtomicBool::new(false);

/// Clicks and the wheel (mode 1000), reported in SGR form (1006). Not crossterm's
/// `EnableMouseCapture`: it also asks for every motion of the pointer (1003), which
/// would wake the screen at each move for nothing.
pub struct CaptureClicks;

impl crossterm::Command for CaptureClicks {
    fn write_ansi(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        f.write_str("\x1b[?1000h\x1b[?1006h")
    }
}

pub type Screen = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal; dropping it restores the terminal.
pub struct Guard {
    pub terminal: Screen,
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Raw mode, the alternate screen, no cursor; the mouse captured when `mouse`.
pub fn enter(mouse: bool) -> io::Result<Guard> {
    install_panic_hook();
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let setup = execute!(io::stdout(), EnterAlternateScreen, Hide)
        .and_then(|_| {
            if mouse {
                // Set first: a capture half written is still released.
                MOUSE.store(true, Ordering::SeqCst);
                execute!(io::stdout(), CaptureClicks)?;
            }
            Ok(())
        })
        .and_then(|_| Terminal::new(CrosstermBackend::new(io::stdout())));
    match setup {
        Ok(terminal) => Ok(Guard { terminal }),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Gives the terminal back. Errors are ignored: after SIGHUP there is no terminal
/// left to write to, and nothing better can be done.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        if MOUSE.swap(false, Ordering::SeqCst) {
            let _ = execute!(io::stdout(), DisableMouseCapture);
        }
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

/// Panics on background threads while the screen is up, waiting to be shown.
static BACKGROUND_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Background panics recorded since the last call (the screen shows them as errors).
pub fn take_panics() -> Vec<String> {
    match BACKGROUND_PANICS.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    }
}

/// A panic of the screen's own thread restores the terminal first, so its message is
/// readable. A panic on a background thread (a scan, a plan) leaves the screen up and
/// becomes an error popup instead of text printed over the screen.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let main = std::thread::current().name() == Some("main");
            if ACTIVE.load(Ordering::SeqCst) && !main {
                let msg = format!("internal error on a background thread: {info}");
                match BACKGROUND_PANICS.lock() {
                    Ok(mut v) => v.push(msg),
                    Err(p) => p.into_inner().push(msg),
                }
                return;
            }
            restore();
            previous(info);
        }));
    });
}
