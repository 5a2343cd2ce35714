//! Property tests of the linearizability checker.
//!
//! - Histories made by applying ops one at a time, each at a random instant inside its own
//!   random interval, are always linearizable.
//! - On 10,000 small random histories with perturbed results, the checker agrees with a
//!   brute-force search written here from the format's rules alone.
//!
//! Both use a fixed seed (ChaCha8), so a failure replays exactly; the failing history is
//! printed as JSON.
use quorumlab::check::linearizable::{check, CheckOptions};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;
use common::{brute_force, perturb, sequential, Gen};

#[test]
fn sequentially_built_histories_are_linearizable() {
    let mut g = Gen(ChaCha8Rng::seed_from_u64(7));
    let opts = CheckOptions::default();
    for case in 0..1000 {
        let n = 1 + g.below(60) as usize;
        let (keys, clients) = (1 + g.below(4), 1 + g.below(6));
        let h = sequential(&mut g, n, keys, clients, case % 2 == 0);
        h.validate().unwrap();
        let r = check(&h, &opts);
        assert_eq!(
            r.verdict.linearizable(),
            Some(true),
            "case {case}:\n{}",
            h.to_json_string()
        );
    }
}

#[test]
fn agrees_with_brute_force_on_10000_small_histories() {
    let mut g = Gen(ChaCha8Rng::seed_from_u64(42));
    let opts = CheckOptions {
        threads: 1,
        ..Default::default()
    };
    let (mut yes, mut no) = (0, 0);
    for case in 0..10_000 {
        let n = 1 + g.below(7) as usize;
        let (keys, clients) = (1 + g.below(2), 1 + g.below(4));
        let mut h = sequential(&mut g, n, keys, clients, true);
        perturb(&mut g, &mut h);
        h.validate()
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{}", h.to_json_string()));
        let expected = brute_force(&h);
        let got = check(&h, &opts).verdict.linearizable();
        assert_eq!(
            got,
            Some(expected),
            "case {case} disagrees:\n{}",
            h.to_json_string()
        );
        if expected {
            yes += 1
        } else {
            no += 1
        }
    }
    println!("{yes} linearizable, {no} not");
    // Both verdicts must be well represented for the agreement to mean something.
    assert!(yes > 2000 && no > 2000, "{yes} linearizable, {no} not");
}

/// Longer histories on one key, where the pruning by pending reads and the ordering of
/// identical info ops have room to act.
#[test]
fn agrees_with_brute_force_on_longer_one_key_histories() {
    let mut g = Gen(ChaCha8Rng::seed_from_u64(4242));
    let opts = CheckOptions {
        threads: 1,
        ..Default::default()
    };
    let (mut yes, mut no) = (0, 0);
    for case in 0..2000 {
        let n = 7 + g.below(5) as usize;
        let key_count = if case % 2 == 0 { 1 } else { 2 }; // k1 holds strings (appends)
        let clients = 3 + g.below(2);
        let mut h = sequential(&mut g, n * key_count as usize, key_count, clients, true);
        // Keep one key: the integer key k0 on even cases, the string key k1 on odd ones.
        let key = if case % 2 == 0 { "k0" } else { "k1" };
        h.ops.retain(|o| o.key == key);
        perturb(&mut g, &mut h);
        h.validate()
            .unwrap_or_else(|e| panic!("case {case}: {e}\n{}", h.to_json_string()));
        let expected = brute_force(&h);
        let got = check(&h, &opts).verdict.linearizable();
        assert_eq!(
            got,
            Some(expected),
            "case {case} disagrees:\n{}",
            h.to_json_string()
        );
        if expected {
            yes += 1
        } else {
            no += 1
        }
    }
    println!("{yes} linearizable, {no} not");
    assert!(yes > 300 && no > 300, "{yes} linearizable, {no} not");
}
