//! Plots as SVG a browser shows.
//! - The Pareto front: every candidate (grey, predicted latency), the front (blue line), the
//!   budget (dashed), and each verified pick from its predicted to its measured latency (green
//!   when it fits, red when it broke the budget).
//! - Validation: predicted against measured latency per arch, with the predictor's interval,
//!   the diagonal and the ±10 % band.

use std::fmt::Write;

use crate::search::{Candidate, Verified};

const W: f64 = 760.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
/// Points drawn for the cloud of candidates at most (the front is always drawn whole).
const MAX_CLOUD: usize = 3000;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The data's extent on both axes, and the map from data to pixels.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    /// Latencies (predicted, measured, the budget) across, objectives up, with a margin.
    fn fit(cands: &[Candidate], verified: &[Verified], budget_ms: Option<f64>) -> Frame {
        let xs = cands
            .iter()
            .map(|c| c.prediction.predicted_ms)
            .chain(verified.iter().map(|v| v.measured.median_ms))
            .chain(budget_ms);
        let (mut x0, mut x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
        let (mut y0, mut y1) = cands
            .iter()
            .map(|c| c.objective)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
                (a.min(y), b.max(y))
            });
        if !(x0.is_finite() && x1 > x0) {
            x0 = 0.0;
            x1 = x1.max(1.0);
        }
        if !(y0.is_finite() && y1 > y0) {
            y0 = y0.min(0.0);
            y1 = y0 + 1.0;
        }
        let pad = (x1 - x0) * 0.03;
        Frame {
            x0: x0 - pad,
            x1: x1 + pad,
            y0,
            y1,
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        H - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (H - TOP - BOTTOM)
    }

    /// The title, both axes with five ticks each, and their labels.
    fn axes(&self, s: &mut String, title: &str, x_label: &str, y_label: &str) {
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            W / 2.0,
            escape(title)
        );
        let _ = writeln!(
            s,
            r#"<g stroke="black"><line x1="{LEFT}" y1="{}" x2="{}" y2="{}"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}"/></g>"#,
            H - BOTTOM,
            W - RIGHT,
            H - BOTTOM,
            H - BOTTOM
        );
        for i in 0..=4 {
            let x = self.x0 + (self.x1 - self.x0) * i as f64 / 4.0;
            let y = self.y0 + (self.y1 - self.y0) * i as f64 / 4.0;
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{x:.2}</text><text x="{}" y="{:.1}" text-anchor="end">{y:.2}</text>"#,
                self.px(x),
                H - BOTTOM + 18.0,
                LEFT - 6.0,
                self.py(y) + 4.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            W / 2.0,
            H - 14.0,
            escape(x_label)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            H / 2.0,
            escape(y_label)
        );
    }
}

pub fn pareto_svg(
    title: &str,
    objective: &str,
    cands: &[Candidate],
    front: &[usize],
    budget_ms: Option<f64>,
    verified: &[Verified],
) -> String {
    let f = Frame::fit(cands, verified, budget_ms);
    let mut s = String::new();
    f.axes(
        &mut s,
        title,
        "latency on this device (ms): predicted, and measured for verified picks",
        objective,
    );
    let step = cands.len().div_ceil(MAX_CLOUD).max(1);
    let _ = writeln!(s, r##"<g fill="#bbbbbb">"##);
    for c in cands.iter().step_by(step) {
        let (x, y) = (f.px(c.prediction.predicted_ms), f.py(c.objective));
        let _ = writeln!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="1.5"/>"#);
    }
    let _ = writeln!(s, "</g>");
    let points: Vec<String> = front
        .iter()
        .map(|&i| {
            let c = &cands[i];
            format!(
                "{:.1},{:.1}",
                f.px(c.prediction.predicted_ms),
                f.py(c.objective)
            )
        })
        .collect();
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f5fbf" stroke-width="2"/>"##,
        points.join(" ")
    );
    if let Some(b) = budget_ms {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1}" stroke="#444" stroke-dasharray="5,4"/><text x="{2:.1}" y="{3}">budget {b} ms</text>"##,
            f.px(b),
            H - BOTTOM,
            f.px(b) + 4.0,
            TOP + 12.0
        );
    }
    for v in verified {
        let color = if v.fits { "#1a9a3a" } else { "#c0282d" };
        let (xp, xm, y) = (
            f.px(v.candidate.prediction.predicted_ms),
            f.px(v.measured.median_ms),
            f.py(v.candidate.objective),
        );
        let _ = writeln!(
            s,
            r#"<g stroke="{color}" fill="{color}"><line x1="{xp:.1}" y1="{y:.1}" x2="{xm:.1}" y2="{y:.1}"/><circle cx="{xm:.1}" cy="{y:.1}" r="4"><title>{}: predicted {:.3} ms, measured {:.3} ms</title></circle></g>"#,
            escape(&v.candidate.arch.to_string()),
            v.candidate.prediction.predicted_ms,
            v.measured.median_ms
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// One validated arch: its prediction (with the interval) and its measured latency.
pub struct ValidationPoint<'a> {
    pub label: &'a str,
    pub predicted_ms: f64,
    pub low_ms: f64,
    pub high_ms: f64,
    pub measured_ms: f64,
}

/// Predicted (up) against measured (across) latency: the diagonal, the ±10 % band around it
/// (shaded), each arch's interval (grey when it holds the measurement, red when not) and its
/// prediction (green within ±10 %, orange outside).
pub fn validation_svg(title: &str, points: &[ValidationPoint]) -> String {
    let top = points
        .iter()
        .flat_map(|p| [p.high_ms, p.measured_ms, p.predicted_ms])
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let f = Frame {
        x0: 0.0,
        x1: top,
        y0: 0.0,
        y1: top,
    };
    let mut s = String::new();
    f.axes(
        &mut s,
        title,
        "measured latency (ms)",
        "predicted latency (ms), with the 90 % interval",
    );
    let band: Vec<String> = [(0.0, 0.0), (top, top * 1.1), (top, top * 0.9)]
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", f.px(x), f.py(y.min(top))))
        .collect();
    let _ = writeln!(
        s,
        r##"<polygon points="{}" fill="#1f5fbf" fill-opacity="0.12"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#1f5fbf"/><text x="{:.1}" y="{:.1}" fill="#1f5fbf">±10 %</text>"##,
        band.join(" "),
        f.px(0.0),
        f.py(0.0),
        f.px(top),
        f.py(top),
        f.px(top * 0.82),
        f.py(top * 0.95)
    );
    for p in points {
        let (x, y) = (f.px(p.measured_ms), f.py(p.predicted_ms));
        let held = p.measured_ms >= p.low_ms && p.measured_ms <= p.high_ms;
        let within = ((p.predicted_ms - p.measured_ms) / p.measured_ms).abs() <= 0.1;
        let bar = if held { "#999999" } else { "#c0282d" };
        let dot = if within { "#1a9a3a" } else { "#e07b00" };
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{bar}"/><circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{dot}"><title>{}: predicted {:.3} ms [{:.3} … {:.3}], measured {:.3} ms</title></circle>"#,
            f.py(p.low_ms.max(0.0)),
            f.py(p.high_ms.min(top)),
            escape(p.label),
            p.predicted_ms,
            p.low_ms,
            p.high_ms,
            p.measured_ms
        );
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// A device's reference latencies over their median: the shape that the embedding carries
/// (HELP normalises each device's references the same way, whatever its speed).
fn relative(ms: &[f64]) -> Vec<f64> {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted
        .get(sorted.len() / 2)
        .copied()
        .unwrap_or(1.0)
        .max(1e-9);
    ms.iter().map(|x| x / mid).collect()
}

/// This device's hardware embedding (blue, bold) against the meta-training devices' (grey,
/// named in tooltips): each reference arch's latency over the device's median reference, on
/// a log scale, so that devices of any speed share one frame and a device unlike all of them
/// stands out.
pub fn embedding_svg(title: &str, this: &[f64], others: &[(String, Vec<f64>)]) -> String {
    let series: Vec<Vec<f64>> = std::iter::once(this)
        .chain(others.iter().map(|(_, v)| v.as_slice()))
        .map(|v| relative(v).iter().map(|x| x.max(1e-6).log2()).collect())
        .collect();
    let (lo, hi) = series
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
            (a.min(y), b.max(y))
        });
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let n = this.len().max(2);
    let f = Frame {
        x0: 0.5,
        x1: n as f64 + 0.5,
        y0: lo - 0.1,
        y1: hi + 0.1,
    };
    let mut s = String::new();
    f.axes(
        &mut s,
        title,
        "reference arch (the space's 10, in order)",
        "log2 of latency over the device's median reference",
    );
    let line = |v: &[f64]| -> String {
        v.iter()
            .enumerate()
            .map(|(i, y)| format!("{:.1},{:.1}", f.px(i as f64 + 1.0), f.py(*y)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for ((name, raw), v) in others.iter().zip(&series[1..]) {
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="#aaaaaa" stroke-width="1"><title>{} ({} references)</title></polyline>"##,
            line(v),
            escape(name),
            raw.len()
        );
    }
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f5fbf" stroke-width="3"><title>this device</title></polyline>"##,
        line(&series[0])
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" fill="#1f5fbf">this device</text><text x="{:.1}" y="{:.1}" fill="#888888">{} meta-training devices</text>"##,
        LEFT + 10.0,
        TOP + 14.0,
        LEFT + 110.0,
        TOP + 14.0,
        others.len()
    );
    let _ = writeln!(s, "</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_plot_colours_what_misses() {
        let pts = [
            ValidationPoint {
                label: "good",
                predicted_ms: 2.0,
                low_ms: 1.8,
                high_ms: 2.2,
                measured_ms: 2.05,
            },
            ValidationPoint {
                label: "a<b",
                predicted_ms: 3.0,
                low_ms: 2.9,
                high_ms: 3.1,
                measured_ms: 4.0,
            },
        ];
        let svg = validation_svg("t", &pts);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // One within ±10 % inside its interval; one outside both.
        assert_eq!(svg.matches(r##"fill="#1a9a3a""##).count(), 1);
        assert_eq!(svg.matches(r##"fill="#e07b00""##).count(), 1);
        assert_eq!(svg.matches(r##"stroke="#c0282d""##).count(), 1);
        assert!(svg.contains("a&lt;b: predicted 3.000 ms"));
    }

    #[test]
    fn embedding_plot_draws_each_device_once() {
        let others = vec![
            ("gold_6226".to_string(), vec![1.0, 2.0, 4.0]),
            ("raspi4".to_string(), vec![10.0, 30.0, 20.0]),
        ];
        let svg = embedding_svg("t", &[2.0, 4.0, 8.0], &others);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("<title>raspi4 (3 references)</title>"));
        assert!(svg.contains("2 meta-training devices"));
        // A device twice as slow everywhere has the same shape: the same points.
        let same = embedding_svg("t", &[1.0, 2.0, 4.0], &others);
        assert_eq!(svg, same);
    }
}
