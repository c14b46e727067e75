//! Numbers as people read them, short enough for a terminal column: bytes
//! in binary units with three significant digits (`586 KiB`, `4.88 MiB`),
//! rates, durations, and plural nouns. Shared by the bars, the summary and
//! the bench table, so one size reads the same everywhere.

use std::time::Duration;

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// `999 B`, `1.00 KiB`, `58.6 KiB`, `586 KiB`: never wider than 8 characters.
pub fn bytes(count: u64) -> String {
    if count < 1000 {
        return format!("{count} B");
    }
    let mut value = count as f64;
    let mut unit = 0;
    // Switching at 1000 rather than 1024 keeps three digits at most.
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{} {}", three_digits(value), UNITS[unit])
}

/// `4.88 MiB/s`; never wider than 10 characters.
pub fn rate(bytes_per_second: f64) -> String {
    let value = if bytes_per_second.is_finite() {
        bytes_per_second.max(0.0)
    } else {
        0.0
    };
    format!("{}/s", bytes(value as u64))
}

/// `0.005 s`, `3.28 s`, `65.0 s`, `1h05m`: a run's or a worker's time.
pub fn seconds(duration: Duration) -> String {
    let s = duration.as_secs_f64();
    match s {
        s if s < 1.0 => format!("{s:.3} s"),
        s if s < 100.0 => format!("{s:.2} s"),
        s if s < 3600.0 => format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64),
        s => format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        ),
    }
}

/// `1 thread`, `4 threads`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn three_digits(value: f64) -> String {
    if value < 9.995 {
        format!("{value:.2}")
    } else if value < 99.95 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_keep_three_digits_and_eight_characters() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1000), "0.98 KiB");
        assert_eq!(bytes(600 * 1024), "600 KiB");
        assert_eq!(bytes(5_120_000), "4.88 MiB");
        assert_eq!(bytes(58 * 1024 + 600), "58.6 KiB");
        for n in [999u64, 1023, 1024 * 999, 1024 * 1000 - 1, u64::MAX] {
            assert!(bytes(n).len() <= 8, "{n}: {}", bytes(n));
        }
        assert!(rate(f64::NAN) == "0 B/s" && rate(1e30).len() <= 10);
    }

    #[test]
    fn seconds_and_plurals() {
        assert_eq!(seconds(Duration::from_millis(5)), "0.005 s");
        assert_eq!(seconds(Duration::from_millis(3280)), "3.28 s");
        assert_eq!(seconds(Duration::from_secs(65 * 60 + 7)), "1h05m");
        assert_eq!(seconds(Duration::from_secs(125)), "2m05s");
        assert_eq!(
            (count(1, "thread"), count(4, "thread")),
            ("1 thread".into(), "4 threads".into())
        );
    }
}
