//! The bars' lines for a given width, as plain text: no terminal here, so
//! every width can be tested.
//!
//! Each line has templates from the richest to the barest. The first whose
//! fixed fields and the smallest file name and bar fit is used, and what
//! room is left goes first to the file name, then to the bar. So fields are
//! dropped before anything wraps, and a long name loses its middle to an
//! ellipsis rather than pushing the line past the edge.

use std::time::Duration;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::engine::activity::State;
use crate::units::{bytes, rate};

/// The narrowest a file name is cut to while other fields still show.
const NAME_MIN: usize = 8;
/// Up to this width a file name is kept whole, fields dropping first.
const NAME_WHOLE: usize = 24;
const BAR_MIN: usize = 10;
const BAR_MAX: usize = 40;

/// One worker's row, as the drawing thread read it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerLine {
    pub name: String,
    pub state: State,
    /// The file or range in hand, while receiving.
    pub file: String,
    pub position: u64,
    pub length: Option<u64>,
    /// This worker's recent bytes per second.
    pub rate: f64,
    /// How long the worker has been in its state.
    pub since: Duration,
}

/// The run as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct TotalLine {
    pub finished: u64,
    pub jobs: u64,
    pub received: u64,
    pub rate: f64,
    pub elapsed: Duration,
    /// Bytes done and expected, when every file's size is known.
    pub sized: Option<(u64, u64)>,
    pub eta: Option<Duration>,
}

/// A piece of a line.
enum Part {
    Fixed(String),
    /// A file name: shortened in the middle when room is short.
    Name(String),
    /// A bar filled to this fraction.
    Bar(f64),
}

use Part::{Bar, Fixed, Name};

/// A worker's line, at most `width` columns. `label` is the worker's name
/// padded to the widest in the pool, so the columns line up.
pub fn worker_line(line: &WorkerLine, label: &str, width: usize) -> String {
    let short = short_label(label);
    let templates: Vec<Vec<Part>> = match line.state {
        State::Receiving => receiving(line, label, &short),
        State::Waiting => {
            let waited = format!("{:.1} s", line.since.as_secs_f64());
            vec![
                vec![
                    Fixed(label.into()),
                    Fixed(format!("waiting for the server, {waited}")),
                ],
                vec![Fixed(label.into()), Fixed(format!("waiting {waited}"))],
                vec![Fixed(short.clone()), Fixed("waiting".into())],
            ]
        }
        state => {
            let word = match state {
                State::Connecting => "connecting",
                State::Done => "done",
                _ => "idle",
            };
            vec![
                vec![Fixed(label.into()), Fixed(word.into())],
                vec![Fixed(short.clone()), Fixed(word.into())],
            ]
        }
    };
    fit(&templates, width)
}

fn receiving(line: &WorkerLine, label: &str, short: &str) -> Vec<Vec<Part>> {
    let done = format!("{:>8}", bytes(line.position));
    let speed = format!("{:>10}", rate(line.rate));
    let file = || Name(line.file.clone());
    match line.length {
        Some(length) => {
            let fraction = line.position as f64 / length.max(1) as f64;
            let of = format!("{done}/{:<8}", bytes(length));
            vec![
                vec![
                    Fixed(label.into()),
                    file(),
                    Bar(fraction),
                    Fixed(of),
                    Fixed(speed.clone()),
                ],
                vec![
                    Fixed(label.into()),
                    file(),
                    Bar(fraction),
                    Fixed(done.clone()),
                    Fixed(speed),
                ],
                vec![
                    Fixed(label.into()),
                    file(),
                    Bar(fraction),
                    Fixed(done.clone()),
                ],
                vec![Fixed(short.into()), file(), Fixed(done.clone())],
                vec![Fixed(short.into()), file()],
            ]
        }
        None => vec![
            vec![
                Fixed(label.into()),
                file(),
                Fixed(done.clone()),
                Fixed(speed),
            ],
            vec![Fixed(label.into()), file(), Fixed(done.clone())],
            vec![Fixed(short.into()), file(), Fixed(done)],
            vec![Fixed(short.into()), file()],
        ],
    }
}

/// The total line: files, a bar, bytes, rate, ETA and elapsed time, fewer
/// of them as the width shrinks. The bar counts bytes once every size is
/// known, files until then.
pub fn total_line(total: &TotalLine, label: &str, width: usize) -> String {
    let files = format!("{}/{} files", total.finished, total.jobs);
    let (fraction, moved) = match total.sized {
        Some((done, all)) => (
            done as f64 / all.max(1) as f64,
            format!("{}/{}", bytes(done), bytes(all)),
        ),
        None => (
            total.finished as f64 / total.jobs.max(1) as f64,
            bytes(total.received),
        ),
    };
    let speed = rate(total.rate);
    let eta = format!("ETA {}", total.eta.map_or("-".into(), clock));
    let elapsed = clock(total.elapsed);
    let parts = |n: usize| -> Vec<Part> {
        let all = [
            Fixed(label.into()),
            Fixed(files.clone()),
            Bar(fraction),
            Fixed(moved.clone()),
            Fixed(speed.clone()),
            Fixed(eta.clone()),
            Fixed(elapsed.clone()),
        ];
        all.into_iter().take(n).collect()
    };
    let bare = vec![
        Fixed(label.into()),
        Fixed(files.clone()),
        Fixed(moved.clone()),
    ];
    fit(
        &[
            parts(7),
            parts(6),
            parts(5),
            parts(4),
            bare,
            vec![Fixed(files.clone())],
        ],
        width,
    )
}

/// `+ 12 more workers`: those the screen has no rows for.
pub fn overflow_line(hidden: usize, width: usize) -> String {
    fit(
        &[
            vec![Fixed(format!("+ {hidden} more workers, not shown"))],
            vec![Fixed(format!("+ {hidden} more"))],
        ],
        width,
    )
}

/// `1:05`, `12:00:03`: an elapsed time or an ETA at a glance.
fn clock(duration: Duration) -> String {
    let s = duration.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// `tget-w07` is `w07` where room is short.
fn short_label(label: &str) -> String {
    label
        .trim_end()
        .strip_prefix("tget-")
        .unwrap_or(label)
        .to_string()
}

/// The first template that fits `width` with its file name whole (up to
/// [`NAME_WHOLE`] columns), else the first that fits with the name cut
/// shorter, else the last one cut to the width.
fn fit(templates: &[Vec<Part>], width: usize) -> String {
    for name_min in [NAME_WHOLE, NAME_MIN] {
        for parts in templates {
            if let Some(line) = render(parts, width, name_min) {
                return line;
            }
        }
    }
    let last = templates
        .last()
        .map(|p| render_at_minimum(p))
        .unwrap_or_default();
    cut(&last, width)
}

/// The parts with single spaces between, or `None` if their minimums (the
/// name at `name_min` columns or its own length) do not fit in `width`.
fn render(parts: &[Part], width: usize, name_min: usize) -> Option<String> {
    let gaps = parts.len().saturating_sub(1);
    let fixed: usize = parts
        .iter()
        .map(|part| match part {
            Fixed(text) => text.width(),
            Name(name) => name.width().min(name_min),
            Bar(_) => BAR_MIN,
        })
        .sum();
    let mut room = width.checked_sub(fixed + gaps)?;
    // What is left goes to the name, up to its whole length, then to the bar.
    let mut name_width = 0;
    for part in parts {
        if let Name(name) = part {
            let min = name.width().min(name_min);
            let extra = (name.width() - min).min(room);
            name_width = min + extra;
            room -= extra;
        }
    }
    let bar_width = BAR_MIN + room.min(BAR_MAX - BAR_MIN);
    let pieces: Vec<String> = parts
        .iter()
        .map(|part| match part {
            Fixed(text) => text.clone(),
            Name(name) => shorten(name, name_width),
            Bar(fraction) => bar(*fraction, bar_width),
        })
        .collect();
    Some(pieces.join(" ").trim_end().to_string())
}

fn render_at_minimum(parts: &[Part]) -> String {
    render(parts, usize::MAX / 2, NAME_MIN).unwrap_or_default()
}

/// `[=====>    ]`, `width` columns in all.
fn bar(fraction: f64, width: usize) -> String {
    let inner = width.saturating_sub(2);
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = ((inner as f64) * fraction).round() as usize;
    let mut text = String::with_capacity(width);
    text.push('[');
    for i in 0..inner {
        text.push(match i {
            i if i + 1 < filled => '=',
            i if i + 1 == filled && filled == inner => '=',
            i if i + 1 == filled => '>',
            _ => ' ',
        });
    }
    text.push(']');
    text
}

/// `text` in at most `width` columns, its middle replaced by `…`.
pub fn shorten(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep = width - 1;
    let head = cut(text, keep.div_ceil(2));
    let tail_room = keep - head.width();
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for c in text.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > tail_room {
            break;
        }
        used += w;
        tail.push(c);
    }
    let tail: String = tail.into_iter().rev().collect();
    format!("{head}…{tail}")
}

/// The longest start of `text` that fits `width` columns.
pub fn cut(text: &str, width: usize) -> String {
    let mut used = 0;
    let mut out = String::new();
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receiving(file: &str, length: Option<u64>) -> WorkerLine {
        WorkerLine {
            name: "tget-w00".into(),
            state: State::Receiving,
            file: file.into(),
            position: 300 << 10,
            length,
            rate: 400e3,
            since: Duration::from_millis(1500),
        }
    }

    fn total() -> TotalLine {
        TotalLine {
            finished: 12,
            jobs: 24,
            received: 7 << 20,
            rate: 2.8e6,
            elapsed: Duration::from_secs(65),
            sized: None,
            eta: Some(Duration::from_secs(63)),
        }
    }

    #[test]
    fn at_80_columns_a_row_has_name_file_bar_bytes_and_rate() {
        let line = worker_line(&receiving("file-0003.bin", Some(586 << 10)), "tget-w00", 79);
        assert!(line.starts_with("tget-w00 file-0003.bin ["), "{line}");
        assert!(
            line.contains("300 KiB/586 KiB") && line.ends_with("391 KiB/s"),
            "{line}"
        );
        assert!(line.width() <= 79, "{line}");
        let total = total_line(&total(), "total   ", 79);
        assert_eq!(
            total,
            "total    12/24 files [==========>           ] 7.00 MiB 2.67 MiB/s ETA 1:03 1:05"
        );
    }

    #[test]
    fn no_line_is_wider_than_its_width_at_any_width() {
        let long = "a-very-long-file-name-that-goes-on-and-on-and-on-forever-and-ever.tar.gz";
        let lines = [
            receiving(long, Some(1 << 30)),
            receiving("漢字のファイル名はとても長いです.txt", None),
            WorkerLine {
                state: State::Waiting,
                ..receiving("", None)
            },
            WorkerLine {
                state: State::Connecting,
                ..receiving("", None)
            },
        ];
        for width in 0..=200 {
            for line in &lines {
                let text = worker_line(line, "tget-w00", width);
                assert!(text.width() <= width, "{width}: {text}");
            }
            let text = total_line(&total(), "total   ", width);
            assert!(text.width() <= width, "{width}: {text}");
            assert!(overflow_line(12, width).width() <= width);
        }
    }

    #[test]
    fn fields_go_before_the_name_is_cut_to_nothing() {
        let line = worker_line(&receiving("file-0003.bin", Some(586 << 10)), "tget-w00", 50);
        // Too narrow for the whole row: the length goes first.
        assert!(
            line.contains("file-0003.bin [") && !line.contains('/'),
            "{line}"
        );
        let line = worker_line(&receiving("file-0003.bin", Some(586 << 10)), "tget-w00", 30);
        assert!(line.starts_with("w00 file-0003.bin"), "{line}");
    }

    #[test]
    fn long_names_lose_their_middle() {
        let long = "a-very-long-file-name-that-goes-on-and-on-and-on-forever.tar.gz";
        let line = worker_line(&receiving(long, Some(1 << 30)), "tget-w00", 79);
        assert!(
            line.contains("a-very-long-fi") && line.contains("…") && line.contains(".tar.gz"),
            "{line}"
        );
        assert_eq!(shorten("abcdefghij", 5), "ab…ij");
        assert_eq!(shorten("漢字漢字漢字", 5).width(), 5);
    }

    #[test]
    fn states_are_said_in_words() {
        let waiting = WorkerLine {
            state: State::Waiting,
            ..receiving("", None)
        };
        assert_eq!(
            worker_line(&waiting, "tget-w00", 79),
            "tget-w00 waiting for the server, 1.5 s"
        );
        assert_eq!(
            worker_line(&waiting, "tget-w00", 22),
            "tget-w00 waiting 1.5 s"
        );
        let idle = WorkerLine {
            state: State::Idle,
            ..waiting
        };
        assert_eq!(worker_line(&idle, "tget-w00", 79), "tget-w00 idle");
    }

    #[test]
    fn the_total_counts_bytes_once_sizes_are_known() {
        let sized = TotalLine {
            sized: Some((3 << 20, 12 << 20)),
            ..total()
        };
        let line = total_line(&sized, "total   ", 79);
        assert!(line.contains("3.00 MiB/12.0 MiB"), "{line}");
        assert!(line.contains("[==>          ]"), "a quarter full: {line}");
    }

    #[test]
    fn bars_fill_to_their_fraction() {
        assert_eq!(bar(0.0, 12), "[          ]");
        assert_eq!(bar(0.5, 12), "[====>     ]");
        assert_eq!(bar(1.0, 12), "[==========]");
        assert_eq!(bar(f64::NAN, 4), "[  ]");
    }
}
