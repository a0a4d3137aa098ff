//! Charts drawn on the server as inline SVG: a sparkline, a line chart (size
//! over time), bars (entered above the axis, exited below, per day), a heatmap
//! (overlap), the RFM grid, interval bars (experiment lifts) and a stacked bar
//! (sends by outcome).
//!
//! Every chart is `role="img"` with a `<title>` saying what it shows, axes
//! carry labels, and each mark has its own `<title>` (the tooltip and what a
//! screen reader reads). Colours come from classes in `dashboard.css`; no
//! inline styles (the pages' CSP forbids them). Empty and flat data draw an
//! empty frame, never NaN.

use maud::{Markup, html};

/// Up to about `target` round tick values covering `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![if lo.is_finite() { lo } else { 0.0 }];
    }
    let step = step_for(hi - lo, target);
    // Values are k × step, rounded to the step's decimals (0.1 × 3 is 0.3).
    let scale = 10f64.powi((-step.log10().floor()).max(0.0) as i32);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last.min(first + 100))
        .map(|k| (k as f64 * step * scale).round() / scale)
        // -0.0 reads badly.
        .map(|t| if t == 0.0 { 0.0 } else { t })
        .collect()
}

/// The round step (1, 2 or 5 times a power of ten) that cuts `span` into
/// the number of pieces nearest `target`.
fn step_for(span: f64, target: usize) -> f64 {
    let target = target.max(1) as f64;
    let magnitude = 10f64.powf((span / target).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .min_by(|a, b| {
            let off = |s: f64| (span / s - target).abs();
            off(*a).total_cmp(&off(*b))
        })
        .unwrap_or(magnitude)
}

/// The top of an axis from 0 that holds `max`: a round number.
fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let step = step_for(max, 4);
    ((max / step).ceil() * step).max(step)
}

/// `1234` → `1.2k`, `3` → `3`, `0.25` → `0.25`.
pub fn short(x: f64) -> String {
    let a = x.abs();
    if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else if a == a.trunc() {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn f(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "0".into()
    }
}

/// Polylines through `(x, y, estimated)` points: one per run of points of
/// the same kind (joined to the next run), broken where `y` is unknown.
fn runs(points: &[(f64, Option<f64>, bool)]) -> Vec<(bool, String)> {
    let mut out: Vec<(bool, Vec<String>)> = Vec::new();
    let mut prev: Option<bool> = None;
    for &(x, y, estimated) in points {
        let Some(y) = y else {
            prev = None;
            continue;
        };
        let p = format!("{},{}", f(x), f(y));
        match (prev, out.last_mut()) {
            (Some(kind), Some(run)) if kind == estimated => run.1.push(p),
            (Some(_), Some(run)) => {
                run.1.push(p.clone());
                out.push((estimated, vec![p]));
            }
            _ => out.push((estimated, vec![p])),
        }
        prev = Some(estimated);
    }
    out.into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(e, v)| (e, v.join(" ")))
        .collect()
}

/// A trend in a table cell: `(size, estimated)` per day, unknown days left
/// out; estimated days dashed.
pub fn sparkline(values: &[(Option<u64>, bool)], label: &str) -> Markup {
    let (w, h, pad) = (120.0, 28.0, 2.0);
    let known: Vec<u64> = values.iter().filter_map(|v| v.0).collect();
    let max = known.iter().copied().max().unwrap_or(0) as f64;
    let min = known.iter().copied().min().unwrap_or(0) as f64;
    let span = (max - min).max(1.0);
    let n = values.len();
    let x = |i: usize| pad + (w - 2.0 * pad) * i as f64 / (n.saturating_sub(1).max(1)) as f64;
    let y = |v: u64| h - pad - (h - 2.0 * pad) * (v as f64 - min) / span;
    let points: Vec<(f64, Option<f64>, bool)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (x(i), v.0.map(y), v.1))
        .collect();
    let title = match (known.first(), known.last()) {
        (Some(a), Some(b)) => format!("{label}: {a} to {b} members over {n} days"),
        _ => format!("{label}: no history yet"),
    };
    html! {
        svg.spark width=(w) height=(h) viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(title) {
            title { (title) }
            @for (estimated, line) in runs(&points) {
                polyline.line.estimated[estimated] points=(line) {}
            }
            @if let Some((i, Some(last))) = values.iter().enumerate().rev().map(|(i, v)| (i, v.0)).find(|v| v.1.is_some()) {
                circle.dot cx=(f(x(i))) cy=(f(y(last))) r="2" {}
            }
        }
    }
}

/// The plot area of a chart with axes.
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn x0(&self) -> f64 {
        self.left
    }
    fn x1(&self) -> f64 {
        self.w - self.right
    }
    fn y0(&self) -> f64 {
        self.h - self.bottom
    }
    fn y1(&self) -> f64 {
        self.top
    }
    fn plot_w(&self) -> f64 {
        self.x1() - self.x0()
    }
    fn plot_h(&self) -> f64 {
        self.y0() - self.y1()
    }
}

/// The frame of the charts over days.
const TIME_FRAME: Frame = Frame {
    w: 640.0,
    h: 220.0,
    left: 52.0,
    right: 16.0,
    top: 12.0,
    bottom: 40.0,
};

/// The axis titles: `x` under the plot, `y` turned along its left side at
/// height `y_at`.
fn axis_titles(frame: &Frame, x: &str, y: &str, y_at: f64) -> Markup {
    html! {
        text.axis-label x=(f(frame.x0() + frame.plot_w() / 2.0)) y=(f(frame.h - 4.0)) text-anchor="middle" { (x) }
        text.axis-label x="12" y=(f(y_at)) text-anchor="middle"
            transform={"rotate(-90 12 " (f(y_at)) ")"} { (y) }
    }
}

/// X-axis labels: the first, middle and last of `labels`, at their slots.
fn x_labels(frame: &Frame, labels: &[String], x: impl Fn(usize) -> f64) -> Markup {
    let n = labels.len();
    let picks: Vec<usize> = match n {
        0 => vec![],
        1 => vec![0],
        2 => vec![0, 1],
        _ => vec![0, n / 2, n - 1],
    };
    html! {
        @for i in picks {
            text.tick x=(f(x(i))) y=(f(frame.y0() + 16.0))
                text-anchor=(if i == 0 && n > 1 { "start" } else if i + 1 == n && n > 1 { "end" } else { "middle" }) {
                (labels[i])
            }
        }
    }
}

/// Members per day: `(day, size, estimated)`; estimated days dashed,
/// unknown ones left out.
pub fn line_chart(days: &[(String, Option<u64>, bool)], title: &str) -> Markup {
    let frame = TIME_FRAME;
    let max = nice_max(days.iter().filter_map(|d| d.1).max().unwrap_or(0) as f64);
    let n = days.len();
    let x = |i: usize| frame.x0() + frame.plot_w() * i as f64 / (n.saturating_sub(1).max(1)) as f64;
    let y = |v: f64| frame.y0() - frame.plot_h() * v / max;
    let points: Vec<(f64, Option<f64>, bool)> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (x(i), d.1.map(|v| y(v as f64)), d.2))
        .collect();
    let labels: Vec<String> = days.iter().map(|d| d.0.clone()).collect();
    html! {
        svg.chart viewBox={"0 0 " (frame.w) " " (frame.h)} role="img" aria-label=(title) {
            title { (title) }
            @for t in ticks(0.0, max, 4) {
                line.grid x1=(f(frame.x0())) x2=(f(frame.x1())) y1=(f(y(t))) y2=(f(y(t))) {}
                text.tick x=(f(frame.x0() - 6.0)) y=(f(y(t) + 4.0)) text-anchor="end" { (short(t)) }
            }
            line.axis x1=(f(frame.x0())) x2=(f(frame.x1())) y1=(f(frame.y0())) y2=(f(frame.y0())) {}
            @for (estimated, line) in runs(&points) {
                polyline.line.estimated[estimated] points=(line) {}
            }
            @for (i, d) in days.iter().enumerate() {
                @if let Some(v) = d.1 {
                    circle.point.estimated[d.2] cx=(f(x(i))) cy=(f(y(v as f64))) r=(if n > 60 { "1.5" } else { "2.5" }) {
                        title { (d.0) ": " (v) " members" @if d.2 { " (evaluated now on the events stored, before the segment existed)" } }
                    }
                }
            }
            (x_labels(&frame, &labels, x))
            (axis_titles(&frame, "day (UTC)", "members", frame.y1() + frame.plot_h() / 2.0))
        }
    }
}

/// Entered (above the axis) and exited (below) per day.
pub fn entered_exited(days: &[(String, u64, u64)], title: &str) -> Markup {
    let frame = TIME_FRAME;
    let max = nice_max(days.iter().map(|d| d.1.max(d.2)).max().unwrap_or(0) as f64);
    let n = days.len().max(1);
    let slot = frame.plot_w() / n as f64;
    let bar_w = (slot * 0.7).max(1.0);
    let mid = frame.y1() + frame.plot_h() / 2.0;
    let half = frame.plot_h() / 2.0;
    let hgt = |v: u64| half * v as f64 / max;
    let x = |i: usize| frame.x0() + slot * i as f64 + (slot - bar_w) / 2.0;
    let labels: Vec<String> = days.iter().map(|d| d.0.clone()).collect();
    let tick_values: Vec<f64> = ticks(0.0, max, 2);
    html! {
        svg.chart viewBox={"0 0 " (frame.w) " " (frame.h)} role="img" aria-label=(title) {
            title { (title) }
            @for t in &tick_values {
                @let dy = half * t / max;
                line.grid x1=(f(frame.x0())) x2=(f(frame.x1())) y1=(f(mid - dy)) y2=(f(mid - dy)) {}
                line.grid x1=(f(frame.x0())) x2=(f(frame.x1())) y1=(f(mid + dy)) y2=(f(mid + dy)) {}
                text.tick x=(f(frame.x0() - 6.0)) y=(f(mid - dy + 4.0)) text-anchor="end" { (if *t > 0.0 { "+" } else { "" }) (short(*t)) }
                @if *t > 0.0 {
                    text.tick x=(f(frame.x0() - 6.0)) y=(f(mid + dy + 4.0)) text-anchor="end" { "−" (short(*t)) }
                }
            }
            @for (i, d) in days.iter().enumerate() {
                @if d.1 > 0 {
                    rect.bar-in x=(f(x(i))) y=(f(mid - hgt(d.1))) width=(f(bar_w)) height=(f(hgt(d.1))) {
                        title { (d.0) ": " (d.1) " entered" }
                    }
                }
                @if d.2 > 0 {
                    rect.bar-out x=(f(x(i))) y=(f(mid)) width=(f(bar_w)) height=(f(hgt(d.2))) {
                        title { (d.0) ": " (d.2) " exited" }
                    }
                }
            }
            line.axis x1=(f(frame.x0())) x2=(f(frame.x1())) y1=(f(mid)) y2=(f(mid)) {}
            (x_labels(&frame, &labels, |i| frame.x0() + slot * (i as f64 + 0.5)))
            (axis_titles(&frame, "day (UTC)", "entered ▲ / exited ▼", mid))
        }
    }
}

/// Pairwise overlap: `jaccard[i][j]` in `[0, 1]` shades the cell,
/// `shared[i][j]` people are in both.
pub fn heatmap(
    labels: &[String],
    jaccard: &[Vec<f64>],
    shared: &[Vec<u64>],
    title: &str,
) -> Markup {
    let n = labels.len();
    let cell = 30.0;
    let left = 170.0;
    let top = 130.0;
    let w = left + cell * n as f64 + 10.0;
    let h = top + cell * n as f64 + 36.0;
    let at = |m: &[Vec<f64>], i: usize, j: usize| {
        m.get(i)
            .and_then(|r| r.get(j))
            .copied()
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
            .clamp(0.0, 1.0)
    };
    html! {
        svg.chart.heatmap viewBox={"0 0 " (f(w)) " " (f(h))} width=(f(w)) role="img" aria-label=(title) {
            title { (title) }
            @for (i, label) in labels.iter().enumerate() {
                text.tick x=(f(left - 6.0)) y=(f(top + cell * i as f64 + cell / 2.0 + 4.0)) text-anchor="end" { (label) }
                @let cx = left + cell * i as f64 + cell / 2.0;
                text.tick x=(f(cx)) y=(f(top - 6.0)) text-anchor="start"
                    transform={"rotate(-50 " (f(cx)) " " (f(top - 6.0)) ")"} { (label) }
            }
            @for i in 0..n {
                @for j in 0..n {
                    @let v = at(jaccard, i, j);
                    @let both = shared.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
                    rect.heat x=(f(left + cell * j as f64)) y=(f(top + cell * i as f64))
                        width=(f(cell - 1.0)) height=(f(cell - 1.0)) fill-opacity=(format!("{:.2}", 0.06 + 0.94 * v)) {
                        title { (labels[i]) " and " (labels[j]) ": " (both) " people in both, Jaccard " (format!("{v:.2}")) }
                    }
                    @if v >= 0.005 {
                        text.cell-value.dark[v > 0.55] x=(f(left + cell * j as f64 + cell / 2.0)) y=(f(top + cell * i as f64 + cell / 2.0 + 3.5))
                            text-anchor="middle" { (format!("{:.0}", v * 100.0)) }
                    }
                }
            }
            text.axis-label x=(f(left)) y=(f(h - 8.0)) { "cell: people in both ÷ people in either (Jaccard, %)" }
        }
    }
}

/// The RFM grid: `counts[r - 1][f - 1]` buyers with recency score r and
/// frequency score f, `names` the cell each square belongs to.
pub fn rfm_grid(counts: &[[u64; 5]; 5], names: &[[&str; 5]; 5], title: &str) -> Markup {
    let (cw, ch, left, top) = (112.0, 64.0, 64.0, 12.0);
    let w = left + cw * 5.0 + 8.0;
    let h = top + ch * 5.0 + 48.0;
    let max = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    html! {
        svg.chart.rfm viewBox={"0 0 " (f(w)) " " (f(h))} role="img" aria-label=(title) {
            title { (title) }
            @for row in 0..5usize {
                @let r = 5 - row;
                text.tick x=(f(left - 8.0)) y=(f(top + ch * row as f64 + ch / 2.0 + 4.0)) text-anchor="end" { "R " (r) }
                @for col in 0..5usize {
                    @let n = counts[r - 1][col];
                    @let x = left + cw * col as f64;
                    @let y = top + ch * row as f64;
                    @let shade = n as f64 / max;
                    rect.heat x=(f(x)) y=(f(y)) width=(f(cw - 2.0)) height=(f(ch - 2.0)) fill-opacity=(format!("{:.2}", 0.06 + 0.94 * shade)) {
                        title { "R " (r) ", F " (col + 1) " (" (names[r - 1][col]) "): " (n) " buyers" }
                    }
                    text.cell-value.dark[shade > 0.55] x=(f(x + cw / 2.0)) y=(f(y + ch / 2.0 - 2.0)) text-anchor="middle" { (n) }
                    text.cell-name.dark[shade > 0.55] x=(f(x + cw / 2.0)) y=(f(y + ch / 2.0 + 14.0)) text-anchor="middle" { (names[r - 1][col]) }
                }
            }
            @for col in 0..5usize {
                text.tick x=(f(left + cw * col as f64 + cw / 2.0)) y=(f(top + ch * 5.0 + 16.0)) text-anchor="middle" { "F " (col + 1) }
            }
            text.axis-label x=(f(left + cw * 2.5)) y=(f(h - 6.0)) text-anchor="middle" { "frequency score (orders) →" }
            text.axis-label x="12" y=(f(top + ch * 2.5)) text-anchor="middle"
                transform={"rotate(-90 12 " (f(top + ch * 2.5)) ")"} { "recency score ↑" }
        }
    }
}

/// One row of [`interval_bars`]: an estimate and its interval, and maybe a
/// second, wider one (the always-valid interval).
#[derive(Debug, Clone)]
pub struct IntervalRow {
    pub label: String,
    pub point: f64,
    pub interval: [f64; 2],
    pub outer: Option<[f64; 2]>,
}

/// Estimates with intervals against a zero line; values are relative
/// (`0.1` is +10 %).
pub fn interval_bars(rows: &[IntervalRow], title: &str, axis: &str) -> Markup {
    let row_h = 34.0;
    let frame = Frame {
        w: 640.0,
        h: 44.0 + row_h * rows.len().max(1) as f64,
        left: 190.0,
        right: 24.0,
        top: 8.0,
        bottom: 36.0,
    };
    let finite = |v: f64| if v.is_finite() { Some(v) } else { None };
    let extent = rows
        .iter()
        .flat_map(|r| {
            let mut v = vec![r.point, r.interval[0], r.interval[1]];
            if let Some(o) = r.outer {
                v.extend(o);
            }
            v
        })
        .filter_map(finite)
        .fold(0.05f64, |m, v| m.max(v.abs()));
    let extent = extent * 1.08;
    let x = |v: f64| {
        let v = if v.is_finite() {
            v.clamp(-extent, extent)
        } else {
            0.0
        };
        frame.x0() + frame.plot_w() * (v + extent) / (2.0 * extent)
    };
    let pct = |v: f64| {
        if v.is_finite() {
            format!("{:+.1} %", v * 100.0)
        } else {
            "–".to_owned()
        }
    };
    html! {
        svg.chart.intervals viewBox={"0 0 " (frame.w) " " (f(frame.h))} role="img" aria-label=(title) {
            title { (title) }
            @for t in ticks(-extent, extent, 6) {
                line.grid x1=(f(x(t))) x2=(f(x(t))) y1=(f(frame.y1())) y2=(f(frame.y0())) {}
                text.tick x=(f(x(t))) y=(f(frame.y0() + 14.0)) text-anchor="middle" { (format!("{:+.0}%", t * 100.0)) }
            }
            line.zero x1=(f(x(0.0))) x2=(f(x(0.0))) y1=(f(frame.y1())) y2=(f(frame.y0())) {}
            @for (i, r) in rows.iter().enumerate() {
                @let y = frame.y1() + row_h * (i as f64 + 0.5);
                @let sure = r.interval[0] > 0.0 || r.interval[1] < 0.0;
                g.interval.significant[sure] {
                    title { (r.label) ": " (pct(r.point)) " (" (pct(r.interval[0])) " to " (pct(r.interval[1])) ")" }
                    text.tick x=(f(frame.x0() - 8.0)) y=(f(y + 4.0)) text-anchor="end" { (r.label) }
                    @if let Some(o) = r.outer {
                        line.outer x1=(f(x(o[0]))) x2=(f(x(o[1]))) y1=(f(y)) y2=(f(y)) {}
                    }
                    line.inner x1=(f(x(r.interval[0]))) x2=(f(x(r.interval[1]))) y1=(f(y)) y2=(f(y)) {}
                    circle.estimate cx=(f(x(r.point))) cy=(f(y)) r="5" {}
                }
            }
            text.axis-label x=(f(frame.x0() + frame.plot_w() / 2.0)) y=(f(frame.h - 4.0)) text-anchor="middle" { (axis) }
        }
    }
}

/// Parts of a whole side by side (sends by outcome): `(label, count, class)`.
pub fn stacked_bar(parts: &[(&str, u64, &str)], title: &str) -> Markup {
    let (w, h) = (200.0, 14.0);
    let total: u64 = parts.iter().map(|p| p.1).sum();
    // (part, left edge, width)
    let mut x = 0.0;
    let mut placed = Vec::new();
    for part in parts.iter().filter(|p| p.1 > 0) {
        let width = w * part.1 as f64 / total.max(1) as f64;
        placed.push((part, x, width));
        x += width;
    }
    html! {
        svg.stacked width=(w) height=(h) viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(title) {
            title { (title) }
            rect.track x="0" y="0" width=(w) height=(h) {}
            @for ((label, n, class), x, width) in placed {
                rect class=(class) x=(f(x)) y="0" width=(f(width)) height=(h) {
                    title { (label) ": " (n) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<title>"), "{svg}");
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            ticks(0.0, 100.0, 4),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(ticks(0.0, 7.0, 4), vec![0.0, 2.0, 4.0, 6.0]);
        assert_eq!(
            ticks(-0.3, 0.3, 6),
            vec![-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]
        );
        assert_eq!(ticks(5.0, 5.0, 4), vec![5.0]);
        assert_eq!(ticks(f64::NAN, 1.0, 4), vec![0.0]);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(87.0), 100.0);
        assert_eq!(nice_max(3.0), 3.0);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(short(3.0), "3");
        assert_eq!(short(1234.0), "1.2k");
        assert_eq!(short(45_000.0), "45k");
        assert_eq!(short(2_500_000.0), "2.5M");
        assert_eq!(short(0.25), "0.25");
    }

    #[test]
    fn charts_draw_empty_flat_and_real_data() {
        for values in [vec![], vec![7], vec![3, 3, 3], vec![1, 5, 2, 9]] {
            let values: Vec<(Option<u64>, bool)> =
                values.into_iter().map(|v| (Some(v), false)).collect();
            let s = sparkline(&values, "recent_buyers").into_string();
            well_formed(&s);
        }
        let s = sparkline(
            &[
                (None, false),
                (Some(2), true),
                (Some(3), true),
                (Some(5), false),
                (Some(4), false),
            ],
            "x",
        )
        .into_string();
        well_formed(&s);
        assert_eq!(s.matches("line estimated").count(), 1, "{s}");
        assert_eq!(s.matches("<polyline").count(), 2, "{s}");
        let days: Vec<(String, Option<u64>, bool)> = (0..30)
            .map(|i| {
                (
                    format!("2026-06-{:02}", i + 1),
                    (i > 2).then_some(i * 3),
                    i < 10,
                )
            })
            .collect();
        let s = line_chart(&days, "size").into_string();
        well_formed(&s);
        assert!(s.contains("2026-06-01") && s.contains("2026-06-30") && s.contains("members"));
        assert!(s.contains("2026-06-04: 9 members (evaluated now"), "{s}");
        assert!(
            !s.contains("2026-06-02: "),
            "unknown days are left out: {s}"
        );
        well_formed(&line_chart(&[], "size").into_string());
        let bars: Vec<(String, u64, u64)> = (0..10).map(|i| (format!("d{i}"), i, 10 - i)).collect();
        let s = entered_exited(&bars, "changes").into_string();
        well_formed(&s);
        assert!(s.contains("d3: 3 entered") && s.contains("d3: 7 exited"));
        well_formed(&entered_exited(&[], "changes").into_string());
    }

    #[test]
    fn heatmap_and_grid_label_every_cell() {
        let labels = vec!["a".to_string(), "b".to_string()];
        let s = heatmap(
            &labels,
            &[vec![1.0, 0.25], vec![0.25, 1.0]],
            &[vec![4, 1], vec![1, 2]],
            "overlap",
        )
        .into_string();
        well_formed(&s);
        assert!(s.contains("a and b: 1 people in both, Jaccard 0.25"), "{s}");
        well_formed(&heatmap(&[], &[], &[], "overlap").into_string());
        let mut counts = [[0u64; 5]; 5];
        counts[4][4] = 12;
        let s = rfm_grid(&counts, &seglab_lang::RFM_GRID, "rfm").into_string();
        well_formed(&s);
        assert!(s.contains("R 5, F 5 (Champions): 12 buyers"), "{s}");
        assert!(s.contains("R 1, F 1 (Lost): 0 buyers"), "{s}");
    }

    #[test]
    fn intervals_mark_what_excludes_zero() {
        let rows = vec![
            IntervalRow {
                label: "b vs a".into(),
                point: 0.2,
                interval: [0.05, 0.35],
                outer: Some([-0.02, 0.42]),
            },
            IntervalRow {
                label: "c vs a".into(),
                point: 0.01,
                interval: [-0.1, 0.12],
                outer: None,
            },
            IntervalRow {
                label: "d vs a".into(),
                point: f64::NAN,
                interval: [f64::NEG_INFINITY, f64::INFINITY],
                outer: None,
            },
        ];
        let s = interval_bars(&rows, "lift", "relative lift").into_string();
        well_formed(&s);
        assert_eq!(s.matches("interval significant").count(), 1, "{s}");
        assert!(s.contains("b vs a: +20.0 % (+5.0 % to +35.0 %)"), "{s}");
        let s = stacked_bar(&[("sent", 3, "sent"), ("failed", 1, "failed")], "sends").into_string();
        well_formed(&s);
        assert!(s.contains("sent: 3"));
        well_formed(&stacked_bar(&[], "sends").into_string());
    }
}
