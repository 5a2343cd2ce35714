//! The HTML reports as a person sees them: Debian's chromium, headless, loads a page; the tests
//! read the DOM its script built, click and drag in it, and count the colours of a screenshot.
//!
//! The browser is the one ci/setup-browser finds (ci/test passes it as QUORUMLAB_CHROMIUM, and
//! then a browser that cannot run fails the test); where there is none and none was asked for,
//! each test prints SKIPPED and returns. Render times are printed (run with `--no-capture` to
//! see them), never asserted.
use std::path::{Path, PathBuf};
use std::process::Command;

mod chromium;
mod matrix;
mod screenshots;
mod timings;
mod units;

use chromium::{chromium, repo, Chromium};

/// The committed matrix cases, in name order.
fn committed_cases() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("histories/matrix"))
        .expect("histories/matrix")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The first committed matrix case whose text has all of `needles` (the matrix renames its
/// cases whenever it is regenerated, so the tests find one rather than naming it).
fn committed_case_with(needles: &[&str], what: &str) -> PathBuf {
    committed_cases()
        .into_iter()
        .find(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            needles.iter().all(|n| text.contains(n))
        })
        .unwrap_or_else(|| panic!("a committed matrix case {what}"))
}

/// A case that breaks linearizability with the explanation by the longest linearizable
/// prefix and has a crash to draw.
fn case_with_prefix_witness_and_crash() -> PathBuf {
    committed_case_with(
        &[
            "\"linearizable\":false",
            "\"fault\":\"crash\"",
            "longest linearizable prefix",
        ],
        "with a prefix witness and a crash",
    )
}

fn quorumlab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_quorumlab"))
}

/// Text of an element as the DOM dump escapes it.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Distinct colours in a screenshot of the page.
fn screenshot_colours(browser: &Chromium, page: &Path, png: &Path) -> usize {
    browser.screenshot(page, png);
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let px = info.color_type.samples();
    let colours: std::collections::BTreeSet<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    colours.len()
}

/// Writes the reports of `files` into `out`.
fn report(files: &[&Path], out: &Path) {
    let st = quorumlab()
        .arg("report")
        .arg("--out")
        .arg(out)
        .args(files)
        .output()
        .expect("quorumlab runs");
    assert!(
        st.status.success(),
        "quorumlab report failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quorumlab-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The report of a committed case, written into a scratch directory: its path.
fn fresh_report(case: &Path, dir: &Path) -> PathBuf {
    report(&[case], dir);
    dir.join(report_name(case))
}

fn report_name(case: &Path) -> String {
    case.file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".json", ".html")
}

#[test]
fn a_saved_case_shows_every_op_its_witness_and_its_faults() {
    let Some(browser) = chromium() else { return };
    let case = case_with_prefix_witness_and_crash();
    let history = quorumlab::history::History::from_path(&case).unwrap();
    let dir = scratch("case");
    let page = fresh_report(&case, &dir);
    let dom = browser.dom(&page, "");
    let bars = dom.matches("<rect class=\"op ").count();
    assert_eq!(bars, history.ops.len(), "one bar per op");
    assert!(
        dom.contains(r#"<div id="witness" class="highlighted" data-g="linearizable">"#),
        "the linearizability witness is shown, highlighted"
    );
    assert_eq!(
        dom.matches(" witness culprit\"").count(),
        1,
        "one op cannot be placed"
    );
    assert!(
        dom.matches(" witness prefix\"").count() >= 1,
        "the prefix is marked"
    );
    assert!(dom.contains("cannot be placed after the longest linearizable prefix"));
    assert!(
        dom.contains("<rect class=\"band fault-crash\""),
        "the crash is drawn as a band"
    );
    // The hover box rebuilds each record from the page's op table exactly as the file has it.
    let text = std::fs::read_to_string(&case).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.trim().starts_with('{')).collect();
    for i in [0, history.ops.len() / 2, history.ops.len() - 1] {
        let d = browser.dom(&page, &format!("#record={i}"));
        let shown = d
            .split("<pre id=\"tip\">")
            .nth(1)
            .and_then(|s| s.split("</pre>").next())
            .expect("the hover box is shown");
        let shown: serde_json::Value = serde_json::from_str(&unescape(shown)).unwrap();
        let want: serde_json::Value =
            serde_json::from_str(lines[i + 1].trim().trim_end_matches(',')).unwrap();
        assert_eq!(shown, want, "op {i}");
    }
    let colours = screenshot_colours(&browser, &page, &dir.join("case.png"));
    assert!(
        colours > 50,
        "the screenshot is not blank: {colours} colours"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shrunk_case_draws_its_messages_and_says_what_the_store_did() {
    let Some(browser) = chromium() else { return };
    // A shrunk case of this build, so the diagram is drawn from what this store records.
    let dir = scratch("events");
    let st = quorumlab()
        .args([
            "explore",
            "--read",
            "one",
            "--write",
            "one",
            "--faults",
            "partition",
        ])
        .args(["--cases", "50", "--seed", "1", "--dir"])
        .arg(&dir)
        .output()
        .expect("quorumlab runs");
    assert_eq!(
        st.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let case = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("the saved case");
    let history = quorumlab::history::History::from_path(&case).unwrap();
    let events = history.extra["events"]["list"].as_array().unwrap();
    let arrows = events
        .iter()
        .filter(|e| e["event"] == "sent" || e["event"] == "request")
        .count();
    let dropped = events
        .iter()
        .filter(|e| e["event"] == "sent" && e["fate"] != "delivered" && e["fate"] != "held")
        .count();
    let dom = browser.dom(&case.with_extension("html"), "");
    // The drawn diagram only (the page's script holds the same markup as strings).
    let drawn = dom
        .split("<div id=\"diagram\">")
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .expect("the diagram is drawn");
    assert_eq!(
        drawn.matches("<g class=\"msg ").count(),
        arrows,
        "one arrow per message and request"
    );
    assert!(dropped > 0, "the partition dropped messages");
    assert_eq!(drawn.matches("<path class=\"cross\"").count(), dropped);
    let columns = drawn.matches("<text class=\"col-name\"").count();
    assert_eq!(columns, 6, "the clients and five nodes");
    let why = dom
        .split("<p id=\"witness-why\">")
        .nth(1)
        .and_then(|s| s.split("</p>").next())
        .expect("the store's sentence is shown");
    assert!(why.starts_with("In the store: "), "{why}");
    assert!(why.contains("during partition"), "{why}");
    assert!(why.contains(" asked only n"), "{why}");
    assert!(dom.contains("<section id=\"messages\">"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The ids of the bars drawn as part of the witness, sorted.
const MARKED: &str = "Array.from(document.querySelectorAll('#timeline rect.op.witness'))\
    .map(function (r) { return +r.dataset.id; }).sort(function (a, b) { return a - b; })";

#[test]
fn the_guarantee_switch_shows_each_guarantees_own_witness() {
    let Some(browser) = chromium() else { return };
    // A case where linearizability and two weaker guarantees broke, each with its witness.
    let case = committed_cases()
        .into_iter()
        .find(|p| {
            let h = quorumlab::history::History::from_path(p).unwrap();
            h.extra["witnesses"]
                .as_object()
                .is_some_and(|w| w.len() >= 3)
                && h.extra["witnesses"]["linearizable"].is_object()
        })
        .expect("a committed case with three witnesses");
    let history = quorumlab::history::History::from_path(&case).unwrap();
    let witnesses = history.extra["witnesses"].as_object().unwrap().clone();
    let dir = scratch("switch");
    let page = fresh_report(&case, &dir);
    let mut p = browser.open(&page, "", 1280, 900);
    let mut seen = Vec::new();
    // The page opens on linearizability; click through the others and back.
    let mut order: Vec<&String> = witnesses.keys().filter(|g| *g != "linearizable").collect();
    order.push(witnesses.keys().find(|g| *g == "linearizable").unwrap());
    for g in order {
        let shown = p.eval(&format!(
            "(function () {{ \
               document.querySelector('#guarantees .guarantee[data-g=\"{g}\"]').click(); \
               return {{ g: document.getElementById('witness').dataset.g, \
                 sentence: document.getElementById('witness-sentence').textContent, \
                 chosen: Array.from(document.querySelectorAll('#guarantees .guarantee.chosen')) \
                   .map(function (b) {{ return b.dataset.g; }}), \
                 marked: {MARKED} }}; }})()"
        ));
        let w = &witnesses[g.as_str()];
        assert_eq!(shown["g"], g.as_str(), "the witness box shows {g}");
        assert_eq!(
            shown["chosen"],
            serde_json::json!([g]),
            "only {g} is chosen"
        );
        assert_eq!(shown["sentence"], w["sentence"], "{g}'s own sentence");
        let mut want: Vec<u64> = match w["ops"].as_array() {
            Some(ops) => ops.iter().map(|o| o.as_u64().unwrap()).collect(),
            None => w["prefix"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["op"].as_u64().unwrap())
                .chain([w["op"].as_u64().unwrap()])
                .collect(),
        };
        want.sort();
        want.dedup();
        assert_eq!(shown["marked"], serde_json::json!(want), "{g}'s ops marked");
        seen.push(shown["sentence"].clone());
    }
    seen.sort_by_key(|s| s.to_string());
    seen.dedup();
    assert_eq!(
        seen.len(),
        witnesses.len(),
        "each guarantee has its own sentence"
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Does `action` (script) in the page and returns the visible time range once the timeline
/// has been redrawn for it (the range label changes with the redraw after a gesture rests).
fn range_after(p: &mut chromium::Page, action: &str) -> (f64, f64) {
    let text = p.eval(&format!(
        "new Promise(function (done) {{ \
           const label = document.getElementById('view-range'), before = label.textContent; \
           {action}; \
           const t0 = performance.now(); \
           (function wait() {{ \
             if (label.textContent !== before || performance.now() - t0 > 3000) done(label.textContent); \
             else setTimeout(wait, 10); }})(); }})"
    ));
    parse_range(text.as_str().expect("the range label"))
}

fn parse_range(text: &str) -> (f64, f64) {
    let (a, b) = text
        .strip_suffix(" ms")
        .and_then(|t| t.split_once(" to "))
        .unwrap_or_else(|| panic!("a range like `1 to 2 ms`: {text:?}"));
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn zooming_and_panning_change_the_visible_time_range() {
    let Some(browser) = chromium() else { return };
    let case = case_with_prefix_witness_and_crash();
    let dir = scratch("zoom");
    let page = fresh_report(&case, &dir);
    let mut p = browser.open(&page, "", 1280, 900);
    let start = parse_range(
        p.eval("document.getElementById('view-range').textContent")
            .as_str()
            .unwrap(),
    );
    let span = |r: (f64, f64)| r.1 - r.0;
    let close = |a: f64, b: f64| (a - b).abs() <= 0.002 + 1e-6 * b.abs();
    let first_tick = "document.querySelector('#timeline .axis text').textContent";
    let tick_before = p.eval(first_tick);

    let zoomed = range_after(&mut p, "document.getElementById('zoom-in').click()");
    assert!(
        close(span(zoomed), span(start) / 2.0),
        "zoom in halves the span: {start:?} -> {zoomed:?}"
    );
    assert!(
        close(zoomed.0 + zoomed.1, start.0 + start.1),
        "around the middle: {start:?} -> {zoomed:?}"
    );
    assert_ne!(p.eval(first_tick), tick_before, "the axis is redrawn");

    // Drag 200 pixels to the left: later times come into view, the span stays.
    let (dragged, px_ms) = {
        let r = range_after(
            &mut p,
            "const root = document.getElementById('timeline'), b = root.getBoundingClientRect(); \
             const at = function (x) { return { clientX: x, clientY: b.top + 40, bubbles: true, pointerId: 1, isPrimary: true }; }; \
             root.dispatchEvent(new PointerEvent('pointerdown', at(b.left + 700))); \
             window.dispatchEvent(new PointerEvent('pointermove', at(b.left + 600))); \
             window.dispatchEvent(new PointerEvent('pointermove', at(b.left + 500))); \
             window.dispatchEvent(new PointerEvent('pointerup', at(b.left + 500)))",
        );
        let plot_px = p
            .eval("document.getElementById('timeline').clientWidth - 96")
            .as_f64()
            .unwrap();
        (r, span(zoomed) / plot_px)
    };
    assert!(
        close(span(dragged), span(zoomed)),
        "{zoomed:?} -> {dragged:?}"
    );
    assert!(
        (dragged.0 - zoomed.0 - 200.0 * px_ms).abs() <= 0.002 + 0.01 * 200.0 * px_ms,
        "the view moved by 200 px of time: {zoomed:?} -> {dragged:?}"
    );

    // The wheel zooms around the pointer: the time under it stays where it was.
    let wheeled = range_after(
        &mut p,
        "const root = document.getElementById('timeline'), b = root.getBoundingClientRect(); \
         root.dispatchEvent(new WheelEvent('wheel', { deltaY: -200, clientX: b.left + 96 + (b.width - 96) / 2, clientY: b.top + 40, bubbles: true, cancelable: true }))",
    );
    assert!(
        close(span(wheeled), span(dragged) * (-0.4f64).exp()),
        "the wheel zooms in: {dragged:?} -> {wheeled:?}"
    );
    assert!(
        close(wheeled.0 + wheeled.1, dragged.0 + dragged.1),
        "around the pointer: {dragged:?} -> {wheeled:?}"
    );
    let fit = range_after(&mut p, "document.getElementById('zoom-fit').click()");
    assert_eq!(fit, start, "fit shows the whole run again");
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_fault_table_lists_the_nodes_each_fault_touched() {
    let Some(browser) = chromium() else { return };
    let dir = scratch("faults");
    let file = dir.join("faults.json");
    std::fs::write(
        &file,
        r#"{"format": "quorumlab-history/1", "verdict": {"linearizable": true}, "witnesses": {}, "nemesis": [
{"time": 1000000, "action": "start", "index": 0, "fault": "crash", "detail": {"nodes": [1, 3], "down_ms": 4}},
{"time": 5000000, "action": "end", "index": 0, "fault": "crash", "detail": {"nodes": [1, 3], "down_ms": 4}},
{"time": 6000000, "action": "start", "index": 1, "fault": "partition", "detail": {"sides": [[0, 2], [1, 3, 4]], "bridge": null, "duration_ms": 3}},
{"time": 9000000, "action": "end", "index": 1, "fault": "partition", "detail": {"sides": [[0, 2], [1, 3, 4]], "bridge": null, "duration_ms": 3}},
{"time": 10000000, "action": "start", "index": 2, "fault": "bridge", "detail": {"sides": [[0, 1], [3, 4]], "bridge": 2, "duration_ms": 2}},
{"time": 12000000, "action": "end", "index": 2, "fault": "bridge", "detail": {"sides": [[0, 1], [3, 4]], "bridge": 2, "duration_ms": 2}},
{"time": 13000000, "action": "start", "index": 3, "fault": "pause", "detail": {"node": 4, "duration_ms": 1}}], "ops": [
{"id": 0, "client": 0, "kind": "put", "key": "k", "value": 1, "invoke": 0, "complete": 2000000, "outcome": "ok"},
{"id": 1, "client": 1, "kind": "get", "key": "k", "invoke": 3000000, "complete": 15000000, "outcome": "ok", "read": 1}
]}
"#,
    )
    .unwrap();
    report(&[&file], &dir);
    let dom = browser.dom(&dir.join("faults.html"), "");
    let table = dom
        .split("<section id=\"faults\">")
        .nth(1)
        .and_then(|s| s.split("</table>").next())
        .expect("the fault table");
    let rows: Vec<Vec<String>> = table
        .split("<tr class=\"fault-row\">")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|c| {
                    // The first cell holds a swatch before the name.
                    let c = c.split("</td>").next().unwrap();
                    unescape(c.rsplit("</span>").next().unwrap())
                })
                .collect()
        })
        .collect();
    let want = [
        ["crash", "1", "5", "n1, n3"],
        ["partition", "6", "9", "{0,2}|{1,3,4}"],
        ["bridge", "10", "12", "{0,1}|{3,4} bridged by n2"],
        // No end recorded: the window runs to the end of the timeline.
        ["pause", "13", "15", "n4"],
    ];
    assert_eq!(rows, want.map(|r| r.map(String::from)).to_vec());
    // And each window is a band over the lanes, titled with its times and what it touched.
    for [fault, from, to, touched] in want {
        assert!(
            dom.contains(&format!("<rect class=\"band fault-{fault}\"")),
            "{fault} is drawn"
        );
        let title = format!("<title>{fault} {from} to {to} ms: {touched}</title>");
        assert!(dom.contains(&title), "{title}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
