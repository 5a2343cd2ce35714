//! The runner: builds a turmoil simulation from a scenario, drives the clients and the nemesis,
//! and records the history. It reaches the system under test only through the boundary of
//! [`crate::system`]: [`run`] runs a built-in one ([`crate::systems`]), [`run_system`] yours.
//!
//! The simulation is stepped by hand (`sim.step()`) so that the nemesis can crash, restart,
//! partition and skew between steps. After the workload, every fault is healed, the cluster is
//! left to settle (for `settle_ms`, or until the system says it has had no work in hand for long
//! enough: two heartbeat intervals for the reference store), and a final client asks every
//! replica for its own copy (so convergence and lost acknowledged writes can be judged before
//! any read repairs them), then reads every key through every node as strongly as the system
//! reads (`all` for the reference store).
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use quorumlab::history::{History, Op, OpKind, Outcome, Value};
use serde_json::{json, Map};

use crate::nemesis::Nemesis;
use crate::scenario::{ClientPlan, PlannedKind, Scenario, ScenarioError};
use crate::system::{
    Account, Cluster, Env, Outcome as ReplyOutcome, Phase, Reply, Request, RequestKind, Session,
    Settle, System, SystemError,
};

/// The simulated time a run may take before it is declared stuck. Clients never hang (every
/// request times out), so reaching it means a bug in the harness or the store.
const SIMULATION_LIMIT: Duration = Duration::from_secs(3600);

/// The result of running one scenario.
#[derive(Debug)]
pub struct RunOutput {
    /// The recorded history, with the scenario, the nemesis log and the final replica states
    /// as top-level fields.
    pub history: History,
    /// Simulated time the run took.
    pub simulated: Duration,
    /// The system's own account of the run: its counters (which paths it took) and the
    /// events it traced; a saved case keeps the events ([`crate::case::Case::run`]), a search
    /// that only judges the history never pays for writing them out.
    pub account: Account,
}

/// Why a scenario could not be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario is inconsistent.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The system cannot run the scenario, or could not be installed.
    #[error(transparent)]
    System(#[from] SystemError),
    /// A host in the simulation returned an error.
    #[error("simulation failed at {at:?} simulated: {message}")]
    Simulation {
        /// Simulated time of the failure.
        at: Duration,
        /// turmoil's message.
        message: String,
    },
    /// The run did not finish within the simulated time limit.
    #[error("run still going after {0:?} simulated; a client or node is stuck")]
    Stuck(Duration),
}

pub use crate::scenario::unique_value;

/// Records ops as clients complete them; ids are handed out in invocation order.
#[derive(Default)]
struct Recorder {
    next_id: u64,
    last_ns: u64,
    ops: Vec<Op>,
}

impl Recorder {
    /// The time of an invocation or completion: simulated nanoseconds, made strictly
    /// increasing. turmoil's clock moves a whole tick at a time, so a read issued the moment a
    /// write completes would otherwise carry the write's completion time and count as
    /// concurrent with it; the simulation runs one event at a time, so the order in which
    /// events are stamped is their real order.
    fn stamp(&mut self) -> u64 {
        self.last_ns = now_ns().max(self.last_ns + 1);
        self.last_ns
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }
}

type Shared<T> = Rc<RefCell<T>>;

fn now_ns() -> u64 {
    turmoil::sim_elapsed()
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Runs a scenario to completion and returns its history.
pub fn run(scenario: &Scenario) -> Result<RunOutput, RunError> {
    run_phases(scenario, true, None)
}

/// Runs a scenario's workload only: no client issues an op after `issue_until` (simulated
/// time since the start; `None` for no limit), and the run stops once every client has
/// finished, with no heal, settle or final reads. The history holds the workload's ops alone
/// and no replica states. Up to `issue_until` the run is exactly [`run`]'s; after it, only
/// ops already in flight complete. Shrinking uses it (see [`crate::shrink`]): it costs a
/// fraction of a whole run.
pub fn run_workload(
    scenario: &Scenario,
    issue_until: Option<Duration>,
) -> Result<RunOutput, RunError> {
    run_phases(scenario, false, issue_until)
}

fn run_phases(
    scenario: &Scenario,
    final_phase: bool,
    issue_until: Option<Duration>,
) -> Result<RunOutput, RunError> {
    scenario.validate()?;
    let system = crate::systems::build(&scenario.system)?;
    run_through(system.as_ref(), scenario, final_phase, issue_until)
}

/// Runs a scenario against a system of your own: everything [`run`] does, through the
/// boundary of [`crate::system`] alone. The scenario's `system` field is recorded as it is;
/// make it name your system (a [`SystemConfig::Named`](crate::scenario::SystemConfig::Named)
/// with the same node count) so that a saved case says what it ran against.
pub fn run_system(system: &dyn System, scenario: &Scenario) -> Result<RunOutput, RunError> {
    scenario.validate()?;
    run_through(system, scenario, true, None)
}

/// [`run_workload`] against a system of your own (see [`run_system`]).
pub fn run_system_workload(
    system: &dyn System,
    scenario: &Scenario,
    issue_until: Option<Duration>,
) -> Result<RunOutput, RunError> {
    scenario.validate()?;
    run_through(system, scenario, false, issue_until)
}

/// Refuses a scenario whose nodes or faults the system cannot take.
fn check_system(system: &dyn System, scenario: &Scenario) -> Result<(), RunError> {
    if system.nodes() != scenario.system.nodes() {
        return Err(RunError::System(SystemError::new(
            system.name(),
            format!(
                "has {} nodes, the scenario {}",
                system.nodes(),
                scenario.system.nodes()
            ),
        )));
    }
    if let Some((ci, i)) = scenario.first_cas().filter(|_| !system.supports_cas()) {
        return Err(RunError::System(SystemError::new(
            system.name(),
            format!(
                "does not support cas, and clients[{ci}].ops[{i}] is one (a system says it \
                 does with System::supports_cas)"
            ),
        )));
    }
    for (i, f) in scenario.faults.iter().enumerate() {
        let class = f.kind.class();
        if !system.honours(class) {
            return Err(RunError::System(SystemError::new(
                system.name(),
                format!(
                    "does not honour {} faults, and fault {i} is one",
                    class.name()
                ),
            )));
        }
    }
    Ok(())
}

fn run_through(
    system: &dyn System,
    scenario: &Scenario,
    final_phase: bool,
    issue_until: Option<Duration>,
) -> Result<RunOutput, RunError> {
    check_system(system, scenario)?;
    let mut sim = turmoil::Builder::new()
        .rng_seed(scenario.seed)
        .tick_duration(Duration::from_millis(1))
        // Every message's delay comes from the system's link model (the reference store's is
        // `LinkModel`), not from turmoil's random stream, so turmoil itself adds none.
        .min_message_latency(Duration::ZERO)
        .max_message_latency(Duration::ZERO)
        .simulation_duration(SIMULATION_LIMIT + Duration::from_secs(60))
        // turmoil's default of 64 queued datagrams per socket would drop messages under load
        // that no fault asked for.
        .udp_capacity(4096)
        .build();
    let env = Env {
        seed: scenario.seed,
        network: &scenario.network,
        trace_limit: crate::system::EVENT_LIMIT,
    };
    let cluster = system.install(&mut sim, &env)?;

    let recorder: Shared<Recorder> = Rc::default();
    // The puts issued since the last step, as (value, ms), for the faults a write arms; `None`
    // when no fault waits for one.
    let issued_writes: Option<Shared<Vec<(i64, u64)>>> = scenario
        .faults
        .iter()
        .any(|f| f.after_write.is_some())
        .then(Rc::default);
    let final_state: Shared<Map<String, serde_json::Value>> = Rc::default();
    let workload_done = Rc::new(Cell::new(false));
    let final_go = Rc::new(Cell::new(false));
    // Every client runs as a task of one turmoil host, each with its own socket: turmoil's
    // cost per step grows with the square of the host count, so one host for all clients
    // keeps runs fast. The same host then does the final reads when the runner says so.
    {
        // Shared, not cloned per client: a copy holds every client's plan, so one per client
        // made memory grow with the square of the client count.
        let scenario = Rc::new(scenario.clone());
        let (rec, final_state) = (recorder.clone(), final_state.clone());
        let issued_writes = issued_writes.clone();
        let (workload_done, final_go) = (workload_done.clone(), final_go.clone());
        let cluster = Rc::clone(&cluster);
        sim.client(CLIENT_HOST, async move {
            let mut clients = Vec::new();
            for (ci, plan) in scenario.clients.iter().enumerate() {
                let session = cluster.session().await?;
                clients.push(client_task(
                    ci,
                    plan.clone(),
                    session,
                    Rc::clone(&scenario),
                    rec.clone(),
                    issued_writes.clone(),
                    issue_until,
                ));
            }
            join_all(clients).await?;
            workload_done.set(true);
            while !final_go.get() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let session = cluster.session().await?;
            final_reads(&scenario, &*cluster, &*session, &rec, &final_state).await;
            Ok(())
        });
    }
    let client_names = vec![CLIENT_HOST.to_string()];
    let hosts: Vec<String> = (0..system.nodes()).map(|i| system.host_name(i)).collect();

    let mut nemesis = Nemesis::new(scenario, hosts);
    while !workload_done.get() {
        let now = sim.elapsed();
        if let Some(issued) = &issued_writes {
            for (value, at_ms) in issued.borrow_mut().drain(..) {
                nemesis.write_issued(value, at_ms);
            }
        }
        nemesis.apply_due(
            now.as_millis() as u64,
            now.as_nanos() as u64,
            &mut sim,
            &*cluster,
            &client_names,
        );
        step(&mut sim)?;
    }
    if final_phase {
        // Final phase: heal everything, let hints and repair settle, then read every key.
        let healed_at = sim.elapsed();
        nemesis.heal_all(
            healed_at.as_nanos() as u64,
            &mut sim,
            &*cluster,
            &client_names,
        );
        // The settle ends after settle_ms, or earlier once the system says it has been quiet
        // (for the reference store: no request waiting for replicas, no hint, no held-back
        // datagram on any node) for long enough that nothing could change before the final
        // phase: the rest of the settle would only cost simulation steps.
        let settle_until = healed_at + Duration::from_millis(scenario.settle_ms);
        let mut quiet_since: Option<Duration> = None;
        while sim.elapsed() < settle_until {
            step(&mut sim)?;
            let Settle::WhenQuietFor(quiet_for) = cluster.settle() else {
                continue;
            };
            if cluster.quiet() {
                let since = *quiet_since.get_or_insert(sim.elapsed());
                if sim.elapsed() - since >= quiet_for {
                    break;
                }
            } else {
                quiet_since = None;
            }
        }
        final_go.set(true);
        while !step(&mut sim)? {}
    }

    let mut ops = std::mem::take(&mut recorder.borrow_mut().ops);
    ops.sort_by_key(|o| o.id);
    let mut history = History::new(ops);
    history.extra.insert(
        "scenario".into(),
        serde_json::to_value(scenario).expect("a scenario always serializes"),
    );
    history.extra.insert(
        "nemesis".into(),
        serde_json::to_value(nemesis.log()).expect("nemesis entries always serialize"),
    );
    if final_phase {
        history.extra.insert(
            "replicas".into(),
            serde_json::Value::Object(std::mem::take(&mut *final_state.borrow_mut())),
        );
    }
    let account = cluster.account();
    if let Some(messages) = &account.messages {
        history.extra.insert("messages".into(), messages.clone());
    }
    Ok(RunOutput {
        history,
        simulated: sim.elapsed(),
        account,
    })
}

/// The turmoil host every client runs in.
const CLIENT_HOST: &str = "clients";

/// Sessions: one per workload client plus the final reader. A client that gave up on an op
/// (outcome info) has that op in flight forever, so, as in Jepsen, it continues under a new
/// process id: session + sessions * (infos so far). The `session` field keeps the link.
fn sessions(scenario: &Scenario) -> u64 {
    scenario.clients.len() as u64 + 1
}

/// One workload client: its planned ops, one at a time, each at its planned time or as soon
/// as the previous one completed, none after `issue_until`.
async fn client_task(
    ci: usize,
    plan: ClientPlan,
    session: Box<dyn Session>,
    scenario: Rc<Scenario>,
    rec: Shared<Recorder>,
    issued_writes: Option<Shared<Vec<(i64, u64)>>>,
    issue_until: Option<Duration>,
) -> turmoil::Result {
    let mut process = ci as u64;
    for (i, op) in plan.ops.iter().enumerate() {
        let at = Duration::from_millis(op.at_ms as u64);
        let now = turmoil::sim_elapsed().unwrap_or_default();
        if at > now {
            tokio::time::sleep(at - now).await;
        }
        if issue_until.is_some_and(|t| turmoil::sim_elapsed().unwrap_or_default() > t) {
            break;
        }
        let node = scenario.node(plan.sticky.unwrap_or(op.coordinator)) as usize;
        let key = scenario.key_name(op.key);
        let id = rec.borrow_mut().next_id();
        let invoke = rec.borrow_mut().stamp();
        let (kind, value, request) = match op.kind {
            PlannedKind::Get => (OpKind::Get, None, RequestKind::Get),
            PlannedKind::Put => {
                let v = scenario.put_value(ci, i);
                if let Some(issued) = &issued_writes {
                    let ms = turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64;
                    issued.borrow_mut().push((v, ms));
                }
                (OpKind::Put, Some(v), RequestKind::Put(v))
            }
            PlannedKind::Delete => (OpKind::Delete, None, RequestKind::Delete),
            PlannedKind::Cas { expect } => {
                let new = scenario.put_value(ci, i);
                (OpKind::Cas, Some(new), RequestKind::Cas { expect, new })
            }
        };
        let expect = match op.kind {
            PlannedKind::Cas { expect } => expect,
            _ => None,
        };
        let request = Request {
            kind: request,
            key: &key,
            phase: Phase::Workload,
        };
        let reply = session.call(node, request).await;
        let call = Call {
            id,
            process,
            session: ci as u64,
            kind,
            key: &key,
            value,
            expect,
            invoke,
        };
        let complete = rec.borrow_mut().stamp();
        let op = call.record(complete, reply).map_err(|e| e.to_string())?;
        if op.outcome == Outcome::Info {
            process += sessions(&scenario);
        }
        rec.borrow_mut().ops.push(op);
    }
    Ok(())
}

/// The final phase: every replica's own copy of every key (what convergence is judged on),
/// then every key read through every node, as strongly as the system reads.
async fn final_reads(
    scenario: &Scenario,
    cluster: &dyn Cluster,
    session: &dyn Session,
    rec: &Shared<Recorder>,
    final_state: &Shared<Map<String, serde_json::Value>>,
) {
    // Every replica's own copy first, before any final read: with blocking read repair the
    // final reads would heal what they find, and convergence would judge the repair instead
    // of what hints, anti-entropy and the write path left behind.
    for k in 0..scenario.keys {
        let key = scenario.key_name(k);
        let mut cells = Vec::new();
        for node in cluster.replicas_of(&key) {
            // An unreachable replica is recorded as such, not as one holding nothing.
            cells.push(match session.local_copy(node, &key).await {
                Ok(cell) => json!({"node": node, "cell": cell}),
                Err(e) => json!({"node": node, "error": e.to_string()}),
            });
        }
        final_state
            .borrow_mut()
            .insert(key, serde_json::Value::Array(cells));
    }
    let final_session = scenario.clients.len() as u64;
    let mut process = final_session;
    for k in 0..scenario.keys {
        let key = scenario.key_name(k);
        for n in 0..scenario.system.nodes() {
            let id = rec.borrow_mut().next_id();
            let invoke = rec.borrow_mut().stamp();
            let request = Request {
                kind: RequestKind::Get,
                key: &key,
                phase: Phase::Final,
            };
            let reply = session.call(n, request).await;
            let call = Call {
                id,
                process,
                session: final_session,
                kind: OpKind::Get,
                key: &key,
                value: None,
                expect: None,
                invoke,
            };
            let complete = rec.borrow_mut().stamp();
            // A final read the system answered as a cas is recorded as undecided (info), with
            // the mismatch as its error; the workload's ops stop the run instead.
            let mut op = call.record(complete, reply).unwrap_or_else(|e| e.op);
            op.extra.insert("phase".into(), json!("final"));
            if op.outcome == Outcome::Info {
                process += sessions(scenario);
            }
            rec.borrow_mut().ops.push(op);
        }
    }
}

/// Runs futures concurrently on the current task until all are done (or one fails), polling
/// them in a fixed order so the interleaving is deterministic.
async fn join_all(mut futures: Vec<impl Future<Output = turmoil::Result>>) -> turmoil::Result {
    let mut futures: Vec<_> = futures.drain(..).map(Box::pin).collect();
    let mut done = vec![false; futures.len()];
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, done) in futures.iter_mut().zip(done.iter_mut()) {
            if *done {
                continue;
            }
            match f.as_mut().poll(cx) {
                Poll::Ready(Ok(())) => *done = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => all = false,
            }
        }
        if all {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// One simulation step; true when every client has finished.
fn step(sim: &mut turmoil::Sim<'_>) -> Result<bool, RunError> {
    let done = sim.step().map_err(|e| RunError::Simulation {
        at: sim.elapsed(),
        message: e.to_string(),
    })?;
    if sim.elapsed() > SIMULATION_LIMIT {
        return Err(RunError::Stuck(SIMULATION_LIMIT));
    }
    Ok(done)
}

/// One client call, as the history will record it.
struct Call<'a> {
    id: u64,
    process: u64,
    session: u64,
    kind: OpKind,
    key: &'a str,
    value: Option<i64>,
    /// A cas's expected value (`None`: absent, or not a cas).
    expect: Option<i64>,
    invoke: u64,
}

/// A system answered a request with an outcome of another kind: a cas with `Ok`, or another
/// request with `Cas`. The history cannot record it truthfully, so the run stops, naming the
/// op; `op` is what would have been recorded, as info.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} (op id {id}, client {client}, key {key:?}): a cas is answered with Outcome::Cas \
     {{ swapped }}, every other request with Outcome::Ok"
)]
struct Mismatch {
    what: String,
    id: u64,
    client: u64,
    key: String,
    op: Op,
}

impl Call<'_> {
    /// The history op for this call's reply, with the system's extra fields, or the mismatch
    /// when the system answered with an outcome of another kind of request.
    fn record(&self, complete: u64, reply: Reply) -> Result<Op, Box<Mismatch>> {
        let mut op = Op::new(self.id, self.process, self.kind, self.key, self.invoke);
        op.value = self.value.map(Value::Int);
        op.expect = self.expect.map(Value::Int);
        let mut mismatch = None;
        match reply.outcome {
            ReplyOutcome::Ok { .. } | ReplyOutcome::Cas { .. }
                if (self.kind == OpKind::Cas)
                    != matches!(reply.outcome, ReplyOutcome::Cas { .. }) =>
            {
                let what = if self.kind == OpKind::Cas {
                    "the system answered a cas with Outcome::Ok, which does not say whether it \
                     swapped"
                        .to_string()
                } else {
                    format!("the system answered a {} with Outcome::Cas", self.kind)
                };
                op.outcome = Outcome::Info;
                op.extra.insert("error".into(), json!(what));
                mismatch = Some(what);
            }
            ReplyOutcome::Ok { read } => {
                op.outcome = Outcome::Ok;
                op.complete = Some(complete);
                if self.kind == OpKind::Get {
                    op.read = read.map(Value::Int);
                }
            }
            ReplyOutcome::Cas { swapped } => {
                op.outcome = Outcome::Ok;
                op.complete = Some(complete);
                op.swapped = Some(swapped);
            }
            ReplyOutcome::Fail { reason } => {
                op.outcome = Outcome::Fail;
                op.complete = Some(complete);
                op.extra.insert("error".into(), json!(reason));
            }
            ReplyOutcome::Info { reason } => {
                // The outcome is unknown, so the op has no completion; when the client gave up
                // is kept for the reader.
                op.outcome = Outcome::Info;
                op.extra.insert("error".into(), json!(reason));
                op.extra.insert("gave_up".into(), json!(complete));
            }
        }
        op.extra.insert("session".into(), json!(self.session));
        op.extra
            .insert("coordinator".into(), json!(reply.coordinator));
        for (k, v) in reply.extra {
            op.extra.insert(k, v);
        }
        match mismatch {
            None => Ok(op),
            Some(what) => Err(Box::new(Mismatch {
                what,
                id: self.id,
                client: self.session,
                key: self.key.to_string(),
                op,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(kind: OpKind, value: Option<i64>, expect: Option<i64>) -> Call<'static> {
        Call {
            id: 4,
            process: 1,
            session: 1,
            kind,
            key: "k0",
            value,
            expect,
            invoke: 10,
        }
    }

    fn reply(outcome: ReplyOutcome) -> Reply {
        Reply {
            outcome,
            coordinator: 2,
            extra: Vec::new(),
        }
    }

    #[test]
    fn a_cas_is_recorded_with_what_it_expected_and_whether_it_swapped() {
        let op = call(OpKind::Cas, Some(8), None)
            .record(20, reply(ReplyOutcome::Cas { swapped: false }))
            .unwrap();
        assert_eq!((op.outcome, op.complete), (Outcome::Ok, Some(20)));
        assert_eq!((op.value, op.expect), (Some(Value::Int(8)), None));
        assert_eq!(op.swapped, Some(false));
        let op = call(OpKind::Cas, Some(8), Some(7))
            .record(20, reply(ReplyOutcome::Info { reason: "t".into() }))
            .unwrap();
        assert_eq!((op.outcome, op.swapped), (Outcome::Info, None));
        assert_eq!(op.expect, Some(Value::Int(7)));
    }

    #[test]
    fn an_answer_of_another_kind_of_request_is_refused_naming_the_op() {
        let e = call(OpKind::Cas, Some(8), Some(7))
            .record(20, reply(ReplyOutcome::Ok { read: None }))
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("the system answered a cas with Outcome::Ok")
                && text.contains("op id 4, client 1, key \"k0\""),
            "{text}"
        );
        // What would have been recorded is undecided, with the reason.
        assert_eq!(e.op.outcome, Outcome::Info);
        let e = call(OpKind::Get, None, None)
            .record(20, reply(ReplyOutcome::Cas { swapped: true }))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the system answered a get with Outcome::Cas"),
            "{e}"
        );
    }
}
