//! The Pareto front as an SVG a browser shows: every candidate (grey, predicted latency), the
//! front (blue line), the budget (dashed), and each verified pick from its predicted to its
//! measured latency (green when it fits, red when it broke the budget).

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
    fn axes(&self, s: &mut String, title: &str, objective: &str) {
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
            r#"<text x="{}" y="{}" text-anchor="middle">latency on this device (ms): predicted, and measured for verified picks</text>"#,
            W / 2.0,
            H - 14.0
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            H / 2.0,
            escape(objective)
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
    f.axes(&mut s, title, objective);
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
