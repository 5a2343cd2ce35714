//! The HTML reports as a person sees them: Debian's chromium, headless, loads a page, and the
//! tests read the DOM its script built and count the colours of a screenshot.
//!
//! The browser is the one ci/setup-browser finds (ci/test passes it as QUORUMLAB_CHROMIUM, and
//! then a browser that cannot run fails the test); where there is none and none was asked for,
//! each test prints SKIPPED and returns. Render times are printed (run with `--no-capture` to
//! see them), never asserted.
use std::path::{Path, PathBuf};
use std::process::Command;

mod chromium;

use chromium::{chromium, repo, Chromium};

/// The first committed matrix case that breaks linearizability with the explanation by the
/// longest linearizable prefix and has a crash to draw (the matrix renames its cases whenever
/// it is regenerated, so the test finds one rather than naming it).
fn case_with_prefix_witness_and_crash() -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("histories/matrix"))
        .expect("histories/matrix")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .find(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            text.contains("\"linearizable\":false")
                && text.contains("\"fault\":\"crash\"")
                && text.contains("longest linearizable prefix")
        })
        .expect("a committed matrix case with a prefix witness and a crash")
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

/// A number in an attribute of the body, e.g. `data-render-ms="12.5"`.
fn body_number(dom: &str, attr: &str) -> Option<f64> {
    let at = dom.find(&format!("{attr}=\""))? + attr.len() + 2;
    dom[at..].split('"').next()?.parse().ok()
}

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

#[test]
fn a_saved_case_shows_every_op_its_witness_and_its_faults() {
    let Some(browser) = chromium() else { return };
    let case = case_with_prefix_witness_and_crash();
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let history = quorumlab::history::History::from_path(&case).unwrap();
    let dir = scratch("case");
    report(&[&case], &dir);
    let page = dir.join(name.replace(".json", ".html"));
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
    eprintln!(
        "case report: {} ops drawn in {:?} ms, {colours} colours",
        bars,
        body_number(&dom, "data-render-ms")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_shrunk_case_draws_its_messages_and_says_what_the_store_did() {
    let Some(browser) = chromium() else { return };
    // A shrunk case of this build, with the store's events (committed cases may predate them).
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

/// A history of `n` ops over 4 keys and 16 clients, every op 3 ms long, with two crash
/// windows; its verdict is given, so the report does not judge it.
fn synthetic(n: usize) -> String {
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

/// Writes a synthetic history of `n` ops and its report; returns the report's DOM after the
/// page's own benchmark (`#bench`) ran.
fn large(browser: &Chromium, n: usize) -> String {
    let dir = scratch(&format!("ops-{n}"));
    let file = dir.join(format!("ops-{n}.json"));
    std::fs::write(&file, synthetic(n)).unwrap();
    report(&[&file], &dir);
    let d = browser.dom(&dir.join(format!("ops-{n}.html")), "#bench");
    eprintln!(
        "{n} ops: first draw {:?} ms (page loaded at {:?} ms), redraw at a pan position {:?} ms",
        body_number(&d, "data-render-ms"),
        body_number(&d, "data-load-ms"),
        body_number(&d, "data-pan-draw-ms"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    d
}

#[test]
fn ten_thousand_ops_are_each_drawn() {
    let Some(browser) = chromium() else { return };
    let d = large(&browser, 10_000);
    assert_eq!(d.matches("<rect class=\"op ").count(), 10_000);
    assert!(d.contains("<rect class=\"band fault-partition\""));
}

#[test]
fn a_hundred_thousand_ops_render_as_density() {
    let Some(browser) = chromium() else { return };
    let d = large(&browser, 100_000);
    assert!(d.contains("drawn as density per lane"), "aggregated");
    assert!(d.contains("<rect class=\"agg"));
    assert!(
        body_number(&d, "data-render-ms").is_some(),
        "the script finished"
    );
}

#[test]
fn the_matrix_page_links_every_break_to_an_existing_report() {
    let Some(browser) = chromium() else { return };
    // The committed matrix and cases, laid out as in the repository: docs/ beside histories/.
    let dir = scratch("matrix");
    let docs = dir.join("docs");
    let st = quorumlab()
        .arg("report")
        .arg("--matrix")
        .arg(repo().join("docs/consistency-matrix.json"))
        .arg("--out")
        .arg(&docs)
        .output()
        .expect("quorumlab runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let cases: Vec<PathBuf> = std::fs::read_dir(repo().join("histories/matrix"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    let refs: Vec<&Path> = cases.iter().map(PathBuf::as_path).collect();
    report(&refs, &dir.join("histories/matrix"));
    let page = docs.join("consistency-matrix.html");
    let dom = browser.dom(&page, "");
    let links: Vec<&str> = dom
        .split("<a class=\"case\" href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(
        links.len() > 100,
        "the breaks link their cases: {}",
        links.len()
    );
    for l in &links {
        let file = l.split('#').next().unwrap_or(l);
        assert!(
            docs.join(file).is_file(),
            "{l} does not resolve to a report"
        );
    }
    assert!(dom.contains("td class=\"cell breaks"));
    assert!(dom.contains("td class=\"cell holds"));
    assert!(dom.contains("id=\"pbs-plot\"") && dom.contains("id=\"stale-plot\""));
    // The second system's cells sit in their own table, under their own headings.
    assert!(
        dom.contains("<h2>Leader-follower</h2>"),
        "the leader-follower group"
    );
    assert!(dom.contains("<th>replication</th><th>reads</th><th>fencing</th>"));
    let colours = screenshot_colours(&browser, &page, &dir.join("matrix.png"));
    assert!(
        colours > 50,
        "the screenshot is not blank: {colours} colours"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_matrix_page_plots_t_visibility_for_the_probe_cells() {
    let Some(browser) = chromium() else { return };
    // The committed matrix with t-visibility bins given to its probe cells (a matrix of this
    // build measures them; the committed one may predate them).
    let dir = scratch("tvis");
    let mut m: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/consistency-matrix.json")).unwrap(),
    )
    .unwrap();
    let probes = m["probes"].as_array_mut().unwrap();
    let n = probes.len();
    for (i, p) in probes.iter_mut().enumerate() {
        p["tvisibility"] = serde_json::json!([
            {"from_ms": 0.0, "to_ms": 2.0, "reads": 300, "stale": 30 + i},
            {"from_ms": 2.0, "to_ms": 5.0, "reads": 40, "stale": 2},
            {"from_ms": 5.0, "to_ms": null, "reads": 80, "stale": 0}
        ]);
    }
    let file = dir.join("consistency-matrix.json");
    std::fs::write(&file, m.to_string()).unwrap();
    let st = quorumlab()
        .arg("report")
        .arg("--matrix")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("docs"))
        .output()
        .expect("quorumlab runs");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let dom = browser.dom(&dir.join("docs/consistency-matrix.html"), "");
    let plot = dom
        .split("id=\"tvis-plot\"")
        .nth(1)
        .and_then(|s| s.split("</svg>").next())
        .expect("the t-visibility plot is on the page");
    assert_eq!(
        plot.matches("<polyline").count(),
        n,
        "a line per probe cell"
    );
    assert_eq!(plot.matches("<circle").count(), 3 * n, "a point per bin");
    let _ = std::fs::remove_dir_all(&dir);
}
