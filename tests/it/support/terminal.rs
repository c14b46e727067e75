//! tget on a pseudo-terminal, as in an interactive shell: stdin, stdout and
//! stderr all on one terminal, rendered by a terminal emulator (`vt100`)
//! into the screen and its scrollback, for tests of what a person sees.
//!
//! The run keeps [`Tget`]'s clean environment and time limit. A resize is
//! made the way a terminal makes one, between two of tget's writes: the
//! reader applies it to the emulator and the pseudo-terminal at once, right
//! after a chunk that ended a frame and emptied the pipe, so no frame drawn
//! for one size is rendered at the other.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use portable_pty::{Child, ChildKiller, CommandBuilder, MasterPty, PtySize, native_pty_system};

use super::Tget;

/// What a frame of tget's bars ends with: autowrap switched back on.
pub const FRAME_END: &[u8] = b"\x1b[?7h";
const SCROLLBACK: usize = 10_000;

/// A tget run on a pseudo-terminal; killed when its time limit passes or
/// when dropped, like [`super::Running`].
pub struct OnTerminal {
    child: Box<dyn Child + Send + Sync>,
    shared: Arc<(Mutex<Emulator>, Condvar)>,
    reader: Option<JoinHandle<()>>,
    watchdog: Option<(std::sync::mpsc::Sender<()>, JoinHandle<()>)>,
    line: String,
    deadline: Instant,
}

/// The emulator and what the reader thread owes it.
struct Emulator {
    parser: vt100::Parser,
    master: Box<dyn MasterPty + Send>,
    /// A size to switch to at the next frame's end.
    resize: Option<(u16, u16)>,
    ended: bool,
    /// Every byte tget wrote, for checks on escape codes.
    raw: Vec<u8>,
}

impl Tget {
    /// Starts tget on a new `rows` x `cols` pseudo-terminal.
    pub fn on_terminal(&mut self, rows: u16, cols: u16) -> OnTerminal {
        let pty = native_pty_system()
            .openpty(size(rows, cols))
            .expect("a pseudo-terminal");
        let child = pty
            .slave
            .spawn_command(self.pty_command())
            .unwrap_or_else(|e| panic!("{}: {e}", self.line));
        // tget holds the only slave end now: its exit ends the reader.
        drop(pty.slave);
        let reader = pty.master.try_clone_reader().expect("a pty reader");
        let shared = Arc::new((
            Mutex::new(Emulator {
                parser: vt100::Parser::new(nonzero(rows), nonzero(cols), SCROLLBACK),
                master: pty.master,
                resize: None,
                ended: false,
                raw: Vec::new(),
            }),
            Condvar::new(),
        ));
        let reading = {
            let shared = shared.clone();
            thread::spawn(move || read_all(reader, &shared))
        };
        let watchdog = watchdog(child.clone_killer(), self.limit);
        OnTerminal {
            child,
            shared,
            reader: Some(reading),
            watchdog: Some(watchdog),
            line: self.line.clone(),
            deadline: Instant::now() + self.limit,
        }
    }

    /// The same program, arguments, directory and (clean) environment as
    /// the `Command`, for portable-pty.
    fn pty_command(&self) -> CommandBuilder {
        let command = &self.command;
        let mut pty = CommandBuilder::new(command.get_program());
        pty.args(command.get_args());
        if let Some(dir) = command.get_current_dir() {
            pty.cwd(dir);
        }
        pty.env_clear();
        for (key, value) in command.get_envs() {
            if let Some(value) = value {
                pty.env(key, value);
            }
        }
        pty
    }
}

fn size(rows: u16, cols: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

fn watchdog(
    mut killer: Box<dyn ChildKiller + Send + Sync>,
    limit: Duration,
) -> (std::sync::mpsc::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = thread::spawn(move || {
        if stopped.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            let _ = killer.kill();
        }
    });
    (stop, thread)
}

/// Feeds the emulator until tget's side closes, applying a requested resize
/// only after a chunk that ended a frame and was not cut short by the
/// buffer (so the pipe was empty: the next frame is drawn afterwards).
fn read_all(mut reader: Box<dyn Read + Send>, shared: &(Mutex<Emulator>, Condvar)) {
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut emulator = lock(&shared.0);
        emulator.parser.process(&buffer[..n]);
        emulator.raw.extend_from_slice(&buffer[..n]);
        let at_frame_end = buffer[..n].ends_with(FRAME_END) && n < buffer.len();
        if let (true, Some((rows, cols))) = (at_frame_end, emulator.resize) {
            emulator
                .parser
                .screen_mut()
                .set_size(nonzero(rows), nonzero(cols));
            emulator.master.resize(size(rows, cols)).expect("a resize");
            emulator.resize = None;
        }
        shared.1.notify_all();
    }
    lock(&shared.0).ended = true;
    shared.1.notify_all();
}

impl OnTerminal {
    /// Waits until the screen satisfies `ready`, failing after the run's
    /// time limit.
    pub fn wait_for(&self, what: &str, mut ready: impl FnMut(&vt100::Screen) -> bool) {
        let (emulator, changed) = &*self.shared;
        let mut emulator = lock(emulator);
        while !ready(emulator.parser.screen()) {
            let left = self.deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero() && !emulator.ended,
                "{}: never saw {what}; the screen:\n{}",
                self.line,
                emulator.parser.screen().contents()
            );
            emulator = changed
                .wait_timeout(emulator, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Resizes the terminal at the end of tget's next frame, and waits
    /// until it has.
    pub fn resize(&self, rows: u16, cols: u16) {
        lock(&self.shared.0).resize = Some((rows, cols));
        self.wait_for("the resize", |screen| {
            screen.size() == (nonzero(rows), nonzero(cols))
        });
    }

    /// Reads the screen as it is now.
    pub fn screen<R>(&self, look: impl FnOnce(&vt100::Screen) -> R) -> R {
        look(lock(&self.shared.0).parser.screen())
    }

    /// Sends `signal` to tget.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.process_id().expect("a running child");
        // SAFETY: kill(2) on our own child's pid with a valid signal.
        let rc = unsafe { libc::kill(libc::pid_t::try_from(pid).unwrap(), signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for tget to exit and its output to be rendered; returns its
    /// exit code (`None` for a death by signal) and the final terminal.
    pub fn wait(mut self) -> (Option<u32>, Rendered) {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("a waitable child") {
                break status;
            }
            assert!(
                Instant::now() < self.deadline,
                "{} was still running after its time limit",
                self.line
            );
            thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the pty reader");
        }
        let code = status.signal().is_none().then(|| status.exit_code());
        let emulator = lock(&self.shared.0);
        let mut rendered = Rendered::of(emulator.parser.screen());
        rendered.raw = emulator.raw.clone();
        (code, rendered)
    }
}

impl Drop for OnTerminal {
    fn drop(&mut self) {
        if let Some((stop, watchdog)) = self.watchdog.take() {
            drop(stop);
            let _ = watchdog.join();
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The terminal at the end: every row of the scrollback and the screen, in
/// order, and whether the cursor is visible.
pub struct Rendered {
    pub rows: Vec<Row>,
    pub cursor_visible: bool,
    /// Every byte tget wrote to the terminal.
    pub raw: Vec<u8>,
}

/// One row of the terminal, and whether text ran past its end onto the next.
#[derive(Debug, Clone)]
pub struct Row {
    pub text: String,
    pub wrapped: bool,
}

impl Rendered {
    fn of(screen: &vt100::Screen) -> Rendered {
        let mut screen = screen.clone();
        let rows = screen.size().0.get();
        let mut all = Vec::new();
        // Scrolled back by k rows, the top row on view is the kth from the
        // end of the scrollback.
        screen.set_scrollback(usize::MAX);
        for back in (1..=screen.scrollback()).rev() {
            screen.set_scrollback(back);
            all.push(row(&screen, 0));
        }
        screen.set_scrollback(0);
        for index in 0..rows {
            all.push(row(&screen, index));
        }
        while all.last().is_some_and(|r| r.text.is_empty()) {
            all.pop();
        }
        Rendered {
            rows: all,
            cursor_visible: !screen.hide_cursor(),
            raw: Vec::new(),
        }
    }

    pub fn text(&self) -> String {
        self.rows.iter().map(|r| format!("{}\n", r.text)).collect()
    }
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a terminal has rows and columns")
}

fn row(screen: &vt100::Screen, index: u16) -> Row {
    let cols = screen.size().1.get();
    Row {
        text: screen
            .rows(0, cols)
            .nth(usize::from(index))
            .unwrap_or_default()
            .trim_end()
            .to_string(),
        wrapped: screen.row_wrapped(index),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
