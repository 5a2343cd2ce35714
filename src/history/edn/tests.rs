use super::*;

fn edn(text: &str) -> History {
    parse(text, Some(Value::Int(0))).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pairs_invocations_with_completions() {
    let h = edn("{:process 0 :type :invoke :f :write :value 3}
         {:process :nemesis :type :info :f :start :value nil}
         {:process 1 :type :invoke :f :cas :value [3 4]}
         {:process 0 :type :ok :f :write :value 3}
         {:process 1 :type :fail :f :cas :value [3 4]}
         {:process 2 :type :invoke :f :read :value nil}
         {:process 2 :type :ok :f :read :value nil}
         {:process 3 :type :invoke :f :read :value nil}");
    assert_eq!(h.ops.len(), 5);
    assert_eq!(h.ops[0].id, 0);
    assert_eq!(
        h.ops[0].client, 4,
        "the initial op's client comes after every process"
    );
    assert_eq!(h.ops[1].kind, OpKind::Put);
    assert_eq!((h.ops[1].invoke, h.ops[1].complete), (1, Some(4)));
    // Jepsen: a failed cas did not take place.
    assert_eq!(h.ops[2].outcome, Outcome::Fail);
    assert_eq!(h.ops[2].swapped, None);
    assert_eq!(h.ops[2].expect, Some(Value::Int(3)));
    assert_eq!(h.ops[3].outcome, Outcome::Info);
    assert_eq!(h.ops[4].complete, None);
    let nemesis = h.extra["nemesis"].as_array().unwrap();
    assert_eq!(nemesis.len(), 1);
    assert_eq!(nemesis[0]["f"], ":start");
    assert_eq!(nemesis[0]["time"], 2);
}

#[test]
fn stricter_failed_cas_is_a_flag() {
    let text = "[{:process 1 :type :invoke :f :cas :value [3 4]}
                 {:process 1 :type :fail :f :cas :value [3 4]}]";
    let h = parse_with(
        text,
        &EdnOptions {
            fail_cas_did_not_swap: true,
            ..EdnOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (h.ops[0].outcome, h.ops[0].swapped),
        (Outcome::Ok, Some(false))
    );
}

#[test]
fn a_crashed_process_comes_back_as_a_new_logical_process() {
    let h = edn("[{:process 0 :type :invoke :f :write :value 1}
         {:process 0 :type :info :f :write :value 1}
         {:process 0 :type :invoke :f :read :value nil}
         {:process 0 :type :ok :f :read :value 1}
         {:process 5 :type :info :f :read :value nil}]");
    let w = &h.ops[1];
    assert_eq!((w.client, w.outcome, w.complete), (0, Outcome::Info, None));
    assert_eq!(w.extra["gave_up"], 2);
    let r = &h.ops[2];
    assert_eq!(
        r.client, 7,
        "past processes 0..=5 and the initial op's client 6"
    );
    assert_eq!(r.extra["process"], 0);
    assert_eq!(h.ops.len(), 3, "an :info of an idle process adds no op");
}

#[test]
fn errors_name_the_element() {
    let e = parse(
        "[{:process 0 :type :invoke :f :read}\n {:process 0 :type",
        None,
    )
    .unwrap_err();
    assert!(matches!(e, HistoryError::Edn { line: 2, .. }), "{e}");
    // Inside the usual vector of maps, the element's own line and column.
    let e = parse(
        "[{:process 0 :type :invoke :f :read}\n  {:process 0 :type :ok :f :incr}]",
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            HistoryError::Edn {
                line: 2,
                column: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(parse("[{:process 0 :type :invoke :f :incr :value 1}]", None).is_err());
    assert!(parse("{:a}", None).is_err());
}

#[test]
fn empty_input_is_refused() {
    for text in ["", "  \n\t ", "; only a comment\n", "#_ [1 2]"] {
        let e = parse(text, None).unwrap_err();
        assert!(
            e.to_string().contains("the input is empty"),
            "{text:?}: {e}"
        );
    }
    assert!(parse("[]", None).unwrap().ops.is_empty());
}

#[test]
fn process_numbers_are_checked() {
    let e = parse("[{:process -1 :type :invoke :f :read}]", None).unwrap_err();
    assert!(e.to_string().contains("negative process number -1"), "{e}");
    let e = parse(
        "[{:process 0 :type :invoke :f :read}\n {:process 99999999999 :type :invoke :f :read}]",
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("process number 99999999999 is absurd")
            && matches!(
                e,
                HistoryError::Edn {
                    line: 2,
                    column: 2,
                    ..
                }
            ),
        "{e}"
    );
    let e = parse(
        "[{:process 0 :type :invoke :f :write :value 123456789012345678901}]",
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("123456789012345678901"), "{e}");
}

#[test]
fn deep_nesting_is_an_error() {
    let n = 200_000;
    let text = format!("[{{:process 0 :value {}{}}}]", "[".repeat(n), "]".repeat(n));
    let e = parse(&text, None).unwrap_err();
    assert!(e.to_string().contains("nested more than"), "{e}");
}

#[test]
fn a_process_is_an_integer_or_a_keyword() {
    // A keyword names a process that is not a client, as Jepsen allows: kept, not an op.
    let h = edn("[{:process :clock-skewer :type :info :f :bump :value 5}
                  {:process 0 :type :invoke :f :read}]");
    assert_eq!(h.ops.len(), 2, "the initial op and the read");
    assert_eq!(h.extra["nemesis"][0]["process"], ":clock-skewer");
    for bad in ["1.5", "\"p1\"", "nil", "[0]"] {
        let text = format!(
            "[{{:process 0 :type :invoke :f :read}}\n {{:process {bad} :type :invoke :f :read}}]"
        );
        let e = parse(&text, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("is neither an integer (a client) nor a keyword")
                && matches!(
                    e,
                    HistoryError::Edn {
                        line: 2,
                        column: 2,
                        ..
                    }
                ),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_key_given_twice_is_refused_naming_it() {
    let e = parse(
        "[{:process 0 :type :invoke :f :write :value 1}\n {:process 0 :type :ok :f :write :value 1 :type :fail}]",
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("the key \":type\" appears twice in one map")
            && matches!(
                e,
                HistoryError::Edn {
                    line: 2,
                    column: 43,
                    ..
                }
            ),
        "{e}"
    );
    // Keys of any kind, nested maps too.
    assert!(parse("[{:process 0 :value {1 :a 1 :b}}]", None)
        .unwrap_err()
        .to_string()
        .contains("the key 1 appears twice"));
}

#[test]
fn jepsen_times_are_used_when_every_element_has_one() {
    let text = "[{:process 0 :type :invoke :f :write :value 1 :time 1000}
                 {:process :nemesis :type :info :f :start :value nil :time 1500}
                 {:process 0 :type :ok :f :write :value 1 :time 2000}
                 {:process 1 :type :invoke :f :read :value nil :time 2500}
                 {:process 1 :type :ok :f :read :value 2 :time 3000}]";
    let h = edn(text);
    assert_eq!((h.ops[1].invoke, h.ops[1].complete), (1000, Some(2000)));
    assert_eq!((h.ops[2].invoke, h.ops[2].complete), (2500, Some(3000)));
    assert_eq!(h.extra["nemesis"][0]["time"], 1500);
    assert_eq!(h.time_unit(), crate::history::TimeUnit::Nanos);
    let report =
        crate::check::linearizable::check(&h, &crate::check::linearizable::CheckOptions::default());
    let crate::check::linearizable::Verdict::Violation(w) = report.verdict else {
        panic!("reads 2, never written")
    };
    assert!(
        w.sentence
            .starts_with("get#2 by client 1 [0.0025..0.003 ms]"),
        "{}",
        w.sentence
    );

    // One element without :time, or clients' times that do not increase: positions.
    for text in [
        text.replace(" :time 1500", ""),
        text.replace(":time 2500", ":time 2000"),
    ] {
        let h = edn(&text);
        assert_eq!((h.ops[1].invoke, h.ops[1].complete), (1, Some(3)));
        assert_eq!(h.extra["nemesis"][0]["time"], 2);
        assert_eq!(h.time_unit(), crate::history::TimeUnit::Position);
        let report = crate::check::linearizable::check(
            &h,
            &crate::check::linearizable::CheckOptions::default(),
        );
        let crate::check::linearizable::Verdict::Violation(w) = report.verdict else {
            panic!("reads 2, never written")
        };
        assert!(
            w.sentence
                .starts_with("get#2 by client 1 [positions 4..5] read 2")
                && !w.sentence.contains(" ms"),
            "{}",
            w.sentence
        );
    }
}
