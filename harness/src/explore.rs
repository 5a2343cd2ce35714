//! Exploring: run many generated scenarios until one breaks an expected guarantee, then shrink
//! it with proptest to the smallest scenario that still breaks it.
use std::cell::{Cell, RefCell};

use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::case::Case;
use crate::runner::RunError;
use crate::scenario::Scenario;
use crate::strategy::{scenario, ScenarioShape};
use crate::verdict::judge;
use quorumlab::check::Guarantee;

/// What to explore.
#[derive(Clone, Debug)]
pub struct ExploreOptions {
    /// The shape of generated scenarios.
    pub shape: ScenarioShape,
    /// The guarantees that should hold.
    pub expect: Vec<Guarantee>,
    /// How many scenarios to try.
    pub cases: u32,
    /// Seeds the search: the same seed and options try the same scenarios in the same order.
    pub seed: u64,
    /// Most shrink steps (each a full run) before settling for the smallest failure so far.
    pub max_shrink_iters: u32,
}

/// Progress reported while exploring.
pub trait Progress {
    /// A generated case finished (`n` cases so far).
    fn case_done(&self, _n: u32) {}
    /// A failure was found after `n` cases; shrinking starts.
    fn shrinking(&self, _n: u32) {}
    /// One shrink step ran.
    fn shrink_step(&self, _steps: u32, _ops: usize) {}
    /// A scenario ran (a search case or a shrink step) and recorded this history.
    fn case_run(&self, _history: &quorumlab::history::History) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// The result of an exploration.
#[derive(Debug)]
pub enum Outcome {
    /// Every case kept every expected guarantee.
    Held {
        /// Cases run.
        cases: u32,
    },
    /// A case broke a guarantee; this is the shrunk case.
    Found {
        /// Cases run up to and including the first failure.
        cases_to_failure: u32,
        /// Shrink steps run.
        shrink_steps: u32,
        /// The shrunk case, rerun and judged.
        case: Box<Case>,
        /// The scenario as first found, before shrinking.
        original: Box<Scenario>,
    },
}

/// The proptest RNG for a search seed.
pub fn search_rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"quorumlb");
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Generates the scenario a search seed yields first (what `quorumlab run --seed` runs).
pub fn generate(shape: &ScenarioShape, seed: u64) -> Scenario {
    generate_with(&scenario(shape), seed)
}

/// Generates the scenario a search seed yields first from any scenario strategy.
pub fn generate_with<S: proptest::strategy::Strategy<Value = Scenario>>(
    strategy: &S,
    seed: u64,
) -> Scenario {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new_with_rng(Config::default(), search_rng(seed));
    let mut s = strategy
        .new_tree(&mut runner)
        .expect("scenario strategies never reject")
        .current();
    s.seed = seed;
    s
}

/// Searches for a violation of the expected guarantees.
pub fn explore(options: &ExploreOptions, progress: &dyn Progress) -> Result<Outcome, RunError> {
    let config = Config {
        cases: options.cases,
        max_shrink_iters: options.max_shrink_iters,
        failure_persistence: None,
        // Each case is a whole simulation; proptest's own time limits do not apply.
        max_shrink_time: 0,
        timeout: 0,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, search_rng(options.seed));
    let cases = Cell::new(0u32);
    let failed_at = Cell::new(None::<u32>);
    let shrink_steps = Cell::new(0u32);
    let original = RefCell::new(None::<Scenario>);
    let run_error = RefCell::new(None::<RunError>);
    let expect = options.expect.clone();

    let result = runner.run(&scenario(&options.shape), |s| {
        if failed_at.get().is_some() {
            shrink_steps.set(shrink_steps.get() + 1);
            progress.shrink_step(shrink_steps.get(), s.op_count());
        } else {
            cases.set(cases.get() + 1);
        }
        let outcome = crate::runner::run(&s);
        if let Ok(out) = &outcome {
            progress.case_run(&out.history);
        }
        let verdict = match outcome {
            Ok(out) => judge(&out.history, &expect),
            Err(e) => {
                // A run that cannot finish is a failure of its own; keep the first, and let
                // proptest shrink it like any other.
                let msg = e.to_string();
                run_error.borrow_mut().get_or_insert(e);
                note_failure(&failed_at, &cases, &original, &s, progress);
                return Err(TestCaseError::fail(msg));
            }
        };
        if failed_at.get().is_none() {
            progress.case_done(cases.get());
        }
        let violated = verdict.violated();
        if violated.is_empty() {
            Ok(())
        } else {
            note_failure(&failed_at, &cases, &original, &s, progress);
            let names: Vec<_> = violated.iter().map(|g| g.name()).collect();
            Err(TestCaseError::fail(format!(
                "violated: {}",
                names.join(", ")
            )))
        }
    });

    match result {
        Ok(()) => Ok(Outcome::Held { cases: cases.get() }),
        Err(TestError::Abort(why)) => Err(RunError::Simulation {
            at: Default::default(),
            message: format!("exploration aborted: {why}"),
        }),
        Err(TestError::Fail(_, shrunk)) => {
            // Rerun the shrunk scenario: its history and witness are what gets saved.
            let case = Case::run(&shrunk, &options.expect)?;
            Ok(Outcome::Found {
                cases_to_failure: failed_at.get().unwrap_or(cases.get()),
                shrink_steps: shrink_steps.get(),
                case: Box::new(case),
                original: Box::new(original.into_inner().unwrap_or(shrunk)),
            })
        }
    }
}

fn note_failure(
    failed_at: &Cell<Option<u32>>,
    cases: &Cell<u32>,
    original: &RefCell<Option<Scenario>>,
    s: &Scenario,
    progress: &dyn Progress,
) {
    if failed_at.get().is_none() {
        failed_at.set(Some(cases.get()));
        *original.borrow_mut() = Some(s.clone());
        progress.shrinking(cases.get());
    }
}

/// Shrinks the scenario that `generate(shape, seed)` yields while `still_fails` holds, as
/// proptest's runner would (simplify after a failure, complicate after a pass), for at most
/// `max_steps` runs. Returns the smallest failing scenario found and the steps taken.
pub fn shrink_generated(
    shape: &ScenarioShape,
    seed: u64,
    max_steps: u32,
    still_fails: impl FnMut(&Scenario) -> bool,
) -> (Scenario, u32) {
    shrink_with(&scenario(shape), seed, max_steps, still_fails)
}

/// [`shrink_generated`] for any scenario strategy.
pub fn shrink_with<S: proptest::strategy::Strategy<Value = Scenario>>(
    strategy: &S,
    seed: u64,
    max_steps: u32,
    mut still_fails: impl FnMut(&Scenario) -> bool,
) -> (Scenario, u32) {
    use proptest::strategy::ValueTree;
    let mut runner = TestRunner::new_with_rng(Config::default(), search_rng(seed));
    let mut tree = strategy
        .new_tree(&mut runner)
        .expect("scenario strategies never reject");
    let with_seed = |mut s: Scenario| {
        s.seed = seed;
        s
    };
    let mut best = with_seed(tree.current());
    let mut steps = 0;
    if !tree.simplify() {
        return (best, steps);
    }
    while steps < max_steps {
        steps += 1;
        let candidate = with_seed(tree.current());
        let more = if still_fails(&candidate) {
            best = candidate;
            tree.simplify()
        } else {
            tree.complicate()
        };
        if !more {
            break;
        }
    }
    (best, steps)
}
