//! The few escape sequences the bars use, the terminal's size, and the
//! cursor: hidden while bars are drawn, and shown again however tget ends:
//! at the end of the bars, on a panic (a hook), and on a second Ctrl-C,
//! which ends the process from the signal thread (`stop`'s last words).

use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

pub const HIDE_CURSOR: &str = "\x1b[?25l";
pub const SHOW_CURSOR: &str = "\x1b[?25h";
/// From the cursor to the end of the screen.
pub const CLEAR_BELOW: &str = "\x1b[J";
/// Autowrap off while the bars are drawn, and on again after: a frame drawn
/// for a width the terminal just left is cut at the edge instead of
/// wrapping onto rows the next frame would not erase.
pub const NO_WRAP: &str = "\x1b[?7l";
pub const WRAP: &str = "\x1b[?7h";

/// When stderr is not a terminal (`--progress always`), bars are laid out as
/// on a common one.
const DEFAULT_SIZE: (usize, usize) = (24, 80);

static CURSOR_HIDDEN: AtomicBool = AtomicBool::new(false);
static HOOKS: Once = Once::new();

/// Rows and columns of the terminal on stderr, read each frame so a resize
/// is followed.
pub fn size() -> (usize, usize) {
    console::Term::stderr()
        .size_checked()
        .map_or(DEFAULT_SIZE, |(rows, cols)| (rows as usize, cols as usize))
}

/// Moves the cursor from the end of a block of `lines` lines to its start
/// and clears from there down.
pub fn erase(lines: usize, out: &mut String) {
    if lines == 0 {
        return;
    }
    out.push('\r');
    if lines > 1 {
        out.push_str(&format!("\x1b[{}A", lines - 1));
    }
    out.push_str(CLEAR_BELOW);
}

/// Hides the cursor, after making sure it will be shown again.
pub fn hide_cursor(out: &mut String) {
    HOOKS.call_once(|| {
        crate::stop::set_last_words(show_cursor);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            show_cursor();
            previous(info);
        }));
    });
    CURSOR_HIDDEN.store(true, Ordering::SeqCst);
    out.push_str(HIDE_CURSOR);
}

/// Shows the cursor if the bars hid it; safe to call from any thread, any
/// number of times.
pub fn show_cursor() {
    if CURSOR_HIDDEN.swap(false, Ordering::SeqCst) {
        let _ = std::io::stderr().write_all(SHOW_CURSOR.as_bytes());
    }
}

/// For the end of the bars, which writes the sequence with its last frame.
pub fn cursor_shown() {
    CURSOR_HIDDEN.store(false, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erasing_goes_up_to_the_first_line_and_clears_below() {
        let mut out = String::new();
        erase(3, &mut out);
        assert_eq!(out, "\r\x1b[2A\x1b[J");
        let mut out = String::new();
        erase(1, &mut out);
        assert_eq!(out, "\r\x1b[J");
        let mut out = String::new();
        erase(0, &mut out);
        assert_eq!(out, "");
    }
}
