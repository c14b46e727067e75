//! What a person sees in a terminal: tget on a pseudo-terminal at 80x24,
//! rendered by a terminal emulator into the screen and its scrollback.
//! Stdout and the bars share the screen; the paths must all be there, in
//! one piece, and the bars must be gone once the summary is printed.

use std::fs;

use crate::support::*;

/// A row of the bars (not of the summary's worker table): the total line,
/// or a worker's row with a bar or a state in words.
fn is_bar_row(text: &str) -> bool {
    let worker_state = [
        "[",
        " idle",
        " waiting",
        " connecting",
        " done",
        "more workers",
    ];
    (text.starts_with("total ") && text.contains(" files"))
        || (text.starts_with("tget-w") && worker_state.iter().any(|s| text.contains(s)))
        || text.starts_with("+ ")
}

/// A batch that takes about 3 s on 4 workers: long enough to resize mid-run.
fn slow_batch(server: &Server, dir: &std::path::Path, files: usize) -> Vec<String> {
    let mut paths = Vec::new();
    let mut list = String::new();
    for i in 0..files {
        let name = if i == 5 {
            // Shorter than a 60-column row, longer than a bar row leaves room for.
            "a-long-name-that-the-bars-must-shorten-0005.bin".to_string()
        } else {
            format!("file-{i:02}.bin")
        };
        list.push_str(&server.url(&format!("/tty/{name}?size=65536&rate=65536")));
        list.push('\n');
        paths.push(format!("out/{name}"));
    }
    fs::write(dir.join("list.txt"), list).unwrap();
    paths
}

#[test]
fn a_batch_on_an_80x24_terminal_leaves_every_path_and_no_bars_even_after_a_resize() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let paths = slow_batch(&server, dir.path(), 12);
    let run = tget(dir.path())
        .args(["-t", "4", "-i", "list.txt", "-d", "out"])
        .env("TERM", "xterm-256color")
        .on_terminal(24, 80);

    run.wait_for("bars at 80 columns", |screen| {
        let rows: Vec<String> = screen.rows(0, 80).collect();
        rows.iter().any(|r| r.starts_with("total ")) && rows.iter().any(|r| r.contains(" ["))
    });
    run.screen(|screen| {
        assert!(screen.hide_cursor(), "the cursor is hidden while drawing");
        for row in 0..24 {
            assert!(
                !screen.row_wrapped(row),
                "row {row} wrapped:\n{}",
                screen.contents()
            );
        }
    });

    run.resize(15, 60);
    run.wait_for("a frame drawn for 60 columns", |screen| {
        let rows: Vec<String> = screen.rows(0, 60).collect();
        rows.iter()
            .any(|r| r.starts_with("total ") && r.trim_end().chars().count() <= 59)
            && (0..15).all(|row| !screen.row_wrapped(row))
    });
    run.screen(|screen| {
        for row in 0..15 {
            assert!(
                !screen.row_wrapped(row),
                "row {row} wrapped:\n{}",
                screen.contents()
            );
        }
    });

    let (code, rendered) = run.wait();
    let text = rendered.text();
    assert_eq!(code, Some(0), "{text}");
    assert!(rendered.cursor_visible, "the cursor is shown again");
    let rows: Vec<&str> = rendered.rows.iter().map(|r| r.text.as_str()).collect();
    for path in &paths {
        assert_eq!(
            rows.iter().filter(|r| **r == path.as_str()).count(),
            1,
            "{path} is not on one row of its own, once:\n{text}"
        );
    }
    let bars: Vec<&&str> = rows.iter().filter(|r| is_bar_row(r)).collect();
    assert!(bars.is_empty(), "bar rows left: {bars:?}\n{text}");
    let summary = rows
        .iter()
        .position(|r| r.starts_with("12 files: "))
        .unwrap_or_else(|| panic!("no headline:\n{text}"));
    let last_path = rows.iter().rposition(|r| r.starts_with("out/")).unwrap();
    assert!(
        last_path < summary,
        "every path comes before the summary:\n{text}"
    );
    let torn: Vec<&Row> = rendered.rows[..summary]
        .iter()
        .filter(|r| r.wrapped)
        .collect();
    assert!(torn.is_empty(), "wrapped rows: {torn:?}\n{text}");
    assert!(rows.iter().all(|r| r.chars().count() <= 80));
}

#[test]
fn tget_alone_on_a_terminal_prints_a_usage_hint_and_exits_2() {
    let dir = tempdir();
    let (code, rendered) = tget(dir.path()).on_terminal(24, 80).wait();
    let text = rendered.text();
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("tget: error: no URLs to download"), "{text}");
    assert!(text.contains("Usage: tget [OPTIONS] URL..."), "{text}");
    assert!(text.contains("tget -h"), "{text}");
    assert!(!text.contains("Nothing to download"), "no summary: {text}");
    assert!(rendered.rows.len() <= 6, "a short hint: {text}");
}

#[test]
fn an_interrupt_on_a_terminal_shows_the_cursor_again_and_clears_the_bars() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    slow_batch(&server, dir.path(), 12);
    let run = tget(dir.path())
        .args(["-t", "4", "-i", "list.txt", "-d", "out"])
        .env("TERM", "xterm-256color")
        .on_terminal(24, 80);
    run.wait_for("bars receiving", |screen| screen.contents().contains(" ["));
    run.signal(libc::SIGINT);
    let (code, rendered) = run.wait();
    let text = rendered.text();
    assert_eq!(code, None, "died by the signal: {text}");
    assert!(rendered.cursor_visible, "{text}");
    assert!(text.contains("Interrupted after "), "{text}");
    assert!(!rendered.rows.iter().any(|r| is_bar_row(&r.text)), "{text}");
}

#[test]
fn a_dumb_terminal_gets_plain_lines_and_no_escape_codes() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    let urls: Vec<String> = (0..3)
        .map(|i| server.url(&format!("/dumb/{i}.bin?size=1000&latency=20")))
        .collect();
    // The clean environment's TERM is `dumb`.
    let (code, rendered) = tget(dir.path())
        .args(["-t", "2", "--progress-interval", "100ms"])
        .args(&urls)
        .on_terminal(24, 80)
        .wait();
    let text = rendered.text();
    assert_eq!(code, Some(0), "{text}");
    assert!(!rendered.raw.contains(&0x1b), "escape codes: {text}");
    assert!(
        text.contains("] saved 0.bin (") || text.contains("] saved 1.bin ("),
        "{text}"
    );
    assert!(text.contains("3 files: "), "{text}");
}

#[test]
fn the_bars_take_no_more_than_half_the_screen() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    slow_batch(&server, dir.path(), 16);
    let run = tget(dir.path())
        .args(["-t", "16", "-i", "list.txt", "-d", "out"])
        .env("TERM", "xterm-256color")
        .on_terminal(12, 80);
    run.wait_for("16 workers, some not shown", |screen| {
        screen.contents().contains("more workers, not shown")
    });
    run.screen(|screen| {
        let bars = screen.rows(0, 80).filter(|r| is_bar_row(r)).count();
        assert!(bars <= 6, "{bars} bar rows on 12:\n{}", screen.contents());
    });
}

#[test]
fn the_bars_are_redrawn_about_15_times_a_second_at_most() {
    let server = Server::start().unwrap();
    let dir = tempdir();
    // Bytes arrive all the time, so every frame would differ from the last.
    let urls: Vec<String> = (0..4)
        .map(|i| server.url(&format!("/fr/{i}.bin?size={}&rate={}", 2 * MIB, MIB)))
        .collect();
    let started = std::time::Instant::now();
    let run = tget(dir.path())
        .args(["-t", "4", "--split", "1", "-d", "out"])
        .args(&urls)
        .env("TERM", "xterm-256color")
        .on_terminal(24, 80);
    let (code, rendered) = run.wait();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(code, Some(0));
    let frames = rendered
        .raw
        .windows(FRAME_END.len())
        .filter(|w| *w == FRAME_END)
        .count();
    assert!(frames >= 5, "{frames} frames: the bars were drawn");
    assert!(
        frames as f64 <= 15.0 * elapsed * 1.5 + 5.0,
        "{frames} frames in {elapsed:.2} s"
    );
}
