//! The ops as a report page carries them: every record the history file writes, as a table
//! the page's script turns back into the same records.
use quorumlab::history::History;
use serde::Serialize;

/// The ops as the page carries them: every record the history file writes, as a table.
///
/// A report of 100,000 ops is mostly its records, and in a record most bytes are the field
/// names, a few strings said again and again (`"kind": "get"`, `"outcome": "ok"`) and long
/// times. So each distinct list of fields (a shape: a put that completed, a get that read, an
/// info op...) is named once; each op is a row `[shape, value, value, ...]` of its values in
/// the file's order; a field whose values are all strings holds indices into `strings`; and
/// `complete` and `gave_up` hold their distance from `invoke`. The script rebuilds an op's
/// record from its row exactly as the file has it (a field absent stays absent, a `null`
/// stays `null`).
#[derive(Debug, Default, PartialEq, Serialize)]
pub(super) struct OpTable {
    /// Every field name, in the order first met.
    fields: Vec<String>,
    /// Each shape: indices into `fields`.
    shapes: Vec<Vec<usize>>,
    /// The fields (indices into `fields`) whose values are indices into `strings`.
    coded: Vec<usize>,
    /// The fields whose values are ns after the op's `invoke`.
    after_invoke: Vec<usize>,
    /// The fields (`id`, `invoke`) whose values are the difference from the same field in the
    /// previous row that has it: ops come in id and invocation order, so these are small.
    from_previous: Vec<usize>,
    /// The strings of the coded fields, each once.
    strings: Vec<String>,
    /// One row per op, in history order.
    rows: Vec<Vec<serde_json::Value>>,
}

pub(super) fn op_table(history: &History) -> OpTable {
    let text = history.to_json_string();
    let mut t = OpTable::default();
    let mut field_ids: std::collections::BTreeMap<String, usize> = Default::default();
    let mut shape_ids: std::collections::BTreeMap<Vec<usize>, usize> = Default::default();
    // The writer puts the header on the first line, each op on its own line, then `]}`.
    for line in text.lines().skip(1) {
        let line = line.trim().trim_end_matches(',');
        if !line.starts_with('{') {
            continue;
        }
        let Ok(serde_json::Value::Object(record)) = serde_json::from_str(line) else {
            continue;
        };
        let mut shape = Vec::with_capacity(record.len());
        let mut row = Vec::with_capacity(record.len() + 1);
        row.push(serde_json::Value::Null);
        for (k, v) in record {
            let next = field_ids.len();
            let id = *field_ids.entry(k.clone()).or_insert_with(|| {
                t.fields.push(k);
                next
            });
            shape.push(id);
            row.push(v);
        }
        let next = shape_ids.len();
        let sid = *shape_ids.entry(shape.clone()).or_insert_with(|| {
            t.shapes.push(shape);
            next
        });
        row[0] = serde_json::Value::from(sid);
        t.rows.push(row);
    }
    t.code_strings();
    t.times_after_invoke();
    t.differences_from_previous();
    t
}

impl OpTable {
    /// Every (row, position in row) of field `f`.
    fn cells(&self, f: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (r, row) in self.rows.iter().enumerate() {
            let shape = &self.shapes[row[0].as_u64().unwrap_or(0) as usize];
            if let Some(k) = shape.iter().position(|x| *x == f) {
                out.push((r, k + 1));
            }
        }
        out
    }

    /// Replaces the values of every all-string field by indices into `strings`.
    fn code_strings(&mut self) {
        let mut ids: std::collections::HashMap<String, usize> = Default::default();
        for f in 0..self.fields.len() {
            let cells = self.cells(f);
            if cells.iter().any(|&(r, k)| !self.rows[r][k].is_string()) {
                continue;
            }
            self.coded.push(f);
            for (r, k) in cells {
                let text = self.rows[r][k].as_str().unwrap_or_default().to_string();
                let next = self.strings.len();
                let id = *ids.entry(text.clone()).or_insert_with(|| {
                    self.strings.push(text);
                    next
                });
                self.rows[r][k] = serde_json::Value::from(id);
            }
        }
    }

    /// Writes `id` and `invoke` as differences from the previous row's, when every value is
    /// an integer a script reads exactly (below 2^53).
    fn differences_from_previous(&mut self) {
        for name in ["id", "invoke"] {
            let Some(f) = self.fields.iter().position(|x| x == name) else {
                continue;
            };
            let cells = self.cells(f);
            let exact = |v: &serde_json::Value| v.as_u64().is_some_and(|n| n < 1 << 53);
            if !cells.iter().all(|&(r, k)| exact(&self.rows[r][k])) {
                continue;
            }
            self.from_previous.push(f);
            let mut previous = 0i64;
            for (r, k) in cells {
                let n = self.rows[r][k].as_u64().unwrap_or(0) as i64;
                self.rows[r][k] = serde_json::Value::from(n - previous);
                previous = n;
            }
        }
    }

    /// Writes `complete` and `gave_up` as their distance from `invoke`, when every value of the
    /// field is a time at or after its op's invocation (else the field is left as it is).
    fn times_after_invoke(&mut self) {
        let Some(inv) = self.fields.iter().position(|f| f == "invoke") else {
            return;
        };
        let inv_cells: std::collections::HashMap<usize, usize> =
            self.cells(inv).into_iter().collect();
        for name in ["complete", "gave_up"] {
            let Some(f) = self.fields.iter().position(|x| x == name) else {
                continue;
            };
            let cells = self.cells(f);
            let pair = |r: usize, k: usize| -> Option<(u64, u64)> {
                let i = self.rows[r][*inv_cells.get(&r)?].as_u64()?;
                Some((i, self.rows[r][k].as_u64()?))
            };
            let fits = cells.iter().all(|&(r, k)| {
                self.rows[r][k].is_null() || pair(r, k).is_some_and(|(i, t)| t >= i)
            });
            if !fits {
                continue;
            }
            let deltas: Vec<(usize, usize, u64)> = cells
                .iter()
                .filter_map(|&(r, k)| pair(r, k).map(|(i, t)| (r, k, t - i)))
                .collect();
            self.after_invoke.push(f);
            for (r, k, d) in deltas {
                self.rows[r][k] = serde_json::Value::from(d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASE: &str = r#"{"format": "quorumlab-history/1", "ops": [
        {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 1,
         "invoke": 0, "complete": 10000000, "outcome": "ok"},
        {"id": 2, "client": 1, "kind": "get", "key": "x",
         "invoke": 20000000, "complete": 30000000, "outcome": "ok", "read": null},
        {"id": 3, "client": 2, "kind": "put", "key": "y", "value": "s", "invoke": 25000000,
         "outcome": "info", "error": "timeout", "gave_up": 35000000}]}"#;

    /// An op's record rebuilt from the table as the page's script does it.
    fn rebuilt(t: &OpTable, i: usize) -> serde_json::Map<String, serde_json::Value> {
        // Undo the differences from the previous row, as the script does once at load.
        let mut rows = t.rows.clone();
        for f in &t.from_previous {
            let mut running = 0i64;
            for row in rows.iter_mut() {
                let shape = &t.shapes[row[0].as_u64().unwrap() as usize];
                if let Some(k) = shape.iter().position(|x| x == f) {
                    running += row[k + 1].as_i64().unwrap();
                    row[k + 1] = serde_json::Value::from(running);
                }
            }
        }
        let row = &rows[i];
        let shape = &t.shapes[row[0].as_u64().unwrap() as usize];
        let mut out: serde_json::Map<String, serde_json::Value> = shape
            .iter()
            .zip(&row[1..])
            .map(|(f, v)| {
                let v = if t.coded.contains(f) {
                    serde_json::Value::from(t.strings[v.as_u64().unwrap() as usize].clone())
                } else {
                    v.clone()
                };
                (t.fields[*f].clone(), v)
            })
            .collect();
        let invoke = out.get("invoke").and_then(|v| v.as_u64());
        for f in &t.after_invoke {
            let name = &t.fields[*f];
            if let (Some(i), Some(d)) = (invoke, out.get(name).and_then(|v| v.as_u64())) {
                out.insert(name.clone(), serde_json::Value::from(i + d));
            }
        }
        out
    }

    #[test]
    fn the_op_table_gives_back_each_record_as_the_file_has_it() {
        let h = History::from_json_str(CASE).unwrap();
        let t = op_table(&h);
        assert_eq!(t.rows.len(), 3);
        // A put that completed, a get that read and an info put: three shapes.
        assert_eq!(t.shapes.len(), 3);
        let coded: Vec<&str> = t.coded.iter().map(|f| t.fields[*f].as_str()).collect();
        assert_eq!(coded, ["kind", "key", "outcome", "error"]);
        let after: Vec<&str> = t
            .after_invoke
            .iter()
            .map(|f| t.fields[*f].as_str())
            .collect();
        assert_eq!(after, ["complete", "gave_up"]);
        let previous: Vec<&str> = t
            .from_previous
            .iter()
            .map(|f| t.fields[*f].as_str())
            .collect();
        assert_eq!(previous, ["id", "invoke"]);
        let text = h.to_json_string();
        let lines: Vec<&str> = text.lines().filter(|l| l.trim().starts_with('{')).collect();
        for (i, line) in lines.iter().skip(1).enumerate() {
            let want: serde_json::Value =
                serde_json::from_str(line.trim().trim_end_matches(',')).unwrap();
            assert_eq!(serde_json::Value::Object(rebuilt(&t, i)), want);
            // Same fields in the same order.
            assert_eq!(
                serde_json::to_string(&rebuilt(&t, i)).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
        }
        // A read of absent stays a field with null, not a missing field.
        assert!(rebuilt(&t, 1).get("read").is_some_and(|v| v.is_null()));
    }
}
