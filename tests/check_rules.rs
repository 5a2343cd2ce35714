//! Hand-written histories for every rule of the format, each with both verdicts.
//!
//! Ops are written one per line: `id client kind key [value|expect=>new] invoke..complete
//! outcome [read|swapped|noswap]`, e.g. `2 c1 get x 20..30 ok 5` or `3 c0 put x 7 5.. info`.
//! `nil` is the absent value; words that are not integers are strings.
use std::time::Duration;

use quorumlab::check::linearizable::{check, CheckOptions, Undecided, Verdict};
use quorumlab::history::{History, Op, OpKind, Outcome, Value};

fn val(s: &str) -> Option<Value> {
    (s != "nil").then(|| Value::parse_cli(s))
}

fn h(text: &str) -> History {
    let mut ops = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let t: Vec<&str> = line.split_whitespace().collect();
        let kind = OpKind::from_name(t[2]).unwrap();
        let mut i = 4;
        let mut op = Op::new(
            t[0].parse().unwrap(),
            t[1][1..].parse().unwrap(),
            kind,
            t[3],
            0,
        );
        match kind {
            OpKind::Put | OpKind::Append => {
                op.value = val(t[i]);
                i += 1;
            }
            OpKind::Cas => {
                let (e, n) = t[i].split_once("=>").unwrap();
                op.expect = val(e);
                op.value = val(n);
                i += 1;
            }
            _ => {}
        }
        let (a, b) = t[i].split_once("..").unwrap();
        op.invoke = a.parse().unwrap();
        op.complete = b.parse().ok();
        op.outcome = Outcome::from_name(t[i + 1]).unwrap();
        if let Some(r) = t.get(i + 2) {
            match *r {
                "swapped" => op.swapped = Some(true),
                "noswap" => op.swapped = Some(false),
                r => op.read = val(r),
            }
        }
        ops.push(op);
    }
    let h = History::new(ops);
    h.validate().unwrap();
    h
}

fn lin(text: &str) -> Option<bool> {
    check(&h(text), &CheckOptions::default())
        .verdict
        .linearizable()
}

#[test]
fn read_after_write() {
    assert_eq!(
        lin("1 c0 put x 1 0..10 ok\n 2 c1 get x 20..30 ok 1"),
        Some(true)
    );
    assert_eq!(
        lin("1 c0 put x 1 0..10 ok\n 2 c1 get x 20..30 ok nil"),
        Some(false)
    );
}

#[test]
fn concurrent_read_sees_old_or_new() {
    let w = "1 c0 put x 1 0..10 ok\n 2 c0 put x 2 20..40 ok\n";
    assert_eq!(lin(&format!("{w} 3 c1 get x 25..30 ok 1")), Some(true));
    assert_eq!(lin(&format!("{w} 3 c1 get x 25..30 ok 2")), Some(true));
    assert_eq!(lin(&format!("{w} 3 c1 get x 45..50 ok 1")), Some(false));
}

#[test]
fn real_time_order_of_writes() {
    // Sequential writes: the later one wins.
    let seq = "1 c0 put x 1 0..10 ok\n 2 c1 put x 2 20..30 ok\n 3 c2 get x 40..50 ok 1";
    assert_eq!(lin(seq), Some(false));
    // Overlapping writes: either order.
    let ovl = "1 c0 put x 1 0..30 ok\n 2 c1 put x 2 10..20 ok\n 3 c2 get x 40..50 ok 1";
    assert_eq!(lin(ovl), Some(true));
    // Touching intervals (complete == invoke) count as concurrent.
    let touch = "1 c0 put x 1 0..10 ok\n 2 c1 put x 2 10..20 ok\n 3 c2 get x 30..40 ok 1";
    assert_eq!(lin(touch), Some(true));
}

#[test]
fn absent_key_reads_null() {
    assert_eq!(lin("1 c0 get x 0..10 ok nil"), Some(true));
    assert_eq!(lin("1 c0 get x 0..10 ok 3"), Some(false));
}

#[test]
fn keys_are_independent() {
    let ok = "1 c0 put x 1 0..10 ok\n 2 c1 put y 2 0..10 ok\n 3 c2 get x 20..30 ok 1\n 4 c3 get y 20..30 ok 2";
    assert_eq!(lin(ok), Some(true));
    let bad = "1 c0 put x 1 0..10 ok\n 2 c1 put y 2 0..10 ok\n 3 c2 get x 20..30 ok 2";
    let r = check(&h(bad), &CheckOptions::default());
    assert_eq!(r.keys, 2);
    let Verdict::Violation(w) = r.verdict else {
        panic!("expected a violation")
    };
    assert_eq!((w.key.as_str(), w.op), ("x", 3));
}

#[test]
fn delete_makes_absent() {
    let base = "1 c0 put x 1 0..10 ok\n 2 c0 delete x 20..30 ok\n";
    assert_eq!(lin(&format!("{base} 3 c1 get x 40..50 ok nil")), Some(true));
    assert_eq!(lin(&format!("{base} 3 c1 get x 40..50 ok 1")), Some(false));
}

#[test]
fn append_concatenates() {
    let base = "1 c0 append x a 0..10 ok\n 2 c0 append x b 20..30 ok\n";
    assert_eq!(lin(&format!("{base} 3 c1 get x 40..50 ok ab")), Some(true));
    assert_eq!(lin(&format!("{base} 3 c1 get x 40..50 ok ba")), Some(false));
    // Concurrent appends: either order, but not both orders.
    let conc = "1 c0 append x a 0..30 ok\n 2 c1 append x b 0..30 ok\n";
    assert_eq!(lin(&format!("{conc} 3 c2 get x 40..50 ok ba")), Some(true));
    assert_eq!(
        lin(&format!(
            "{conc} 3 c2 get x 40..50 ok ba\n 4 c3 get x 40..50 ok ab"
        )),
        Some(false)
    );
    // Appending to an integer cannot happen.
    assert_eq!(
        lin("1 c0 put x 5 0..10 ok\n 2 c1 append x a 20..30 ok"),
        Some(false)
    );
}

#[test]
fn cas_swaps_only_on_match() {
    let base = "1 c0 put x 1 0..10 ok\n";
    assert_eq!(
        lin(&format!(
            "{base} 2 c1 cas x 1=>2 20..30 ok swapped\n 3 c2 get x 40..50 ok 2"
        )),
        Some(true)
    );
    assert_eq!(
        lin(&format!("{base} 2 c1 cas x 3=>2 20..30 ok swapped")),
        Some(false)
    );
    assert_eq!(
        lin(&format!(
            "{base} 2 c1 cas x 3=>2 20..30 ok noswap\n 3 c2 get x 40..50 ok 1"
        )),
        Some(true)
    );
    assert_eq!(
        lin(&format!("{base} 2 c1 cas x 1=>2 20..30 ok noswap")),
        Some(false)
    );
    // expect null: swaps on an absent key.
    assert_eq!(
        lin("1 c0 cas x nil=>7 0..10 ok swapped\n 2 c1 get x 20..30 ok 7"),
        Some(true)
    );
    assert_eq!(lin("1 c0 cas x nil=>7 0..10 ok noswap"), Some(false));
}

#[test]
fn info_ops_may_take_effect_later_or_never() {
    // Took effect after completing the read that missed it.
    let later = "1 c0 put x 5 0.. info\n 2 c1 get x 10..20 ok nil\n 3 c1 get x 30..40 ok 5";
    assert_eq!(lin(later), Some(true));
    // Never took effect.
    assert_eq!(
        lin("1 c0 put x 5 0.. info\n 2 c1 get x 10..20 ok nil"),
        Some(true)
    );
    // Not before it was invoked.
    assert_eq!(
        lin("1 c1 get x 0..10 ok 5\n 2 c0 put x 5 20.. info"),
        Some(false)
    );
    // Once seen it stays (no flip-flop without another write).
    let flip = "1 c0 put x 5 0.. info\n 2 c1 get x 10..20 ok 5\n 3 c1 get x 30..40 ok nil";
    assert_eq!(lin(flip), Some(false));
    // An info cas may have swapped.
    let cas = "1 c0 put x 1 0..5 ok\n 2 c1 cas x 1=>2 10.. info\n 3 c2 get x 20..30 ok 2";
    assert_eq!(lin(cas), Some(true));
    // An info op with a completion time is still open-ended.
    let done = "1 c0 put x 5 0..10 info\n 2 c1 get x 20..30 ok nil\n 3 c1 get x 40..50 ok 5";
    assert_eq!(lin(done), Some(true));
}

#[test]
fn fail_ops_are_dropped() {
    assert_eq!(
        lin("1 c0 put x 5 0..10 fail\n 2 c1 get x 20..30 ok nil"),
        Some(true)
    );
    assert_eq!(
        lin("1 c0 put x 5 0..10 fail\n 2 c1 get x 20..30 ok 5"),
        Some(false)
    );
}

#[test]
fn gets_without_a_result_constrain_nothing() {
    let base = "1 c0 put x 1 0..10 ok\n 2 c1 get x 20..30 ok 1\n";
    assert_eq!(lin(&format!("{base} 3 c2 get x 40..50 fail")), Some(true));
    assert_eq!(lin(&format!("{base} 3 c2 get x 40.. info")), Some(true));
    assert_eq!(
        lin(&format!(
            "{base} 3 c2 get x 40.. info\n 4 c1 get x 40..50 ok 9"
        )),
        Some(false)
    );
}

#[test]
fn unobserved_info_writes_do_not_blow_up() {
    // 300 concurrent info puts of values no one reads, around a violation and around a
    // linearizable core: both answers must come, not a timeout.
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "{} c{} put x {} 0.. info\n",
            100 + i,
            100 + i,
            1000 + i
        ));
    }
    let ok = format!("{text} 1 c0 put x 1 10..20 ok\n 2 c1 get x 30..40 ok 1");
    let bad = format!("{text} 1 c0 put x 1 10..20 ok\n 2 c1 get x 30..40 ok 2");
    let opts = CheckOptions {
        timeout: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    assert_eq!(check(&h(&ok), &opts).verdict.linearizable(), Some(true));
    assert_eq!(check(&h(&bad), &opts).verdict.linearizable(), Some(false));
}

/// Many concurrent writes and a read of a value never written: a large search.
fn hard() -> History {
    let mut text = String::new();
    for i in 0..24 {
        text.push_str(&format!("{i} c{i} put x {i} 0..100 ok\n"));
        text.push_str(&format!(
            "{} c{} get x 0..100 ok {}\n",
            100 + i,
            100 + i,
            (i * 7) % 24
        ));
    }
    text.push_str("999 c999 get x 200..300 ok 77\n");
    h(&text)
}

#[test]
fn timeout_gives_unknown() {
    let opts = CheckOptions {
        timeout: Some(Duration::ZERO),
        ..Default::default()
    };
    let r = check(&hard(), &opts);
    assert_eq!(r.verdict, Verdict::Unknown(Undecided::Timeout));
}

#[test]
fn memo_limit_gives_unknown() {
    let opts = CheckOptions {
        memo_limit_bytes: 64 * 1024,
        threads: 1,
        ..Default::default()
    };
    let r = check(&hard(), &opts);
    assert!(
        matches!(r.verdict, Verdict::Unknown(Undecided::MemoLimit { .. })),
        "{:?}",
        r.verdict
    );
}

#[test]
fn witness_explains_a_stale_read() {
    let text =
        "38 c1 put x 6 1000..1100 ok\n 37 c2 put x 5 900..950 ok\n 41 c3 get x 1200..1350 ok 5";
    let r = check(&h(text), &CheckOptions::default());
    let Verdict::Violation(w) = r.verdict else {
        panic!("expected a violation")
    };
    assert_eq!(w.op, 41);
    assert_eq!(
        w.prefix.iter().map(|s| s.op).collect::<Vec<_>>(),
        vec![37, 38]
    );
    assert_eq!(w.prefix[1].state, Some(serde_json::json!(6)));
    assert_eq!(
        w.sentence,
        "get#41 by client 3 [0.0012..0.00135 ms] read 5, but put#38 of 6 completed at 0.0011 ms, before the \
         read began, and no write of 5 can be ordered between them"
    );
    let j = serde_json::to_value(&*w).unwrap();
    assert_eq!(j["key"], "x");
    assert_eq!(j["prefix"][0], serde_json::json!({"op": 37, "state": 5}));
}

#[test]
fn invalid_history_is_undecided_not_a_panic() {
    let mut hist = h("1 c0 put x 1 0..10 ok");
    hist.ops.push(hist.ops[0].clone());
    let r = check(&hist, &CheckOptions::default());
    assert!(matches!(r.verdict, Verdict::Unknown(Undecided::Invalid(_))));
}

/// The search prunes states from which the next read can no longer be reached: appends only
/// grow the value, and only a write not yet linearized can set it back.
#[test]
fn next_read_pruning_keeps_both_verdicts() {
    // Concurrent appends before a read: only the order the read shows works, and the append
    // it does not show must come after it.
    let apps = "1 c0 append x a 0..50 ok\n 2 c1 append x b 0..50 ok\n 3 c2 append x c 0..50 ok\n";
    assert_eq!(lin(&format!("{apps} 4 c3 get x 10..20 ok ca")), Some(true));
    assert_eq!(
        lin(&format!(
            "{apps} 4 c3 get x 10..20 ok ca\n 5 c3 get x 60..70 ok cab"
        )),
        Some(true)
    );
    assert_eq!(
        lin(&format!(
            "{apps} 4 c3 get x 10..20 ok ca\n 5 c3 get x 60..70 ok acb"
        )),
        Some(false)
    );
    // A put that resets the value lets a shorter read follow a longer one, but only while
    // that put is not yet linearized.
    let reset = "1 c0 append x a 0..10 ok\n 2 c1 append x b 20..30 ok\n 3 c2 put x a 15..60 ok\n";
    assert_eq!(
        lin(&format!(
            "{reset} 4 c3 get x 35..40 ok ab\n 5 c3 get x 70..80 ok a"
        )),
        Some(true)
    );
    assert_eq!(
        lin(&format!(
            "{reset} 4 c3 get x 35..40 ok ab\n 5 c3 get x 45..50 ok a\n 6 c3 get x 70..80 ok ab"
        )),
        Some(false)
    );
    // An info put may be the write that sets the value back.
    let info = "1 c0 put x 1 0..10 ok\n 2 c1 put x 2 20..30 ok\n 3 c2 put x 1 15.. info\n";
    assert_eq!(lin(&format!("{info} 4 c3 get x 40..50 ok 1")), Some(true));
    assert_eq!(
        lin("1 c0 put x 1 0..10 ok\n 2 c1 put x 2 20..30 ok\n 4 c3 get x 40..50 ok 1"),
        Some(false)
    );
}

/// A write may not leave a value that a read still to be linearized returns, unless some
/// write not yet linearized can bring it back.
#[test]
fn leaving_a_pinned_value_keeps_both_verdicts() {
    // Both reads of 1 overlap put 2: they fit before it.
    let ok = "1 c0 put x 1 0..10 ok\n 2 c1 put x 2 20..60 ok\n 3 c2 get x 15..50 ok 1\n \
              4 c3 get x 30..55 ok 1\n 5 c2 get x 70..80 ok 2";
    assert_eq!(lin(ok), Some(true));
    // The second read of 1 starts after a read of 2 ended: put 2 had to leave 1 earlier.
    let bad = "1 c0 put x 1 0..10 ok\n 2 c1 put x 2 20..60 ok\n 3 c2 get x 25..30 ok 2\n \
               4 c3 get x 35..55 ok 1";
    assert_eq!(lin(bad), Some(false));
    // Another put of 1 can restore it.
    let again = format!("{bad}\n 5 c4 put x 1 31..40 ok");
    assert_eq!(lin(&again), Some(true));
    // The witness names the read that the write rules out.
    let Verdict::Violation(w) = check(&h(bad), &CheckOptions::default()).verdict else {
        panic!("expected a violation")
    };
    assert_eq!(w.op, 4);
}

/// Info ops with the same input are interchangeable once invoked: the search tries them in
/// invocation order only, and still finds every verdict.
#[test]
fn identical_info_ops_keep_both_verdicts() {
    // Two info puts of 5: one before the read of 5, one after the read of 6.
    let two = "1 c0 put x 5 0.. info\n 2 c1 put x 5 5.. info\n 3 c2 put x 6 0..10 ok\n \
               4 c3 get x 20..30 ok 5\n 5 c3 put x 6 40..50 ok\n 6 c3 get x 60..70 ok 6\n \
               7 c3 get x 80..90 ok 5";
    assert_eq!(lin(two), Some(true));
    // Three reads of 5 separated by writes of 6 need three puts of 5; there are two.
    let short = format!("{two}\n 8 c3 put x 6 100..110 ok\n 9 c3 get x 120..130 ok 5");
    assert_eq!(lin(&short), Some(false));
    let enough = format!("{short}\n 10 c4 put x 5 0.. info");
    assert_eq!(lin(&enough), Some(true));
    // The later twin is invoked after the read it would have to explain.
    let late = "1 c0 put x 5 0.. info\n 2 c1 put x 5 35.. info\n 3 c2 put x 6 0..10 ok\n \
                4 c3 get x 20..30 ok 5\n 5 c3 put x 6 40..50 ok\n 6 c3 get x 60..70 ok 6\n \
                7 c3 get x 80..90 ok 5\n 8 c3 get x 91..92 ok 5";
    assert_eq!(lin(late), Some(true));
    let too_late = "1 c0 put x 5 0.. info\n 2 c1 put x 5 95.. info\n 3 c2 put x 6 0..10 ok\n \
                    4 c3 get x 20..30 ok 5\n 5 c3 put x 6 40..50 ok\n 6 c3 get x 60..70 ok 6\n \
                    7 c3 get x 80..90 ok 5";
    assert_eq!(lin(too_late), Some(false));
}
