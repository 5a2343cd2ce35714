//! docs/consistency-matrix.html: the matrix's cells coloured, each break linking to its case's
//! report, each hold with its evidence, and plots drawn as inline SVG.
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use minijinja::Value;
use serde::Serialize;

use super::svg::{esc, num};
use crate::matrix::{interval99, CellSearch, MatrixReport, COLUMNS, MANIFEST};

/// The page's template.
pub const TEMPLATE: &str = include_str!("matrix.html");

#[derive(Serialize)]
struct Entry {
    class: String,
    text: String,
    href: Option<String>,
    title: String,
}

#[derive(Serialize)]
struct Row {
    config: Vec<String>,
    searched: String,
    entries: Vec<Entry>,
    stale: String,
}

#[derive(Serialize)]
struct Group {
    title: &'static str,
    /// The section's id, so a link can open the page at it.
    id: &'static str,
    heads: Vec<String>,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct PageContext {
    profile: String,
    cells: usize,
    breaks: usize,
    disagreements: usize,
    columns: Vec<(&'static str, &'static str)>,
    groups: Vec<Group>,
    stale_plot: Value,
    pbs_plot: Value,
    tvis_plot: Value,
    css: Value,
}

/// The report path of an example (`histories/matrix/x.json` -> `x.html`), behind `prefix`,
/// opening zoomed to the witness.
fn report_href(prefix: &str, example: &str) -> String {
    format!(
        "{prefix}{}#focus",
        super::html_path(Path::new(example)).display()
    )
}

/// A row's entries, one per guarantee column.
fn entries(search: &CellSearch, prefix: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (_, g) in COLUMNS {
        let Some(gc) = search.guarantees.get(g.name()) else {
            entries.push(Entry {
                class: "cell untested".into(),
                text: "–".into(),
                href: None,
                title: "not searched".into(),
            });
            continue;
        };
        let mut class = format!("cell {}", if gc.broken { "breaks" } else { "holds" });
        if gc.disagrees() {
            class.push_str(" disagrees");
        }
        let predicted = format!("theory: {} ({})", gc.predicted, gc.reason);
        let (text, title) = if gc.broken {
            let ops = gc
                .example_ops
                .map(|n| format!(" ({n} ops)"))
                .unwrap_or_default();
            (
                format!("✗ {}{ops}", gc.cases),
                format!(
                    "broken by scenario {} of the search{}, found by {}; {predicted}",
                    gc.cases,
                    gc.seed.map(|s| format!(" (seed {s})")).unwrap_or_default(),
                    gc.found_by.as_deref().unwrap_or("the search")
                ),
            )
        } else {
            let bound = gc.upper_bound().map(|b| b * 100.0).unwrap_or(100.0);
            (
                format!("✓ {}", gc.cases),
                format!(
                    "held in all {} scenarios ({} client ops{}): at most {:.1}% of \
                     scenarios break it (95%, rule of three); {predicted}",
                    gc.cases,
                    gc.ops,
                    if gc.unknown > 0 {
                        format!(", {} undecided", gc.unknown)
                    } else {
                        String::new()
                    },
                    bound
                ),
            )
        };
        entries.push(Entry {
            class,
            text,
            href: gc.example.as_deref().map(|e| report_href(prefix, e)),
            title,
        });
    }
    entries
}

fn row(config: Vec<String>, search: &CellSearch, prefix: &str) -> Row {
    Row {
        config,
        searched: format!("{} sc, {} ops", search.cases, search.ops),
        entries: entries(search, prefix),
        stale: format!("{:.1}", search.stale_rate * 100.0),
    }
}

fn groups(report: &MatrixReport, prefix: &str) -> Vec<Group> {
    let mut out = Vec::new();
    let leaderless_heads = || {
        ["RF", "R", "W", "read repair", "hints", "faults"]
            .map(String::from)
            .to_vec()
    };
    for (title, id, strong) in [
        ("R + W > RF", "quorums-overlap", true),
        ("R + W ≤ RF", "quorums-may-miss", false),
    ] {
        let mut rows = Vec::new();
        for c in report
            .cells
            .iter()
            .filter(|c| (c.spec.r + c.spec.w > c.spec.rf) == strong)
        {
            let config = vec![
                c.spec.rf.to_string(),
                c.spec.r.to_string(),
                c.spec.w.to_string(),
                c.spec.read_repair.to_string(),
                format!(
                    "{}{}",
                    if c.spec.hints { "on" } else { "off" },
                    if c.spec.anti_entropy { ", ae" } else { "" }
                ),
                c.spec.faults.name().to_string(),
            ];
            rows.push(row(config, &c.search, prefix));
        }
        if !rows.is_empty() {
            out.push(Group {
                title,
                id,
                heads: leaderless_heads(),
                rows,
            });
        }
    }
    if !report.system_cells.is_empty() {
        let rows = report
            .system_cells
            .iter()
            .map(|c| {
                let lf = c.spec.leader_follower();
                let config = vec![
                    if lf.sync_followers == 0 {
                        "async".to_string()
                    } else {
                        format!("sync to {}", lf.sync_followers)
                    },
                    (if lf.follower_reads { "any" } else { "leader" }).to_string(),
                    (if lf.fencing { "on" } else { "off" }).to_string(),
                    c.spec.faults.name().to_string(),
                ];
                row(config, &c.search, prefix)
            })
            .collect();
        out.push(Group {
            title: "Leader-follower",
            id: "leader-follower",
            heads: ["replication", "reads", "fencing", "faults"]
                .map(String::from)
                .to_vec(),
            rows,
        });
    }
    out
}

/// A sum and a count, for a mean.
type Mean = (f64, usize);

/// The stale-read rate of each cell: one row per (RF, R, W), one column per fault profile,
/// the mean over the cell's read-repair and hint settings, shaded by rate.
fn stale_plot(report: &MatrixReport) -> String {
    let mut rates: BTreeMap<(usize, usize, usize), BTreeMap<&str, Mean>> = BTreeMap::new();
    let mut faults: Vec<&str> = Vec::new();
    for c in &report.cells {
        let f = c.spec.faults.name();
        if !faults.contains(&f) {
            faults.push(f);
        }
        let e = rates
            .entry((c.spec.rf, c.spec.r, c.spec.w))
            .or_default()
            .entry(f)
            .or_insert((0.0, 0));
        e.0 += c.search.stale_rate;
        e.1 += 1;
    }
    let (left, top, cw, ch) = (90.0, 40.0, 110.0, 24.0);
    let w = left + cw * faults.len() as f64 + 10.0;
    let h = top + ch * rates.len() as f64 + 30.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="plot" id="stale-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="stale-read rate by R, W and fault profile"><text class="title" x="0" y="14">Stale-read rate (%) by RF/R/W and fault profile, mean over read repair and hints</text>"#,
        num(w),
        num(h),
        num(w),
        num(h)
    );
    for (i, f) in faults.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num(left + cw * (i as f64 + 0.5)),
            num(top - 6.0),
            esc(f)
        );
    }
    let max = rates
        .values()
        .flat_map(|m| m.values())
        .map(|(sum, n)| sum / *n as f64)
        .fold(0.0f64, f64::max)
        .max(1e-9);
    for (row, ((rf, r, wq), by_fault)) in rates.iter().enumerate() {
        let y = top + ch * row as f64;
        let _ = write!(
            s,
            r#"<text x="0" y="{}">RF {rf} R {r} W {wq}</text>"#,
            num(y + 16.0)
        );
        for (i, f) in faults.iter().enumerate() {
            let Some((sum, n)) = by_fault.get(f) else {
                continue;
            };
            let rate = sum / *n as f64;
            let _ = write!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="rgb(209,36,47)" fill-opacity="{}" stroke="rgb(208,215,222)"><title>RF {rf} R {r} W {wq}, {}: {:.2}% stale</title></rect><text x="{}" y="{}" text-anchor="middle">{:.1}</text>"#,
                num(left + cw * i as f64),
                num(y),
                num(cw),
                num(ch),
                num(0.05 + 0.75 * rate / max),
                esc(f),
                rate * 100.0,
                num(left + cw * (i as f64 + 0.5)),
                num(y + 16.0),
                rate * 100.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// PBS: each probe cell's measured stale rate against PBS's prediction, with the 99% interval
/// a correct prediction leaves for that many reads.
fn pbs_plot(report: &MatrixReport) -> String {
    let (left, top, size) = (50.0, 30.0, 260.0);
    let (w, h) = (left + size + 180.0, top + size + 40.0);
    let x = |p: f64| left + p * size;
    let y = |p: f64| top + size - p * size;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="plot" id="pbs-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="PBS predicted against measured stale rate"><text class="title" x="0" y="14">PBS: measured stale rate against predicted, 99% interval</text>"#
    );
    for i in 0..=4 {
        let v = i as f64 / 4.0;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/><line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/><text x="{}" y="{}" text-anchor="end">{}</text><text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            num(x(0.0)),
            num(x(1.0)),
            num(y(v)),
            num(y(v)),
            num(x(v)),
            num(x(v)),
            num(y(0.0)),
            num(y(1.0)),
            num(left - 4.0),
            num(y(v) + 3.0),
            num(v),
            num(x(v)),
            num(y(0.0) + 14.0),
            num(v)
        );
    }
    let _ = write!(
        s,
        r#"<line class="diag" x1="{}" y1="{}" x2="{}" y2="{}"/><text x="{}" y="{}" text-anchor="middle">predicted</text>"#,
        num(x(0.0)),
        num(y(0.0)),
        num(x(1.0)),
        num(y(1.0)),
        num(x(0.5)),
        num(h - 4.0)
    );
    for (i, p) in report.probes.iter().enumerate() {
        let (lo, hi) = interval99(p.predicted, p.reads);
        let _ = write!(
            s,
            r#"<line class="interval" x1="{}" x2="{}" y1="{}" y2="{}"/><circle class="measured" cx="{}" cy="{}" r="4"><title>{}: measured {:.3} of {} reads, predicted {:.3} (99%: {:.3} to {:.3})</title></circle><text x="{}" y="{}">RF {} R {} W {}: {:.3} vs {:.3}</text>"#,
            num(x(p.predicted)),
            num(x(p.predicted)),
            num(y(lo)),
            num(y(hi)),
            num(x(p.predicted)),
            num(y(p.stale_rate)),
            esc(&p.spec.slug()),
            p.stale_rate,
            p.reads,
            p.predicted,
            lo,
            hi,
            num(left + size + 12.0),
            num(top + 14.0 * (i as f64 + 1.0)),
            p.spec.rf,
            p.spec.r,
            p.spec.w,
            p.stale_rate,
            p.predicted
        );
    }
    s.push_str("</svg>");
    s
}

/// The x of a t-visibility bin: its middle, the open last bin a fixed step past its start.
fn bin_x(p: &crate::tvisibility::Point) -> f64 {
    match p.to_ms {
        Some(to) => (p.from_ms + to) / 2.0,
        None => p.from_ms + 10.0,
    }
}

/// PBS's t-visibility: for each probe cell's RF, R and W run as PBS models Dynamo, the stale
/// rate of reads by the time since the write was acknowledged, one line per probe cell (empty
/// bins left out). Nothing when the matrix has no such data.
fn tvis_plot(report: &MatrixReport) -> String {
    let probes: Vec<_> = report
        .probes
        .iter()
        .filter(|p| p.tvisibility.iter().any(|b| b.reads > 0))
        .collect();
    if probes.is_empty() {
        return String::new();
    }
    let (left, top, pw, ph) = (50.0, 40.0, 420.0, 220.0);
    let (w, h) = (left + pw + 200.0, top + ph + 44.0);
    let t_max = probes
        .iter()
        .flat_map(|p| p.tvisibility.iter().map(bin_x))
        .fold(1.0, f64::max);
    let r_max = probes
        .iter()
        .flat_map(|p| p.tvisibility.iter().map(|b| b.rate()))
        .fold(0.0, f64::max);
    let r_top = super::stats::nice_ceiling(r_max.max(0.01));
    let x = |t: f64| left + t / t_max * pw;
    let y = |r: f64| top + ph - r / r_top * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="plot" id="tvis-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="stale rate by time since the write was acknowledged"><text class="title" x="0" y="14">t-visibility: stale reads by ms since the write's acknowledgment</text><text x="0" y="26">writes go to every replica and are acknowledged after W; reads ask R random replicas; links 1 to 5 ms, one message in ten up to 100 ms more</text>"#
    );
    for i in 0..=4 {
        let v = r_top * i as f64 / 4.0;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/><text x="{}" y="{}" text-anchor="end">{}</text>"#,
            num(x(0.0)),
            num(x(t_max)),
            num(y(v)),
            num(y(v)),
            num(left - 4.0),
            num(y(v) + 3.0),
            num(v)
        );
    }
    let step = super::svg::nice_step(t_max, 6);
    let mut t = 0.0;
    while t <= t_max + 1e-9 {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{} ms</text>"#,
            num(x(t)),
            num(top + ph + 14.0),
            num(t)
        );
        t += step;
    }
    for (i, p) in probes.iter().enumerate() {
        let bins: Vec<_> = p.tvisibility.iter().filter(|b| b.reads > 0).collect();
        let points: Vec<String> = bins
            .iter()
            .map(|b| format!("{},{}", num(x(bin_x(b))), num(y(b.rate()))))
            .collect();
        let _ = write!(
            s,
            r#"<g class="tvis series-{i}"><polyline points="{}"/>"#,
            points.join(" ")
        );
        for b in &bins {
            let to = b.to_ms.map_or("on".to_string(), |t| format!("to {t}"));
            let _ = write!(
                s,
                r#"<circle cx="{}" cy="{}" r="3"><title>RF {} R {} W {}, {} ms {to}: {} of {} reads stale</title></circle>"#,
                num(x(bin_x(b))),
                num(y(b.rate())),
                p.spec.rf,
                p.spec.r,
                p.spec.w,
                b.from_ms,
                b.stale,
                b.reads
            );
        }
        let reads: usize = bins.iter().map(|b| b.reads).sum();
        let _ = write!(
            s,
            r#"<text x="{}" y="{}">RF {} R {} W {} ({reads} reads)</text></g>"#,
            num(left + pw + 12.0),
            num(top + 14.0 * (i as f64 + 1.0)),
            p.spec.rf,
            p.spec.r,
            p.spec.w
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">the last point: reads {} ms or more after</text></svg>"#,
        num(left + pw / 2.0),
        num(h - 4.0),
        probes[0].tvisibility.last().map_or(0.0, |b| b.from_ms)
    );
    s
}

/// Renders the matrix page; `prefix` is the way from the page's directory to the repository
/// root (what example paths are relative to).
pub fn render(report: &MatrixReport, prefix: &str) -> String {
    let searches = report.searches();
    let breaks = searches
        .iter()
        .flat_map(|(_, c)| c.guarantees.values())
        .filter(|g| g.broken)
        .count();
    let ctx = PageContext {
        profile: report.profile.name().to_string(),
        cells: searches.len(),
        breaks,
        disagreements: report.disagreements().len(),
        columns: COLUMNS
            .iter()
            .map(|(short, g)| (*short, g.name()))
            .collect(),
        groups: groups(report, prefix),
        stale_plot: Value::from_safe_string(stale_plot(report)),
        pbs_plot: Value::from_safe_string(pbs_plot(report)),
        tvis_plot: Value::from_safe_string(tvis_plot(report)),
        css: Value::from_safe_string(super::CSS.to_string()),
    };
    super::environment()
        .get_template("matrix.html")
        .expect("the matrix template exists")
        .render(minijinja::value::Serde(&ctx))
        .expect("the matrix template renders")
}

/// What [`stage`] staged.
#[derive(Debug)]
pub struct Written {
    /// The matrix's page: `consistency-matrix.html`, or a shard's page.
    pub page: PathBuf,
    /// How many case reports were staged, each beside its case in the examples directory.
    pub reports: usize,
}

/// Stages the report of every example the matrix links, beside the example (rendered from
/// the example's staged bytes when this run wrote it anew), and `consistency-matrix.html` in
/// `dir` (see [`crate::fsutil::Staging`]); [`crate::matrix::commit`] puts them in place with
/// the rest.
pub fn stage(
    report: &MatrixReport,
    dir: &Path,
    examples_dir: &Path,
    prefix: &str,
    staging: &mut crate::fsutil::Staging,
) -> anyhow::Result<Written> {
    let mut reports = 0;
    for name in &report.examples {
        let case = examples_dir.join(name);
        let source = staging.staged(&case).unwrap_or(&case).to_path_buf();
        // A merge runs where the shards' examples may not have been copied: say so, go on.
        if !source.exists() {
            eprintln!(
                "quorumlab matrix: {} is missing, so it has no report",
                case.display()
            );
            continue;
        }
        let html = super::render_file(&source, &super::title_of(&case))?;
        let out = super::html_path(&case);
        crate::matrix::refuse_foreign(&out)?;
        staging
            .write(&out, html.as_bytes())
            .with_context(|| format!("writing report {}", out.display()))?;
        reports += 1;
    }
    let path = dir.join(match &report.shard {
        Some(s) => format!("consistency-matrix.shard-{}.html", s.replace('/', "-of-")),
        None => "consistency-matrix.html".to_string(),
    });
    staging
        .write(&path, render(report, prefix).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Written {
        page: path,
        reports,
    })
}

/// The manifest the examples directory holds now (empty when there is none), read before a
/// matrix run replaces it.
pub fn read_manifest(examples_dir: &Path) -> String {
    std::fs::read_to_string(examples_dir.join(MANIFEST)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tvisibility::Point;

    fn committed() -> MatrixReport {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/consistency-matrix.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn t_visibility_draws_one_line_per_probe_cell_and_a_point_per_bin_read() {
        let mut report = committed();
        for p in &mut report.probes {
            p.tvisibility.clear();
        }
        assert!(tvis_plot(&report).is_empty(), "no data, no plot");
        for (i, p) in report.probes.iter_mut().enumerate() {
            p.tvisibility = vec![
                Point {
                    from_ms: 0.0,
                    to_ms: Some(2.0),
                    reads: 100,
                    stale: 10 * (i + 1),
                },
                Point {
                    from_ms: 2.0,
                    to_ms: Some(5.0),
                    reads: 0,
                    stale: 0,
                },
                Point {
                    from_ms: 5.0,
                    to_ms: None,
                    reads: 50,
                    stale: 0,
                },
            ];
        }
        let svg = tvis_plot(&report);
        assert!(svg.starts_with(r#"<svg class="plot" id="tvis-plot""#));
        assert_eq!(svg.matches("<polyline").count(), report.probes.len());
        // The empty bin is left out: two points per line.
        assert_eq!(svg.matches("<circle").count(), 2 * report.probes.len());
        assert!(svg.contains("RF 3 R 1 W 1, 0 ms to 2: 10 of 100 reads stale"));
        // The highest rate (30%) sets the axis: 0.5 at the top.
        assert!(svg.contains(r#"text-anchor="end">0.5</text>"#));
        assert!(render(&report, "../").contains(r#"id="tvis-plot""#));
    }
}
