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
