//! A page speaks the history's unit of time: positions for a Jepsen EDN history without `:time`
//! (its times are the elements' positions in the file, which measure nothing), milliseconds
//! for a history in nanoseconds, as its pages always have.
use serde_json::Value;

use crate::chromium::{chromium, Page};
use crate::{case_with_prefix_witness_and_crash, fresh_report, report, report_name, scratch};

/// Every label of the page that carries a time, and the page's visible text.
const LABELS: &str = "(function () { \
    const all = function (q) { return Array.from(document.querySelectorAll(q)).map(function (e) { return e.textContent; }); }; \
    return { summary: document.querySelector('.summary').textContent, \
      ticks: all('#timeline .axis text'), \
      range: document.getElementById('view-range').textContent, \
      bands: all('#timeline rect.band title'), \
      faults: all('#faults th, #faults td'), \
      stats: all('#stats th'), \
      text: document.body.innerText }; })()";

/// The labels once `action` (script) has made the timeline redraw.
fn labels_after(p: &mut Page, action: &str) -> Value {
    p.eval(&format!(
        "new Promise(function (done) {{ \
           const label = document.getElementById('view-range'), before = label.textContent; \
           {action}; \
           const t0 = performance.now(); \
           (function wait() {{ \
             if (label.textContent !== before || performance.now() - t0 > 3000) done({LABELS}); \
             else setTimeout(wait, 10); }})(); }})"
    ))
}

/// Whether `text` has `word` as a word of its own.
fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| w == word)
}

/// The axis ticks' positions; each tick must read `position N`.
fn tick_positions(labels: &Value) -> Vec<u64> {
    let ticks: Vec<u64> = labels["ticks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let t = t.as_str().unwrap();
            t.strip_prefix("position ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a tick like `position 4`: {t:?}"))
        })
        .collect();
    assert!(!ticks.is_empty(), "the axis has ticks");
    ticks
}

#[test]
fn a_history_in_positions_labels_its_times_as_positions() {
    let Some(browser) = chromium() else { return };
    let dir = scratch("positions");
    let file = dir.join("positions.edn");
    // No :time: the times are the elements' positions, 1 to 9. The nemesis cuts the network
    // from position 3 to 7.
    std::fs::write(
        &file,
        "[{:process 0 :type :invoke :f :write :value 1}
          {:process 0 :type :ok :f :write :value 1}
          {:process :nemesis :type :info :f :start :value nil}
          {:process 1 :type :invoke :f :read :value nil}
          {:process :nemesis :type :info :f :start :value \"Cut off {:n1 #{:n2}}\"}
          {:process 1 :type :ok :f :read :value 2}
          {:process :nemesis :type :info :f :stop :value nil}
          {:process 0 :type :invoke :f :write :value 2}
          {:process 0 :type :ok :f :write :value 2}]\n",
    )
    .unwrap();
    report(&[&file], &dir);
    let page = dir.join("positions.html");
    let mut p = browser.open(&page, "", 1280, 900);
    let labels = p.eval(LABELS);
    assert_eq!(
        labels["summary"],
        "3 ops · 1 key · 2 clients · positions 1 to 9 · 1 fault window"
    );
    let ticks = tick_positions(&labels);
    assert!(
        ticks.first() >= Some(&1) && ticks.last() <= Some(&9),
        "{ticks:?}"
    );
    assert_eq!(labels["range"], "positions 1 to 9");
    assert_eq!(
        labels["bands"],
        serde_json::json!(["nemesis positions 3 to 7: Cut off {:n1 #{:n2}}"])
    );
    assert_eq!(
        labels["faults"],
        serde_json::json!([
            "fault",
            "from position",
            "to position",
            "touched",
            "nemesis",
            "3",
            "7",
            "Cut off {:n1 #{:n2}}"
        ])
    );
    assert_eq!(
        labels["stats"],
        serde_json::json!(["kind", "ops", "ok", "fail", "info"]),
        "no latency in positions"
    );
    let text = labels["text"].as_str().unwrap();
    assert!(
        !has_word(text, "ms") && !has_word(text, "simulated"),
        "nothing on the page reads as time: {text}"
    );

    // Zoomed in past one tick per position, the ticks stay whole positions, one each.
    let mut zoomed = labels;
    for _ in 0..3 {
        zoomed = labels_after(&mut p, "document.getElementById('zoom-in').click()");
    }
    let ticks = tick_positions(&zoomed);
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "one tick per position: {ticks:?}"
    );
    let range = zoomed["range"].as_str().unwrap();
    assert!(
        range.starts_with("positions ") && !has_word(range, "ms"),
        "{range}"
    );

    // Hovering the read shows its record: its positions, as the history has them.
    let tip = p.eval(
        "(function () { \
           document.querySelector('#timeline rect.op[data-i=\"1\"]') \
             .dispatchEvent(new MouseEvent('mouseover', { bubbles: true })); \
           return document.getElementById('tip').textContent; })()",
    );
    let record: Value = serde_json::from_str(tip.as_str().unwrap()).unwrap();
    assert_eq!(
        (&record["kind"], &record["invoke"], &record["complete"]),
        (&"get".into(), &4.into(), &6.into()),
        "{record}"
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_history_in_nanoseconds_keeps_its_labels_in_ms() {
    let Some(browser) = chromium() else { return };
    let case = case_with_prefix_witness_and_crash();
    let dir = scratch("nanoseconds");
    let fresh = fresh_report(&case, &dir);
    let labels = browser.open(&fresh, "", 1280, 900).eval(LABELS);
    let summary = labels["summary"].as_str().unwrap();
    assert!(
        summary.contains(" · simulated time ") && summary.contains(" ms"),
        "{summary}"
    );
    let (ticks, bands) = (labels["ticks"].as_array(), labels["bands"].as_array());
    assert!(ticks.is_some_and(|t| !t.is_empty()) && bands.is_some_and(|b| !b.is_empty()));
    for tick in labels["ticks"].as_array().unwrap() {
        assert!(tick.as_str().unwrap().ends_with(" ms"), "{tick}");
    }
    assert!(labels["range"].as_str().unwrap().ends_with(" ms"));
    for band in labels["bands"].as_array().unwrap() {
        assert!(band.as_str().unwrap().contains(" ms: "), "{band}");
    }
    assert!(labels["stats"]
        .as_array()
        .unwrap()
        .contains(&"p50 ms".into()));
    // Word for word what the committed report, drawn by the script it was rendered with, says.
    let committed = case.with_file_name(report_name(&case));
    let before = browser.open(&committed, "", 1280, 900).eval(LABELS);
    assert_eq!(labels, before, "the labels of {}", committed.display());
    let _ = std::fs::remove_dir_all(&dir);
}
