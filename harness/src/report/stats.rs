//! Run statistics: outcomes by op kind, latency percentiles, and latency and throughput over
//! simulated time drawn with the fault bands. Times are in the history's own unit as the report
//! shows it ([`time_in`]): milliseconds, or positions.
use std::collections::BTreeMap;
use std::fmt::Write;

use quorumlab::history::{History, Outcome, TimeUnit};
use serde::Serialize;

use super::layout::{time_in, Band};
use super::svg::{esc, nice_step, num};

/// Outcomes and latency of one op kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct KindStats {
    /// The op kind.
    pub kind: String,
    /// Ops of this kind.
    pub total: usize,
    /// Answered ok.
    pub ok: usize,
    /// Answered fail.
    pub fail: usize,
    /// Outcome unknown.
    pub info: usize,
    /// Latency percentiles of the ops that completed (ok or fail): p50, p90, p99, max.
    pub latency: [f64; 4],
}

/// One slice of simulated time.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bucket {
    /// Start.
    pub start: f64,
    /// Ops that completed in the slice.
    pub completed: usize,
    /// Median latency of those.
    pub p50: f64,
    /// Largest latency of those.
    pub max: f64,
}

/// The whole run's statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunStats {
    /// By op kind, in kind order, then `all`.
    pub kinds: Vec<KindStats>,
    /// Equal slices of the run's time span.
    pub buckets: Vec<Bucket>,
    /// Each slice's width.
    pub bucket_ms: f64,
}

/// The value at quantile `q` of sorted values (nearest rank), 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn kind_stats(kind: String, ops: &[&quorumlab::history::Op], unit: TimeUnit) -> KindStats {
    let mut s = KindStats {
        kind,
        total: ops.len(),
        ..KindStats::default()
    };
    let mut lat: Vec<u64> = Vec::new();
    for op in ops {
        match op.outcome {
            Outcome::Ok => s.ok += 1,
            Outcome::Fail => s.fail += 1,
            Outcome::Info => s.info += 1,
        }
        if let Some(c) = op.complete {
            lat.push(c.saturating_sub(op.invoke));
        }
    }
    lat.sort_unstable();
    s.latency = [0.5, 0.9, 0.99, 1.0].map(|q| time_in(unit, percentile(&lat, q)));
    s
}

/// Computes a history's statistics over `buckets` slices of `[t0, t1]` (in the history's unit,
/// as the timeline's).
pub fn run_stats(history: &History, t0: f64, t1: f64, buckets: usize) -> RunStats {
    let unit = history.time_unit();
    let at = |t: u64| time_in(unit, t);
    let mut by_kind: BTreeMap<&str, Vec<&quorumlab::history::Op>> = BTreeMap::new();
    for op in &history.ops {
        by_kind.entry(op.kind.name()).or_default().push(op);
    }
    let mut kinds: Vec<KindStats> = by_kind
        .iter()
        .map(|(k, ops)| kind_stats(k.to_string(), ops, unit))
        .collect();
    let all: Vec<_> = history.ops.iter().collect();
    kinds.push(kind_stats("all".to_string(), &all, unit));
    let n = buckets.max(1);
    let width = ((t1 - t0) / n as f64).max(1e-6);
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); n];
    for op in &history.ops {
        if let Some(c) = op.complete {
            let i = (((at(c) - t0) / width) as usize).min(n - 1);
            lat[i].push(c.saturating_sub(op.invoke));
        }
    }
    let buckets = lat
        .into_iter()
        .enumerate()
        .map(|(i, mut l)| {
            l.sort_unstable();
            Bucket {
                start: t0 + i as f64 * width,
                completed: l.len(),
                p50: at(percentile(&l, 0.5)),
                max: at(l.last().copied().unwrap_or(0)),
            }
        })
        .collect();
    RunStats {
        kinds,
        buckets,
        bucket_ms: width,
    }
}

/// Latency (median and largest per slice, ms) above throughput (ops completed per slice), over
/// simulated time, with the fault bands behind both: for a history whose times are
/// nanoseconds (positions measure no time to draw this over). Hand-written SVG: a few hundred elements
/// whatever the history's size.
pub fn chart(stats: &RunStats, bands: &[Band], t0: f64, t1: f64) -> String {
    let (w, left, right) = (900.0, 56.0, 12.0);
    let (lat_h, thr_h, gap, top) = (150.0, 80.0, 26.0, 12.0);
    let plot_w = w - left - right;
    let span = (t1 - t0).max(1e-6);
    let x = |t: f64| left + (t - t0) / span * plot_w;
    let max_lat = stats.buckets.iter().map(|b| b.max).fold(0.0, f64::max);
    let max_thr = stats.buckets.iter().map(|b| b.completed).max().unwrap_or(0) as f64;
    let lat_max = nice_ceiling(max_lat);
    let thr_max = nice_ceiling(max_thr);
    let thr_top = top + lat_h + gap;
    let h = thr_top + thr_h + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="run-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="latency and throughput over simulated time">"#
    );
    for b in bands {
        let (x0, x1) = (x(b.start), x(b.end));
        let _ = write!(
            s,
            r#"<rect class="band fault-{}" x="{}" y="{top}" width="{}" height="{}"><title>{} ({} to {} ms): {}</title></rect>"#,
            esc(&b.fault),
            num(x0),
            num((x1 - x0).max(1.0)),
            num(thr_top + thr_h - top),
            esc(&b.fault),
            num(b.start),
            num(b.end),
            esc(&b.touched)
        );
    }
    // Axes and horizontal grid lines.
    for (y0, height, max, unit) in [
        (top, lat_h, lat_max, "ms"),
        (thr_top, thr_h, thr_max, "ops"),
    ] {
        let step = nice_step(max, 4);
        let mut v = 0.0;
        while v <= max + 1e-9 {
            let y = y0 + height - v / max.max(1e-9) * height;
            let _ = write!(
                s,
                r#"<line class="grid" x1="{left}" x2="{}" y1="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="end">{} {unit}</text>"#,
                num(w - right),
                num(y),
                num(y),
                num(left - 4.0),
                num(y + 3.0),
                num(v)
            );
            v += step;
        }
    }
    let (mut p50, mut pmax) = (String::new(), String::new());
    for b in &stats.buckets {
        let cx = x(b.start + stats.bucket_ms / 2.0);
        if b.completed > 0 {
            let y = |v: f64| top + lat_h - v / lat_max.max(1e-9) * lat_h;
            let _ = write!(p50, "{},{} ", num(cx), num(y(b.p50)));
            let _ = write!(pmax, "{},{} ", num(cx), num(y(b.max)));
        }
        let bh = b.completed as f64 / thr_max.max(1e-9) * thr_h;
        let _ = write!(
            s,
            r#"<rect class="thr" x="{}" y="{}" width="{}" height="{}"/>"#,
            num(x(b.start)),
            num(thr_top + thr_h - bh),
            num((plot_w / stats.buckets.len().max(1) as f64 - 1.0).max(0.5)),
            num(bh)
        );
    }
    let _ = write!(
        s,
        r#"<polyline class="lat-max" points="{}"/><polyline class="lat-p50" points="{}"/>"#,
        pmax.trim_end(),
        p50.trim_end()
    );
    let step = nice_step(span, 6);
    let mut t = (t0 / step).ceil() * step;
    while t <= t1 + 1e-9 {
        let _ = write!(
            s,
            r#"<text class="tick" x="{}" y="{}" text-anchor="middle">{} ms</text>"#,
            num(x(t)),
            num(h - 8.0),
            num(t)
        );
        t += step;
    }
    let _ = write!(
        s,
        r#"<text class="legend" x="{left}" y="{}">latency: <tspan class="lat-max">max</tspan> and <tspan class="lat-p50">median</tspan> per {} ms</text><text class="legend" x="{left}" y="{}">ops completed per {} ms</text></svg>"#,
        num(top + 10.0),
        num(stats.bucket_ms),
        num(thr_top + 10.0),
        num(stats.bucket_ms)
    );
    s
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v` (1 for 0).
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v - 1e-12 {
            return m * p;
        }
    }
    10.0 * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentiles_by_kind() {
        let h = History::from_json_str(
            r#"{"format": "quorumlab-history/1", "ops": [
              {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1,
               "invoke": 0, "complete": 10000000, "outcome": "ok"},
              {"id": 2, "client": 1, "kind": "get", "key": "x",
               "invoke": 0, "complete": 2000000, "outcome": "ok", "read": 1},
              {"id": 3, "client": 2, "kind": "put", "key": "x", "value": 2,
               "invoke": 5000000, "complete": null, "outcome": "info"}]}"#,
        )
        .unwrap();
        let s = run_stats(&h, 0.0, 10.0, 2);
        let names: Vec<_> = s.kinds.iter().map(|k| k.kind.as_str()).collect();
        assert_eq!(names, ["get", "put", "all"]);
        let put = &s.kinds[1];
        assert_eq!((put.total, put.ok, put.info), (2, 1, 1));
        assert_eq!(put.latency[3], 10.0);
        assert_eq!(s.buckets.len(), 2);
        assert_eq!((s.buckets[0].completed, s.buckets[1].completed), (1, 1));
        let svg = chart(&s, &[], 0.0, 10.0);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="thr""#).count(), 2);
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(10.0), 10.0);
    }
}
