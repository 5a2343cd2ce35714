//! Reading and writing `quorumlab-history/1`: round trips, kept fields, validation errors.
use quorumlab::history::{History, HistoryError, OpKind, OpLoc, Outcome, Position, Value};

const DOC: &str = r#"{"format": "quorumlab-history/1", "scenario": {"seed": 7}, "ops": [
  {"id": 1, "client": 0, "kind": "put", "key": "x", "value": 5, "invoke": 0, "complete": 900, "outcome": "ok", "coordinator": 2, "cl": "quorum"},
  {"id": 2, "client": 1, "kind": "cas", "key": "x", "value": "six", "expect": null, "invoke": 1000, "complete": 1100, "outcome": "ok", "swapped": false},
  {"id": 3, "client": 0, "kind": "append", "key": "log", "value": "a", "invoke": 1000, "outcome": "info"},
  {"id": 4, "client": 1, "kind": "get", "key": "x", "invoke": 1200, "complete": 1350, "outcome": "ok", "read": null},
  {"id": 5, "client": 1, "kind": "delete", "key": "x", "invoke": 1400, "complete": 1500, "outcome": "fail"}
], "final": {"x": []}}"#;

#[test]
fn round_trip_keeps_extra_fields_and_is_deterministic() {
    let h = History::from_json_str(DOC).unwrap();
    assert_eq!(h.ops.len(), 5);
    assert_eq!(h.ops[0].value, Some(Value::Int(5)));
    assert_eq!(h.ops[0].extra["cl"], "quorum");
    assert_eq!(h.ops[1].expect, None);
    assert_eq!(h.ops[1].value, Some(Value::from("six")));
    assert_eq!(
        (h.ops[2].kind, h.ops[2].outcome, h.ops[2].complete),
        (OpKind::Append, Outcome::Info, None)
    );
    assert_eq!(h.extra.keys().collect::<Vec<_>>(), ["scenario", "final"]);
    let text = h.to_json_string();
    let again = History::from_json_str(&text).unwrap();
    assert_eq!(again, h);
    assert_eq!(again.to_json_string(), text);
    assert!(
        text.starts_with(r#"{"format": "quorumlab-history/1", "scenario": {"seed":7}"#),
        "{text}"
    );
}

fn err(doc: &str) -> HistoryError {
    History::from_json_str(doc).unwrap_err()
}

#[test]
fn validation_names_the_op_and_field() {
    assert!(matches!(err(""), HistoryError::Json { .. }));
    assert!(matches!(err("[1]"), HistoryError::TopLevel(_)));
    assert!(matches!(
        err(r#"{"format": "other", "ops": []}"#),
        HistoryError::TopLevel(_)
    ));
    let e = err(&DOC.replace(r#", "read": null"#, ""));
    // Each op of DOC starts at column 3 of its line: op id N on line N + 1.
    assert_eq!(
        e,
        HistoryError::MissingField {
            op: OpLoc::Id(4),
            field: "read",
            at: Some(Position { line: 5, column: 3 }),
        }
    );
    assert_eq!(
        e.to_string(),
        "op id 4 (line 5, column 3): missing field `read`"
    );
    let e = err(&DOC.replace(r#""kind": "delete""#, r#""kind": "drop""#));
    assert!(
        matches!(
            e,
            HistoryError::BadField {
                op: OpLoc::Id(5),
                field: "kind",
                ..
            }
        ),
        "{e}"
    );
    let e = err(&DOC.replace(r#""id": 1, "#, ""));
    assert_eq!(
        e,
        HistoryError::MissingField {
            op: OpLoc::Index(0),
            field: "id",
            at: Some(Position { line: 2, column: 3 }),
        }
    );
    let e = err(&DOC
        .replace(
            r#""complete": 900"#,
            r#""complete": 9"#.replace('9', "0").as_str(),
        )
        .replace(r#""invoke": 0,"#, r#""invoke": 10,"#));
    assert!(
        matches!(e, HistoryError::CompleteBeforeInvoke { id: 1, .. }),
        "{e}"
    );
    assert_eq!(e.position(), Some(Position { line: 2, column: 3 }), "{e}");
    let e = err(&DOC.replace(r#""id": 5"#, r#""id": 4"#));
    assert!(matches!(e, HistoryError::DuplicateId { id: 4, .. }), "{e}");
    // Found after reading, the error still names where the second op starts.
    assert_eq!(e.position(), Some(Position { line: 6, column: 3 }), "{e}");
    assert!(e.to_string().ends_with("(line 6, column 3)"), "{e}");
    // Client 0's info append never completes, so a later op of client 0 overlaps it.
    let e = err(&DOC.replace(r#""id": 5, "client": 1"#, r#""id": 5, "client": 0"#));
    assert!(
        matches!(
            e,
            HistoryError::ClientOverlap {
                client: 0,
                first: 3,
                second: 5,
                at: Some(Position { line: 6, column: 3 }),
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("op id 5 (line 6, column 3): client 0 invoked it at 1400"),
        "{e}"
    );
    let e = err(&DOC.replace(r#""value": "a""#, r#""value": 1"#));
    assert!(
        matches!(
            e,
            HistoryError::BadField {
                op: OpLoc::Id(3),
                field: "value",
                ..
            }
        ),
        "{e}"
    );
    let e = err(&DOC.replace(r#", "swapped": false"#, ""));
    assert_eq!(
        e,
        HistoryError::MissingField {
            op: OpLoc::Id(2),
            field: "swapped",
            at: Some(Position { line: 3, column: 3 }),
        }
    );
    assert!(err("\u{0}\u{1}binary")
        .to_string()
        .starts_with("not valid JSON"));
}

#[test]
fn a_repeated_key_is_refused_naming_it() {
    let e = err(r#"{"format": "quorumlab-history/1", "ops": [], "ops": []}"#);
    assert!(
        matches!(&e, HistoryError::DuplicateKey { key, line: 1, .. } if key == "ops"),
        "{e}"
    );
    let e = err(&DOC.replace(r#""id": 4,"#, r#""id": 4, "read": 7,"#));
    assert!(
        matches!(&e, HistoryError::DuplicateKey { key, line: 5, .. } if key == "read"),
        "{e}"
    );
    let e = err(&DOC.replace(r#"{"seed": 7}"#, r#"{"seed": 7, "seed": 8}"#));
    assert!(e.to_string().contains(r#"key "seed" appears twice"#), "{e}");
}

#[test]
fn mistyped_optional_fields_name_the_field_and_type() {
    let with = |field: &str| err(&DOC.replace(r#""id": 4,"#, &format!(r#""id": 4, {field},"#)));
    for (field, name, needle) in [
        (
            r#""session": "s""#,
            "session",
            "is a string, expected a non-negative integer",
        ),
        (r#""session": -1"#, "session", "is a negative integer"),
        (
            r#""timestamp": "abc""#,
            "timestamp",
            "is a string, expected an integer",
        ),
        (r#""writer": 1.5"#, "writer", "expected an integer"),
        (r#""phase": 3"#, "phase", "is an integer, expected a string"),
        (r#""gave_up": [1]"#, "gave_up", "is an array"),
    ] {
        let e = with(field);
        assert!(
            matches!(&e, HistoryError::BadField { op: OpLoc::Id(4), field: f, reason, at: Some(Position { line: 5, column: 3 }) } if *f == name && reason.contains(needle)),
            "{field}: {e}"
        );
    }
    // null means absent.
    History::from_json_str(&DOC.replace(r#""id": 4,"#, r#""id": 4, "session": null,"#)).unwrap();
    let e = err(&DOC.replace(r#""final""#, r#""replicas": "garbage", "final""#));
    assert!(
        e.to_string()
            .contains("field `replicas` is a string, expected an object"),
        "{e}"
    );
}

#[test]
fn numbers_out_of_range_are_named() {
    let e = err(&DOC.replace(r#""client": 0"#, r#""client": 9007199254740992"#));
    assert!(
        matches!(&e, HistoryError::BadField { field: "client", reason, .. } if reason.contains("absurd")),
        "{e}"
    );
    let e = err(&DOC.replace(r#""value": 5"#, r#""value": 99999999999999999999"#));
    assert!(
        e.to_string()
            .contains("99999999999999999999 is outside the 64-bit signed integer range"),
        "{e}"
    );
    // As the file writes it, not as the float serde_json read (1e23), with the op's position.
    let e = err(&DOC.replace(r#""invoke": 1200"#, r#""invoke": 100000000000000000000000"#));
    assert_eq!(
        e.to_string(),
        "op id 4 (line 5, column 3): field `invoke`: 100000000000000000000000 is outside the \
         64-bit integer range"
    );
    // A whole number written with an exponent is in range, but not written as an integer.
    let e = err(&DOC.replace(r#""value": 5"#, r#""value": 1e2"#));
    assert!(
        e.to_string()
            .contains("field `value`: 1e2 is not a 64-bit signed integer"),
        "{e}"
    );
    let e = err(&DOC.replace(r#""invoke": 1200"#, r#""invoke": 1.2e3"#));
    assert!(
        e.to_string()
            .contains("field `invoke`: 1.2e3 is not a non-negative integer"),
        "{e}"
    );
    let e = err(&DOC.replace(r#""invoke": 1200"#, r#""invoke": 1e30"#));
    assert!(
        e.to_string().contains("outside the 64-bit integer range"),
        "{e}"
    );
    let e = err(&DOC.replace(r#""client": 0"#, r#""client": -3"#));
    assert!(
        e.to_string().contains("-3 is not a non-negative integer"),
        "{e}"
    );
}
