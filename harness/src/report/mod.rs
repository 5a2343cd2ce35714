//! HTML reports: one self-contained page per history, and the consistency matrix's page.
//!
//! A page has no network dependency at view time: its CSS, script and SVG are inline, and the
//! timeline's data is a JSON island the script draws from. Every byte is a function of the
//! history (or the matrix report) alone: no wall-clock time, no paths outside the file's name,
//! no unordered iteration; so the same case renders the same bytes, here and in CI.
//!
//! - [`layout`]: the timeline's sections, lanes, bars and fault bands, in milliseconds, or in
//!   positions for a history whose times are positions in its source.
//! - [`witness`]: for each guarantee, what each guarantee's witness highlights.
//! - [`stats`]: run statistics, outcome counts, latency percentiles, latency and throughput over time.
//! - [`diagram`]: the message diagram of a case whose store events were recorded.
//! - [`why`]: the sentence that says what the store was doing when a witness happened.
//! - `table`: the ops as the page carries them, a compact table of their records.
//! - [`matrix_page`]: the matrix's page, docs/consistency-matrix.html.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use minijinja::{Environment, Value};
use quorumlab::history::{History, TimeUnit};
use serde::Serialize;

pub mod diagram;
pub mod layout;
pub mod matrix_page;
pub mod stats;
pub mod svg;
mod table;
pub mod why;
pub mod witness;

use layout::{ms_text, Band, Timeline};
use stats::{KindStats, RunStats};
use table::{op_table, OpTable};
use witness::WitnessView;

const CSS: &str = include_str!("report.css");
const JS: &str = include_str!("report.js");
const CASE_TEMPLATE: &str = include_str!("case.html");

/// Slices of simulated time in the run chart.
const CHART_BUCKETS: usize = 120;

/// How long a report may spend judging linearizability of a history that carries no verdict.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// JSON to embed in a `<script>` element: every `<` escaped, so no string in the data can end
/// the element or open a comment.
fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
}

/// The data the page's script draws: compact arrays, one per bar.
#[derive(Serialize)]
struct PageData<'a> {
    /// What the times count: `position` for a history in positions; left out for milliseconds,
    /// the report's unit for a history in nanoseconds (as a history leaves out its own
    /// `time_unit` for nanoseconds), so such pages keep their bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<&'static str>,
    t0: f64,
    t1: f64,
    ops: OpTable,
    /// Every distinct bar label, once.
    labels: Vec<&'a str>,
    sections: Vec<PageSection<'a>>,
    bands: &'a [Band],
    witnesses: &'a [WitnessView],
    /// For each witness, what the store was doing (see [`why`]).
    why: &'a [Option<String>],
    diagram: Option<PageDiagram<'a>>,
}

/// The message diagram as the script reads it: arrows `[from, to, y0, y1, label, fate]`,
/// marks `[column, y, event, label]`, shades `[columns, y0, y1, fault]`, ticks `[y, ms]`.
#[derive(Serialize)]
struct PageDiagram<'a> {
    columns: &'a [String],
    height: f64,
    ticks: Vec<(f64, u64)>,
    arrows: Vec<(usize, usize, f64, f64, &'a str, &'a str)>,
    marks: Vec<(usize, f64, &'a str, &'a str)>,
    shades: Vec<(&'a [usize], f64, f64, &'a str)>,
}

impl<'a> PageDiagram<'a> {
    fn of(d: &'a diagram::Diagram) -> Self {
        PageDiagram {
            columns: &d.columns,
            height: d.height,
            ticks: d.ticks.iter().map(|t| (t.y, t.ms)).collect(),
            arrows: d
                .arrows
                .iter()
                .map(|a| (a.from, a.to, a.y0, a.y1, &*a.label, &*a.fate))
                .collect(),
            marks: d
                .marks
                .iter()
                .map(|m| (m.col, m.y, &*m.event, &*m.label))
                .collect(),
            shades: d
                .shades
                .iter()
                .map(|s| (&*s.cols, s.y0, s.y1, &*s.fault))
                .collect(),
        }
    }
}

/// One row of the message counts: a kind, or `all`.
#[derive(Serialize)]
struct MessageRow {
    kind: String,
    sent: u64,
    /// The fates, each a count or `n/a` where the system does not record it (a system may
    /// count only what it sends).
    held: String,
    lost: String,
    partitioned: String,
    crashed: String,
}

/// The `messages` field as table rows, kinds first and then the total.
fn message_rows(history: &History) -> Vec<MessageRow> {
    let Some(m) = history.extra.get("messages") else {
        return Vec::new();
    };
    let row = |kind: &str, v: &serde_json::Value| {
        let n = |f: &str| v.get(f).and_then(|x| x.as_u64());
        let fate = |f: &str| n(f).map_or_else(|| "n/a".to_string(), |c| c.to_string());
        MessageRow {
            kind: kind.to_string(),
            sent: n("sent").unwrap_or(0),
            held: fate("held"),
            lost: fate("lost"),
            partitioned: fate("partitioned"),
            crashed: fate("crashed"),
        }
    };
    let mut rows: Vec<MessageRow> = m
        .get("by_kind")
        .and_then(|k| k.as_object())
        .into_iter()
        .flatten()
        .map(|(k, v)| row(k, v))
        .collect();
    rows.push(row("all", m));
    rows
}

/// A bar as the page carries it: `[row in ops, lane, label in labels]`. Its id, times and
/// outcome are the op's own, which the script reads from the row.
type BarRow = (usize, usize, usize);

#[derive(Serialize)]
struct PageSection<'a> {
    key: &'a str,
    lanes: &'a [u64],
    bars: Vec<BarRow>,
}

/// One row of a small table of settings.
#[derive(Serialize)]
struct Row {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct ReplicaRow {
    key: String,
    cells: Vec<String>,
}

#[derive(Serialize)]
struct FaultRow {
    fault: String,
    start: String,
    end: String,
    touched: String,
}

#[derive(Serialize)]
struct CaseContext<'a> {
    title: &'a str,
    ops: usize,
    keys: usize,
    clients: usize,
    /// The times the history spans, in words: `simulated time 0 to 42 ms`, `positions 1 to 9`.
    span: String,
    /// The unit the fault table's times are in: `ms` or `position`.
    unit: &'static str,
    scenario: Vec<Row>,
    faults: Vec<FaultRow>,
    guarantees: &'a [WitnessView],
    chosen: Option<&'a WitnessView>,
    kinds: &'a [KindStats],
    /// Whether the history's times measure time, so latency and throughput mean something.
    latency: bool,
    messages: Vec<MessageRow>,
    diagram: bool,
    chosen_why: Option<&'a str>,
    replicas: Vec<ReplicaRow>,
    chart: Value,
    css: Value,
    js: Value,
    data: Value,
}

fn scenario_rows(history: &History) -> Vec<Row> {
    let mut rows = Vec::new();
    let Some(scenario) = history.extra.get("scenario") else {
        for key in ["source", "expected_linearizable"] {
            if let Some(v) = history.extra.get(key) {
                rows.push(Row {
                    name: key.to_string(),
                    value: v.as_str().map(str::to_string).unwrap_or(v.to_string()),
                });
            }
        }
        return rows;
    };
    let mut put = |name: &str, v: Option<&serde_json::Value>| {
        if let Some(v) = v {
            rows.push(Row {
                name: name.to_string(),
                value: v.as_str().map(str::to_string).unwrap_or(v.to_string()),
            });
        }
    };
    put("seed", scenario.get("seed"));
    if let Some(store) = scenario.get("store").and_then(|s| s.as_object()) {
        for (k, v) in store {
            put(k, Some(v));
        }
    }
    put("network", scenario.get("network"));
    put("settle_ms", scenario.get("settle_ms"));
    if let Some(expect) = history.extra.get("expect") {
        put("expect", Some(expect));
    }
    rows
}

fn replica_rows(history: &History) -> Vec<ReplicaRow> {
    let Some(map) = history.extra.get("replicas").and_then(|r| r.as_object()) else {
        return Vec::new();
    };
    map.iter()
        .map(|(key, list)| ReplicaRow {
            key: key.clone(),
            cells: list
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    let node = r.get("node").map(|n| n.to_string()).unwrap_or_default();
                    match r.get("cell").filter(|c| !c.is_null()) {
                        None => format!("n{node}: absent"),
                        Some(c) => {
                            let v = c.get("value").map(|v| v.to_string());
                            let ts = c.get("timestamp").map(|t| t.to_string());
                            format!(
                                "n{node}: {} @{} by n{}",
                                v.unwrap_or_else(|| "tombstone".into()),
                                ts.unwrap_or_default(),
                                c.get("writer").map(|w| w.to_string()).unwrap_or_default()
                            )
                        }
                    }
                })
                .collect(),
        })
        .collect()
}

/// The guarantee the page opens on: linearizability when it broke, else the first break,
/// else the first guarantee.
fn chosen(views: &[WitnessView]) -> Option<&WitnessView> {
    views
        .iter()
        .find(|v| v.guarantee == "linearizable" && v.state == "violated")
        .or_else(|| views.iter().find(|v| v.state == "violated"))
        .or_else(|| views.first())
}

pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_template("case.html", CASE_TEMPLATE)
        .expect("the case template parses");
    env.add_template("matrix.html", matrix_page::TEMPLATE)
        .expect("the matrix template parses");
    env
}

/// Renders the report of a history; `title` is the file name shown.
pub fn render(title: &str, history: &History, views: &[WitnessView]) -> String {
    let timeline: Timeline = layout::timeline(history);
    let stats: RunStats = stats::run_stats(history, timeline.t0, timeline.t1, CHART_BUCKETS);
    let why: Vec<Option<String>> = views
        .iter()
        .map(|v| {
            (v.state == "violated")
                .then(|| why::sentence(history, v, &timeline.bands))
                .flatten()
        })
        .collect();
    let diagram = diagram::diagram(history);
    let mut labels: Vec<&str> = Vec::new();
    let mut label_ids: std::collections::HashMap<&str, usize> = Default::default();
    let sections = timeline
        .sections
        .iter()
        .map(|s| PageSection {
            key: &s.key,
            lanes: &s.lanes,
            bars: s
                .bars
                .iter()
                .map(|b| {
                    // Ids in order of first use, so the table's order (and bytes) is fixed.
                    let next = labels.len();
                    let l = *label_ids.entry(&b.label).or_insert_with(|| {
                        labels.push(&b.label);
                        next
                    });
                    (b.index, b.lane, l)
                })
                .collect(),
        })
        .collect();
    let unit = timeline.unit;
    let data = PageData {
        unit: (unit == TimeUnit::Position).then_some("position"),
        t0: timeline.t0,
        t1: timeline.t1,
        ops: op_table(history),
        labels,
        sections,
        bands: &timeline.bands,
        witnesses: views,
        why: &why,
        diagram: diagram.as_ref().map(PageDiagram::of),
    };
    let json = serde_json::to_string(&data).expect("report data serializes");
    let clients: std::collections::BTreeSet<u64> = history.ops.iter().map(|o| o.client).collect();
    let t_ns = |ms: f64| (ms * 1e6).round() as u64;
    let span = match unit {
        TimeUnit::Nanos => format!(
            "simulated time {} to {} ms",
            ms_text(t_ns(timeline.t0)),
            ms_text(t_ns(timeline.t1))
        ),
        TimeUnit::Position => format!("positions {} to {}", timeline.t0, timeline.t1),
    };
    // Positions in a file order its ops but measure nothing: an op's span in them counts the
    // other ops' events logged meanwhile, not how long it took, and ops per slice of them
    // depend only on how the file interleaves; so a history in positions shows neither.
    let latency = unit == TimeUnit::Nanos;
    let ctx = CaseContext {
        title,
        ops: history.ops.len(),
        keys: timeline.sections.len(),
        clients: clients.len(),
        span,
        unit: match unit {
            TimeUnit::Nanos => "ms",
            TimeUnit::Position => "position",
        },
        scenario: scenario_rows(history),
        faults: timeline
            .bands
            .iter()
            .map(|b| FaultRow {
                fault: b.fault.clone(),
                start: svg::num(b.start),
                end: svg::num(b.end),
                touched: b.touched.clone(),
            })
            .collect(),
        guarantees: views,
        chosen: chosen(views),
        kinds: &stats.kinds,
        latency,
        messages: message_rows(history),
        diagram: diagram.is_some(),
        chosen_why: chosen(views)
            .and_then(|c| views.iter().position(|v| std::ptr::eq(v, c)))
            .and_then(|i| why[i].as_deref()),
        replicas: replica_rows(history),
        chart: Value::from_safe_string(if latency {
            stats::chart(&stats, &timeline.bands, timeline.t0, timeline.t1)
        } else {
            String::new()
        }),
        css: Value::from_safe_string(CSS.to_string()),
        js: Value::from_safe_string(JS.to_string()),
        data: Value::from_safe_string(script_json(&json)),
    };
    environment()
        .get_template("case.html")
        .expect("the case template exists")
        .render(minijinja::value::Serde(&ctx))
        .expect("the case template renders")
}

/// The report's path for a history file: the same name with `.html`.
pub fn html_path(history_file: &Path) -> PathBuf {
    history_file.with_extension("html")
}

/// The file name shown as a report's title.
pub fn title_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Renders the report of the history file `file` (with its witnesses when it is a saved case)
/// to `out`, replacing any file there atomically.
pub fn write_report(history: &History, title: &str, out: &Path) -> anyhow::Result<()> {
    let views = witness::witnesses(history, DEFAULT_TIMEOUT);
    let html = render(title, history, &views);
    crate::fsutil::write_atomic(out, html.as_bytes())
        .with_context(|| format!("writing report {}", out.display()))
}

/// The report of the history file `file`, titled `title`, as [`write_beside`] writes it.
pub fn render_file(file: &Path, title: &str) -> anyhow::Result<String> {
    let history = History::from_path(file)
        .with_context(|| format!("reading {} for its report", file.display()))?;
    let views = witness::witnesses(&history, DEFAULT_TIMEOUT);
    Ok(render(title, &history, &views))
}

/// Writes the report of a saved case file beside it (`x.json` -> `x.html`) and returns its
/// path. The report is read back from the file's bytes, so it matches what `quorumlab report`
/// renders from the same file.
pub fn write_beside(case_file: &Path) -> anyhow::Result<PathBuf> {
    let history = History::from_path(case_file)
        .with_context(|| format!("reading {} for its report", case_file.display()))?;
    let out = html_path(case_file);
    write_report(&history, &title_of(case_file), &out)?;
    Ok(out)
}

/// Writes the report beside a saved case and returns the line that names it for the user. A
/// report that cannot be written is said so in the line: the case itself is never lost for it.
pub fn report_line(case_file: &Path) -> String {
    match write_beside(case_file) {
        Ok(p) => format!("report: {}", p.display()),
        Err(e) => format!("report: not written ({e:#})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = r#"{"format": "quorumlab-history/1", "expect": ["linearizable"],
        "verdict": {"linearizable": false},
        "witnesses": {"linearizable": {"key": "x", "op": 2, "prefix": [{"op": 1, "state": 1}],
          "sentence": "get#2 read absent </script><b>"}},
        "nemesis": [{"time": 1000000, "action": "start", "index": 0, "fault": "crash",
          "detail": {"nodes": [1], "down_ms": 5}}],
        "ops": [
        {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1,
         "invoke": 0, "complete": 10000000, "outcome": "ok"},
        {"id": 2, "client": 1, "kind": "get", "key": "x",
         "invoke": 20000000, "complete": 30000000, "outcome": "ok", "read": null},
        {"id": 3, "client": 2, "kind": "put", "key": "y", "value": "s", "invoke": 25000000,
         "outcome": "info", "error": "timeout", "gave_up": 35000000}]}"#;

    #[test]
    fn same_history_same_bytes_and_nothing_escapes_the_script() {
        let h = History::from_json_str(CASE).unwrap();
        let views = witness::witnesses(&h, DEFAULT_TIMEOUT);
        let a = render("case.json", &h, &views);
        let b = render("case.json", &h, &views);
        assert_eq!(a, b);
        assert_eq!(
            a.matches("</script>").count(),
            2,
            "only the two script elements end"
        );
        assert!(!a.contains("<b>"), "witness text is escaped");
        assert!(
            !a.contains("http://") || !a.contains("src=\"http"),
            "no network"
        );
        assert!(a.contains(r#"id="witness""#));
    }

    /// A Jepsen EDN history without `:time`: its times are the elements' positions.
    const POSITIONS: &str = "[{:process 0 :type :invoke :f :write :value 1}
        {:process 0 :type :ok :f :write :value 1}
        {:process :nemesis :type :info :f :start :value nil}
        {:process 1 :type :invoke :f :read :value nil}
        {:process :nemesis :type :info :f :start :value \"Cut off {:n1 #{:n2}}\"}
        {:process 1 :type :ok :f :read :value 2}
        {:process :nemesis :type :info :f :stop :value nil}
        {:process 0 :type :invoke :f :write :value 2}
        {:process 0 :type :ok :f :write :value 2}]";

    fn in_positions() -> History {
        let h = quorumlab::history::edn::parse_with(POSITIONS, &Default::default()).unwrap();
        assert_eq!(h.time_unit(), TimeUnit::Position);
        h
    }

    #[test]
    fn a_history_in_positions_shows_no_latency_or_throughput() {
        let h = in_positions();
        let page = render("p.edn", &h, &witness::witnesses(&h, DEFAULT_TIMEOUT));
        let stats = page
            .split(r#"<section id="stats">"#)
            .nth(1)
            .and_then(|s| s.split("</section>").next())
            .unwrap();
        assert!(!stats.contains("p50") && !stats.contains(" ms"), "{stats}");
        assert!(!stats.contains("run-chart"), "{stats}");
        assert!(stats.contains("positions in its file"), "{stats}");
        // A history in nanoseconds keeps both.
        let h = History::from_json_str(CASE).unwrap();
        let page = render("case.json", &h, &witness::witnesses(&h, DEFAULT_TIMEOUT));
        assert!(page.contains("<th>p50 ms</th>") && page.contains(r#"id="run-chart""#));
    }

    /// The page's data island, parsed.
    fn island(page: &str) -> serde_json::Value {
        let json = page
            .split(r#"<script type="application/json" id="report-data">"#)
            .nth(1)
            .and_then(|s| s.split("</script>").next())
            .unwrap();
        serde_json::from_str(json).unwrap()
    }

    /// The text of the first element that starts with `open`, tags and all.
    fn element<'a>(page: &'a str, open: &str, close: &str) -> &'a str {
        page.split(open)
            .nth(1)
            .and_then(|s| s.split(close).next())
            .unwrap_or_else(|| panic!("no {open}"))
    }

    #[test]
    fn a_history_in_positions_is_shown_in_positions() {
        let h = in_positions();
        let page = render("p.edn", &h, &witness::witnesses(&h, DEFAULT_TIMEOUT));
        let data = island(&page);
        assert_eq!(data["unit"], "position");
        // The nine elements' positions, not nanoseconds scaled to milliseconds.
        assert_eq!(
            (data["t0"].as_f64(), data["t1"].as_f64()),
            (Some(1.0), Some(9.0))
        );
        assert_eq!(
            (&data["bands"][0]["start"], &data["bands"][0]["end"]),
            (&serde_json::json!(3.0), &serde_json::json!(7.0))
        );
        let summary = element(&page, r#"<p class="summary">"#, "</p>");
        assert_eq!(
            summary,
            "3 ops · 1 key · 2 clients · positions 1 to 9 · 1 fault window"
        );
        let faults = element(&page, r#"<section id="faults">"#, "</section>");
        assert!(
            faults.contains("<th>from position</th><th>to position</th>")
                && faults.contains("<td>3</td><td>7</td>")
                && !faults.contains("ms"),
            "{faults}"
        );
        let why = element(&page, r#"<p id="witness-why">"#, "</p>");
        assert!(
            why.contains("put#1 completed at position 2, outside every fault window")
                && !why.contains(" ms"),
            "{why}"
        );
    }

    #[test]
    fn a_history_in_nanoseconds_is_shown_in_milliseconds() {
        let h = History::from_json_str(CASE).unwrap();
        let page = render("case.json", &h, &witness::witnesses(&h, DEFAULT_TIMEOUT));
        // No unit in the island: milliseconds, as every page had before there were two.
        assert!(island(&page).get("unit").is_none());
        assert_eq!(
            element(&page, r#"<p class="summary">"#, "</p>"),
            "3 ops · 2 keys · 3 clients · simulated time 0 to 30 ms · 1 fault window"
        );
        assert!(page.contains("<th>from ms</th><th>to ms</th>"));
    }

    #[test]
    fn the_page_data_is_a_few_dozen_bytes_per_op() {
        let mut ops = String::new();
        for i in 0..2_000u64 {
            let c = i % 16;
            let t = i * 1_000_000;
            if i > 0 {
                ops.push(',');
            }
            ops.push_str(&format!(
                r#"{{"id": {i}, "client": {c}, "kind": "get", "key": "k{}", "invoke": {t},
                 "complete": {}, "outcome": "ok", "read": null}}"#,
                i % 4,
                t + 3_000_000
            ));
        }
        let h = History::from_json_str(&format!(
            r#"{{"format": "quorumlab-history/1", "verdict": {{"linearizable": true}},
            "witnesses": {{}}, "ops": [{ops}]}}"#
        ))
        .unwrap();
        let page = render("big.json", &h, &witness::witnesses(&h, DEFAULT_TIMEOUT));
        let empty = render(
            "big.json",
            &History::from_json_str(
                r#"{"format": "quorumlab-history/1", "verdict": {}, "witnesses": {}, "ops": []}"#,
            )
            .unwrap(),
            &[],
        );
        let per_op = (page.len() - empty.len()) / 2_000;
        // The record alone is 100 bytes in the file.
        assert!(per_op <= 56, "{per_op} bytes per op");
    }
}
