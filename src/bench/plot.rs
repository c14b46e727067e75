//! Charts of bench results: wall-clock time and speedup against thread count,
//! each beside its ideal, as one SVG that any browser opens.
//!
//! plotters runs here without a font feature: its SVG backend writes `<text>`
//! elements and lets the viewer pick the font, and layout needs only plotters'
//! built-in size estimate. So no font file is read and nothing is rasterised.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::timing::Row;

const SIZE: (u32, u32) = (1100, 460);
const FONT: &str = "sans-serif";
/// Measured time and measured speedup: one filled circle per thread count each.
pub const TIME_COLOR: RGBColor = RGBColor(31, 119, 180);
pub const SPEEDUP_COLOR: RGBColor = RGBColor(214, 39, 40);
const IDEAL_COLOR: RGBColor = RGBColor(44, 160, 44);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

pub fn write_svg(path: &Path, rows: &[Row], title: &str) -> Result<()> {
    let svg = svg(rows, title)?;
    fs::write(path, svg).with_context(|| format!("cannot write the --plot file {}", path.display()))
}

/// The chart as SVG text: time on the left, speedup on the right.
pub fn svg(rows: &[Row], title: &str) -> Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, rows, title).map_err(|e| anyhow!("cannot draw the chart: {e}"))?;
    }
    Ok(out)
}

fn draw(root: &Area, rows: &[Row], title: &str) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let root = root.titled(title, (FONT, 22))?;
    let (left, right) = root.split_horizontally(SIZE.0 / 2);
    draw_times(&left, rows)?;
    draw_speedups(&right, rows)?;
    root.present()?;
    Ok(())
}

/// Thread counts go on a log2 axis: doubling the threads is one step.
fn x(threads: usize) -> f64 {
    (threads.max(1) as f64).log2()
}

fn x_range(rows: &[Row]) -> std::ops::Range<f64> {
    let last = rows.iter().map(|r| x(r.threads)).fold(0.0, f64::max);
    -0.25..last + 0.25
}

/// Ticks fall on whole powers of two; label them as thread counts.
fn thread_label(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 && *x >= 0.0 {
        format!("{}", 2f64.powi(x.round() as i32))
    } else {
        String::new()
    }
}

/// Whole numbers once the axis is tall enough, so small ranges keep distinct ticks.
fn speedup_label(y: f64, y_max: f64) -> String {
    if y_max > 8.0 {
        format!("{y:.0}x")
    } else {
        format!("{y:.1}x")
    }
}

fn top(values: impl Iterator<Item = f64>) -> f64 {
    values
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.12
}

/// Times go on a log10 axis, so the gap between measured and ideal at 32 or
/// 64 threads is as visible as at 2: on a linear axis those points crowd the
/// bottom of the chart.
fn log_time(seconds: f64) -> f64 {
    seconds.max(1e-6).log10()
}

/// A tick on the log axis, labelled in seconds.
fn time_label(y: f64) -> String {
    let seconds = 10f64.powf(y);
    match seconds {
        s if s < 0.1 => format!("{s:.3}"),
        s if s < 1.0 => format!("{s:.2}"),
        s if s < 10.0 => format!("{s:.1}"),
        s => format!("{s:.0}"),
    }
}

fn time_range(rows: &[Row]) -> std::ops::Range<f64> {
    let values = || {
        rows.iter()
            .flat_map(|r| [r.min_s, r.max_s, r.ideal_s.unwrap_or(r.median_s)])
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let low = values().fold(f64::INFINITY, f64::min);
    let high = values().fold(0.0, f64::max);
    if !low.is_finite() {
        return -3.0..0.0;
    }
    log_time(low / 1.3)..log_time(high * 1.3).max(log_time(low / 1.3) + 0.1)
}

fn draw_times(area: &Area, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let mut chart = chart(
        area,
        "Wall-clock time (median, min-max; log scale)",
        rows,
        time_range(rows),
    )?;
    chart
        .configure_mesh()
        .x_labels(rows.len().max(x_range(rows).end as usize + 2))
        .x_label_formatter(&thread_label)
        .y_labels(8)
        .y_label_formatter(&|y| time_label(*y))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .x_desc("threads")
        .y_desc("seconds (log scale)")
        .draw()?;
    chart.draw_series(rows.iter().map(|r| {
        PathElement::new(
            vec![
                (x(r.threads), log_time(r.min_s)),
                (x(r.threads), log_time(r.max_s)),
            ],
            TIME_COLOR.stroke_width(2),
        )
    }))?;
    let ideal: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((x(r.threads), log_time(r.ideal_s?))))
        .collect();
    if !ideal.is_empty() {
        ideal_line(
            &mut chart,
            ideal,
            "ideal: ceil(files / threads) x time per file",
        )?;
    }
    let points: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| (x(r.threads), log_time(r.median_s)))
        .collect();
    measured(&mut chart, &points, TIME_COLOR, "measured median")?;
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn draw_speedups(area: &Area, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
    let (ideal, ideal_label) = ideal_speedups(rows);
    let y_max = top(rows
        .iter()
        .map(|r| r.speedup)
        .chain(ideal.iter().map(|p| p.1)));
    let mut chart = chart(area, "Speedup over 1 thread", rows, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_labels(rows.len().max(x_range(rows).end as usize + 2))
        .x_label_formatter(&thread_label)
        .y_label_formatter(&|y| speedup_label(*y, y_max))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .x_desc("threads")
        .y_desc("speedup")
        .draw()?;
    ideal_line(&mut chart, ideal, ideal_label)?;
    let points: Vec<(f64, f64)> = rows.iter().map(|r| (x(r.threads), r.speedup)).collect();
    measured(&mut chart, &points, SPEEDUP_COLOR, "measured")?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// The built-in batch's ideal time gives its ideal speedup; for other
/// batches the reference is perfect scaling, a speedup equal to the threads.
fn ideal_speedups(rows: &[Row]) -> (Vec<(f64, f64)>, &'static str) {
    let base = rows.iter().find(|r| r.threads == 1).and_then(|r| r.ideal_s);
    match base {
        Some(base) => (
            rows.iter()
                .filter_map(|r| Some((x(r.threads), base / r.ideal_s?)))
                .collect(),
            "ideal",
        ),
        None => (
            rows.iter()
                .map(|r| (x(r.threads), r.threads as f64))
                .collect(),
            "perfect scaling (= threads)",
        ),
    }
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    rows: &[Row],
    y: std::ops::Range<f64>,
) -> Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(46)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range(rows), y)?;
    Ok(chart)
}

/// A line through the measured points, with one filled circle on each.
fn measured(
    chart: &mut Chart,
    points: &[(f64, f64)],
    color: RGBColor,
    label: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart.draw_series(
        points
            .iter()
            .map(|&point| Circle::new(point, 4, color.filled())),
    )?;
    Ok(())
}

fn ideal_line(
    chart: &mut Chart,
    points: Vec<(f64, f64)>,
    label: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .draw_series(DashedLineSeries::new(
            points,
            8,
            5,
            IDEAL_COLOR.stroke_width(2),
        ))?
        .label(label)
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], IDEAL_COLOR.stroke_width(2)));
    Ok(())
}

fn legend<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(threads: usize, median_s: f64) -> Row {
        Row {
            threads,
            runs: 1,
            median_s,
            min_s: median_s * 0.9,
            max_s: median_s * 1.1,
            speedup: 1.0 / median_s,
            efficiency: 1.0 / median_s / threads as f64,
            throughput_bytes_per_s: 0.0,
            cpu_share: 0.1,
            cores_busy: 0.2,
            failures: 0,
            ideal_s: Some(1.0 / threads as f64),
        }
    }

    #[test]
    fn one_circle_per_thread_count_in_each_panel() {
        let rows = [row(1, 1.0), row(2, 0.55), row(4, 0.3)];
        let svg = svg(&rows, "test").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert_eq!(svg.matches("<circle").count(), 2 * rows.len());
        assert!(svg.contains("Speedup over 1 thread"));
    }

    #[test]
    fn times_are_on_a_log_axis_labelled_in_seconds() {
        assert_eq!(time_label(log_time(0.05)), "0.050");
        assert_eq!(time_label(log_time(3.2)), "3.2");
        // 64 threads at 60 ms against an ideal of 50 ms sit a visible step
        // apart even beside a 3.2 s sequential run: a tenth of the axis.
        let rows = [row(1, 3.2), row(64, 0.06)];
        let range = time_range(&rows);
        let gap = (log_time(0.06) - log_time(1.0 / 64.0)) / (range.end - range.start);
        assert!(gap > 0.1, "{gap}");
        let svg = svg(&rows, "t").unwrap();
        assert!(svg.contains("log scale"));
    }

    #[test]
    fn ticks_are_labelled_as_thread_counts() {
        assert_eq!(thread_label(&0.0), "1");
        assert_eq!(thread_label(&6.0), "64");
        assert_eq!(thread_label(&0.5), "");
        assert_eq!(thread_label(&-1.0), "");
    }
}
