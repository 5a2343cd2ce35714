//! Large reports: every op of 10,000 drawn, 100,000 drawn as density, and how long each takes
//! to open, redraw and pan, measured in the page (printed, never asserted: see BENCHMARKS.md).
use serde_json::Value;

use crate::chromium::{chromium, Chromium};
use crate::{report, scratch};

/// A history of `n` ops over 4 keys and 16 clients, every op 3 ms long, with two fault
/// windows; its verdict is given, so the report does not judge it.
pub fn synthetic(n: usize) -> String {
    let mut s = String::from(
        r#"{"format": "quorumlab-history/1", "verdict": {"linearizable": true}, "witnesses": {}, "nemesis": [
{"time": 100000000, "action": "start", "index": 0, "fault": "crash", "detail": {"nodes": [1], "down_ms": 50}},
{"time": 150000000, "action": "end", "index": 0, "fault": "crash", "detail": {"nodes": [1], "down_ms": 50}},
{"time": 900000000, "action": "start", "index": 1, "fault": "partition", "detail": {"sides": [[0, 2], [1, 3, 4]], "bridge": null, "duration_ms": 100}},
{"time": 1000000000, "action": "end", "index": 1, "fault": "partition", "detail": {"sides": [[0, 2], [1, 3, 4]], "bridge": null, "duration_ms": 100}}], "ops": ["#,
    );
    for i in 0..n {
        let client = i % 16;
        let invoke = (i / 16) as u64 * 4_000_000 + client as u64 * 100;
        let key = format!("k{}", i % 4);
        let op = if i % 3 == 0 {
            format!(
                r#"{{"id": {i}, "client": {client}, "kind": "put", "key": "{key}", "value": {i}, "invoke": {invoke}, "complete": {}, "outcome": "ok", "coordinator": {}}}"#,
                invoke + 3_000_000,
                i % 5
            )
        } else {
            format!(
                r#"{{"id": {i}, "client": {client}, "kind": "get", "key": "{key}", "invoke": {invoke}, "complete": {}, "outcome": "ok", "read": null}}"#,
                invoke + 3_000_000
            )
        };
        s.push_str(if i == 0 { "\n" } else { ",\n" });
        s.push_str(&op);
    }
    s.push_str("\n]}\n");
    s
}

/// Drags the timeline left by 3 px a frame for `frames` animation frames, lets go, and waits
/// a second: the gaps between frames while dragging, and after letting go (where the redraw
/// at rest falls), in ms, from requestAnimationFrame's timestamps.
const PAN: &str = "function (frames) { return new Promise(function (done) {
  const root = document.getElementById('timeline'), b = root.getBoundingClientRect();
  let x = b.left + b.width * 0.8;
  const at = function () { return { clientX: x, clientY: b.top + 40, bubbles: true, pointerId: 1, isPrimary: true }; };
  const gaps = function (ts) { const d = []; for (let i = 1; i < ts.length; i++) d.push(ts[i] - ts[i - 1]); return d; };
  const dragging = [], after = [];
  root.dispatchEvent(new PointerEvent('pointerdown', at()));
  requestAnimationFrame(function drag(t) {
    dragging.push(t);
    if (dragging.length <= frames) {
      x -= 3;
      window.dispatchEvent(new PointerEvent('pointermove', at()));
      requestAnimationFrame(drag);
      return;
    }
    window.dispatchEvent(new PointerEvent('pointerup', at()));
    (function settle(t2) {
      after.push(t2);
      if (t2 - t < 1000) requestAnimationFrame(settle);
      else done({ dragging: gaps(dragging), after: gaps(after), range: document.getElementById('view-range').textContent });
    })(t);
  });
}); }";

/// What a large page measured of itself and of a drag.
struct Timings {
    first_draw: f64,
    loaded: f64,
    redraw: f64,
    frames: Vec<f64>,
    settle: f64,
}

impl std::fmt::Display for Timings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = self.frames.clone();
        d.sort_by(f64::total_cmp);
        let pick = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let late = d.iter().filter(|&&g| g > 20.0).count();
        write!(
            f,
            "first draw {:.0} ms, page loaded {:.0} ms, redraw at rest {:.0} ms; \
             dragging {} frames: mean {mean:.1} ms ({:.0} fps), median {:.1}, p95 {:.1}, \
             max {:.1}, {late} over 20 ms; longest frame after letting go {:.0} ms",
            self.first_draw,
            self.loaded,
            self.redraw,
            d.len(),
            1000.0 / mean,
            pick(0.5),
            pick(0.95),
            pick(1.0),
            self.settle
        )
    }
}

/// Writes a synthetic history of `n` ops and its report, opens it (running the page's own
/// redraw benchmark, `#bench`), checks it with `check`, then drags it.
fn measure(browser: &Chromium, n: usize, check: impl FnOnce(&mut crate::chromium::Page)) {
    let dir = scratch(&format!("ops-{n}"));
    let file = dir.join(format!("ops-{n}.json"));
    std::fs::write(&file, synthetic(n)).unwrap();
    report(&[&file], &dir);
    let page = dir.join(format!("ops-{n}.html"));
    let mut p = browser.open(&page, "#bench", 1280, 900);
    check(&mut p);
    let body = p.eval("Object.assign({}, document.body.dataset)");
    let num = |k: &str| {
        body[k]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("the page measured {k}: {body}"))
    };
    let pan = p.eval(&format!("({PAN})(120)"));
    let gaps = |k: &str| -> Vec<f64> { serde_json::from_value(pan[k].clone()).unwrap() };
    let t = Timings {
        first_draw: num("renderMs"),
        loaded: num("loadMs"),
        redraw: num("panDrawMs"),
        frames: gaps("dragging"),
        settle: gaps("after").into_iter().fold(0.0, f64::max),
    };
    assert_eq!(t.frames.len(), 120, "every frame of the drag was seen");
    eprintln!(
        "{n} ops ({} KB): {t}",
        std::fs::metadata(&page).unwrap().len() / 1024
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

fn count(p: &mut crate::chromium::Page, selector: &str) -> u64 {
    p.eval(&format!("document.querySelectorAll({selector:?}).length"))
        .as_u64()
        .unwrap()
}

#[test]
fn ten_thousand_ops_are_each_drawn_and_pan() {
    let Some(browser) = chromium() else { return };
    measure(&browser, 10_000, |p| {
        assert_eq!(count(p, "#timeline rect.op"), 10_000, "one bar per op");
        assert_eq!(
            count(p, "#timeline rect.band.fault-partition"),
            4,
            "a band per key"
        );
    });
}

#[test]
fn a_hundred_thousand_ops_render_as_density_and_pan() {
    let Some(browser) = chromium() else { return };
    measure(&browser, 100_000, |p| {
        let note: Value = p.eval("document.querySelector('#timeline .note').textContent");
        assert!(
            note.as_str().unwrap().contains("drawn as density per lane"),
            "aggregated: {note}"
        );
        assert!(count(p, "#timeline path.agg") > 0);
    });
}
