//! Reading a scenario, from a scenario file or a saved case, straight into its types.
//!
//! No JSON tree is built: a saved case's ops, events and witnesses are skipped as they are read
//! ([`IgnoredAny`]), so reading the scenario of a 31 MB case costs about the scenario's own size.
//! Every list is refused the moment it passes its limit (see [`super::limits`]), before it grows
//! further, and grows by fallible allocation, so a file of a million faults is refused after the
//! thousand-and-first instead of being built first. Duplicate keys and unknown fields are
//! refused too, and every error names the field's path in the file
//! (`scenario.clients[3].ops[7].at_ms`).
use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;

use super::{
    limits, ClientPlan, Fault, NetworkConfig, PlannedOp, Scenario, ScenarioError, SystemConfig,
    SystemSpec, SCENARIO_FORMAT,
};
use crate::systems::leaderless::StoreConfig;

/// What a scenario file or a saved case holds that a run needs.
#[derive(Debug)]
pub struct Header {
    /// The scenario, parsed but not yet validated.
    pub scenario: Scenario,
    /// The guarantees a saved case was judged on (its `expect` field), when it names them.
    pub expect: Option<Vec<String>>,
}

/// The most entries a saved case's `expect` list may have: a guarantee appears at most once.
const MAX_EXPECT: u64 = 64;

/// Reads the scenario (and a case's `expect`) from the text of a scenario file or any JSON
/// object with a `scenario` field, such as a saved case; other top-level fields are skipped
/// unread. The scenario is not validated here: see [`Scenario::validate`].
pub fn header(text: &str) -> Result<Header, ScenarioError> {
    let mut json = serde_json::Deserializer::from_str(text);
    let top = with_path(&mut json, FileVisitor)?;
    json.end()
        .map_err(|e| ScenarioError::Json(format!("after the top-level object: {e}")))?;
    if let Some(found) = top.format {
        if found != SCENARIO_FORMAT && !found.starts_with("quorumlab-history/") {
            return Err(ScenarioError::Format { found });
        }
    }
    let scenario = top
        .scenario
        .ok_or_else(|| ScenarioError::Invalid("no \"scenario\" field".into()))?;
    Ok(Header {
        scenario,
        expect: top.expect,
    })
}

/// Parses a JSON value (such as a system's configuration) refusing duplicate keys in any
/// object; an error names the path to the offending key.
pub fn value_with_unique_keys(text: &str) -> Result<Value, ScenarioError> {
    let mut json = serde_json::Deserializer::from_str(text);
    let value = with_path(&mut json, UniqueKeys)?;
    json.end().map_err(|e| ScenarioError::Json(e.to_string()))?;
    Ok(value)
}

/// Runs `seed` on `json` with the path of any error recorded, and the error said once with
/// that path in front.
fn with_path<'de, S>(
    json: &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
    seed: S,
) -> Result<S::Value, ScenarioError>
where
    S: DeserializeSeed<'de>,
{
    let mut track = serde_path_to_error::Track::new();
    let result = seed.deserialize(serde_path_to_error::Deserializer::new(json, &mut track));
    result.map_err(|e| {
        ScenarioError::Json(serde_path_to_error::Error::new(track.path(), e).to_string())
    })
}

/// An error for a list longer than its limit.
fn over_limit<E: de::Error>(limit: u64) -> E {
    E::custom(format_args!(
        "more than {limit} entries, over the limit of {limit} (see docs/limits.md)"
    ))
}

/// Appends `item`, growing `out` by fallible allocation.
fn push<T, E: de::Error>(out: &mut Vec<T>, item: T) -> Result<(), E> {
    if out.len() == out.capacity() {
        let more = out.len().clamp(4, 1 << 16);
        out.try_reserve(more).map_err(|_| {
            E::custom(format_args!(
                "out of memory after {} entries of this list",
                out.len()
            ))
        })?;
    }
    out.push(item);
    Ok(())
}

/// A list of at most `limit` entries, refused as soon as it has one more.
pub(super) struct Bounded<T> {
    limit: u64,
    marker: PhantomData<T>,
}

impl<T> Bounded<T> {
    pub(super) fn new(limit: u64) -> Self {
        Bounded {
            limit,
            marker: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> DeserializeSeed<'de> for Bounded<T> {
    type Value = Vec<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Bounded<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of at most {} entries", self.limit)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            if out.len() as u64 >= self.limit {
                return Err(over_limit(self.limit));
            }
            push(&mut out, item)?;
        }
        Ok(out)
    }
}

/// `deserialize_with` for `network.slow_links`: at most one per ordered pair of nodes.
pub(super) fn slow_links<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::SlowLink>, D::Error> {
    Bounded::new(limits::MAX_SLOW_LINKS).deserialize(d)
}

/// `deserialize_with` for a system's `config`: any JSON value, without duplicate keys.
pub(super) fn config<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    UniqueKeys.deserialize(d)
}

/// The top-level fields a reader keeps; the rest are skipped.
#[derive(Default)]
struct TopLevel {
    format: Option<String>,
    scenario: Option<Scenario>,
    expect: Option<Vec<String>>,
}

struct FileVisitor;

impl<'de> DeserializeSeed<'de> for FileVisitor {
    type Value = TopLevel;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TopLevel, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileVisitor {
    type Value = TopLevel;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scenario file or saved case: a JSON object with a \"scenario\" field")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut top = TopLevel::default();
        let mut seen = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(duplicate(&key));
            }
            match key.as_str() {
                "format" => top.format = Some(map.next_value()?),
                "scenario" => top.scenario = Some(map.next_value_seed(ScenarioSeed)?),
                "expect" => top.expect = Some(map.next_value_seed(Bounded::new(MAX_EXPECT))?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            seen.insert(key);
        }
        Ok(top)
    }
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key `{key}`"))
}

/// A field name among `self.0`; any other is refused as it is read, so that the error's path
/// ends at the unknown field, as a derived struct's does.
struct Field(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Field {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        let key = String::deserialize(d)?;
        if !self.0.contains(&key.as_str()) {
            return Err(de::Error::unknown_field(&key, self.0));
        }
        Ok(key)
    }
}

/// A scenario, its client ops counted against [`limits::MAX_OPS`] across every client.
struct ScenarioSeed;

const SCENARIO_FIELDS: &[&str] = &[
    "seed",
    "store",
    "system",
    "network",
    "keys",
    "clients",
    "faults",
    "settle_ms",
];

impl<'de> DeserializeSeed<'de> for ScenarioSeed {
    type Value = Scenario;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Scenario, D::Error> {
        d.deserialize_struct("Scenario", SCENARIO_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for ScenarioSeed {
    type Value = Scenario;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scenario object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scenario, A::Error> {
        let ops = Cell::new(0u64);
        let mut seed = None;
        let mut system: Option<SystemConfig> = None;
        let mut network: Option<NetworkConfig> = None;
        let mut keys = None;
        let mut clients = None;
        let mut faults = None;
        let mut settle_ms = None;
        fn once<T, E: de::Error>(slot: &Option<T>, key: &'static str) -> Result<(), E> {
            match slot {
                Some(_) => Err(E::duplicate_field(key)),
                None => Ok(()),
            }
        }
        while let Some(key) = map.next_key_seed(Field(SCENARIO_FIELDS))? {
            match key.as_str() {
                "seed" => {
                    once(&seed, "seed")?;
                    seed = Some(map.next_value()?);
                }
                "store" | "system" => {
                    if let Some(s) = &system {
                        let had = match s {
                            SystemConfig::Leaderless(_) => "store",
                            SystemConfig::Named(_) => "system",
                        };
                        return Err(if had == key {
                            duplicate(&key)
                        } else {
                            de::Error::custom("both `store` and `system`: give one")
                        });
                    }
                    system = Some(if key == "store" {
                        SystemConfig::Leaderless(map.next_value::<StoreConfig>()?)
                    } else {
                        SystemConfig::Named(map.next_value::<SystemSpec>()?)
                    });
                }
                "network" => {
                    once(&network, "network")?;
                    network = Some(map.next_value()?);
                }
                "keys" => {
                    once(&keys, "keys")?;
                    keys = Some(map.next_value()?);
                }
                "clients" => {
                    once(&clients, "clients")?;
                    clients = Some(map.next_value_seed(ClientsSeed { ops: &ops })?);
                }
                "faults" => {
                    once(&faults, "faults")?;
                    faults = Some(map.next_value_seed(Bounded::<Fault>::new(limits::MAX_FAULTS))?);
                }
                "settle_ms" => {
                    once(&settle_ms, "settle_ms")?;
                    settle_ms = Some(map.next_value()?);
                }
                _ => unreachable!("Field admits only these"),
            }
        }
        Ok(Scenario {
            seed: seed.ok_or_else(|| de::Error::missing_field("seed"))?,
            system: system
                .ok_or_else(|| de::Error::custom("missing field `store` (or `system`)"))?,
            network: network.ok_or_else(|| de::Error::missing_field("network"))?,
            keys: keys.ok_or_else(|| de::Error::missing_field("keys"))?,
            clients: clients.ok_or_else(|| de::Error::missing_field("clients"))?,
            faults: faults.ok_or_else(|| de::Error::missing_field("faults"))?,
            settle_ms: settle_ms.ok_or_else(|| de::Error::missing_field("settle_ms"))?,
        })
    }
}

impl<'de> Deserialize<'de> for Scenario {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scenario, D::Error> {
        ScenarioSeed.deserialize(d)
    }
}

/// The clients' plans, at most [`limits::MAX_CLIENTS`], their ops counted in `ops`.
struct ClientsSeed<'a> {
    ops: &'a Cell<u64>,
}

impl<'de> DeserializeSeed<'de> for ClientsSeed<'_> {
    type Value = Vec<ClientPlan>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<ClientPlan>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ClientsSeed<'_> {
    type Value = Vec<ClientPlan>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of at most {} client plans", limits::MAX_CLIENTS)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<ClientPlan>, A::Error> {
        let mut out = Vec::new();
        while let Some(plan) = seq.next_element_seed(PlanSeed { ops: self.ops })? {
            if out.len() as u64 >= limits::MAX_CLIENTS {
                return Err(over_limit(limits::MAX_CLIENTS));
            }
            push(&mut out, plan)?;
        }
        Ok(out)
    }
}

/// One client's plan.
struct PlanSeed<'a> {
    ops: &'a Cell<u64>,
}

const PLAN_FIELDS: &[&str] = &["sticky", "ops"];

impl<'de> DeserializeSeed<'de> for PlanSeed<'_> {
    type Value = ClientPlan;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ClientPlan, D::Error> {
        d.deserialize_struct("ClientPlan", PLAN_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for PlanSeed<'_> {
    type Value = ClientPlan;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a client plan: {\"sticky\": node or null, \"ops\": [...]}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClientPlan, A::Error> {
        let mut sticky: Option<Option<u16>> = None;
        let mut ops = None;
        while let Some(key) = map.next_key_seed(Field(PLAN_FIELDS))? {
            match key.as_str() {
                "sticky" => {
                    if sticky.is_some() {
                        return Err(de::Error::duplicate_field("sticky"));
                    }
                    sticky = Some(map.next_value()?);
                }
                "ops" => {
                    if ops.is_some() {
                        return Err(de::Error::duplicate_field("ops"));
                    }
                    ops = Some(map.next_value_seed(OpsSeed { ops: self.ops })?);
                }
                _ => unreachable!("Field admits only these"),
            }
        }
        Ok(ClientPlan {
            sticky: sticky.flatten(),
            ops: ops.ok_or_else(|| de::Error::missing_field("ops"))?,
        })
    }
}

impl<'de> Deserialize<'de> for ClientPlan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ClientPlan, D::Error> {
        PlanSeed { ops: &Cell::new(0) }.deserialize(d)
    }
}

/// One client's ops, every client's together at most [`limits::MAX_OPS`].
struct OpsSeed<'a> {
    ops: &'a Cell<u64>,
}

impl<'de> DeserializeSeed<'de> for OpsSeed<'_> {
    type Value = Vec<PlannedOp>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<PlannedOp>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for OpsSeed<'_> {
    type Value = Vec<PlannedOp>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of planned ops")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<PlannedOp>, A::Error> {
        let mut out = Vec::new();
        while let Some(op) = seq.next_element()? {
            let total = self.ops.get() + 1;
            if total > limits::MAX_OPS {
                return Err(de::Error::custom(format_args!(
                    "more than {} ops in all clients' plans, over the limit of {} (see \
                     docs/limits.md)",
                    limits::MAX_OPS,
                    limits::MAX_OPS
                )));
            }
            self.ops.set(total);
            push(&mut out, op)?;
        }
        Ok(out)
    }
}

/// Any JSON value, refusing an object with the same key twice.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(UniqueKeys)? {
            push(&mut out, v)?;
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(duplicate(&key));
            }
            let v = map.next_value_seed(UniqueKeys)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> String {
        let shape = crate::strategy::ScenarioShape {
            ops: 4,
            clients: 2,
            ..crate::strategy::ScenarioShape::new(
                StoreConfig::default(),
                &[crate::strategy::FaultChoice::Crash],
            )
        };
        crate::explore::generate(&shape, 5).to_json()
    }

    fn err(text: &str) -> String {
        match header(text) {
            Ok(h) => match h.scenario.validate() {
                Ok(()) => panic!("accepted: {text}"),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_scenario_reads_back_as_written() {
        let text = small();
        let h = header(&text).unwrap();
        assert_eq!(h.scenario.to_json(), text);
        assert_eq!(h.expect, None);
        h.scenario.validate().unwrap();
    }

    #[test]
    fn other_top_level_fields_are_skipped_and_expect_is_kept() {
        let text = small().replacen(
            "{",
            r#"{"ops": [{"id": 1, "x": [1, {"a": null}]}], "expect": ["linearizable"], "#,
            1,
        );
        let h = header(&text).unwrap();
        assert_eq!(h.expect, Some(vec!["linearizable".to_string()]));
    }

    #[test]
    fn duplicate_keys_are_refused_at_every_level() {
        let text = small();
        for (from, to, needle) in [
            ("{", r#"{"ops": [], "ops": [], "#, "duplicate key `ops`"),
            (
                r#""scenario": {"#,
                r#""scenario": {"keys": 3, "#,
                "scenario: duplicate field `keys`",
            ),
            (
                r#""nodes": 5,"#,
                r#""nodes": 5, "nodes": 5,"#,
                "scenario.store: duplicate field `nodes`",
            ),
            (
                r#""max_latency_ms": 5"#,
                r#""max_latency_ms": 5, "max_latency_ms": 6"#,
                "scenario.network: duplicate field `max_latency_ms`",
            ),
            (
                r#""sticky": null,"#,
                r#""sticky": null, "sticky": 1,"#,
                "scenario.clients[0]: duplicate field `sticky`",
            ),
        ] {
            let changed = text.replacen(from, to, 1);
            assert_ne!(changed, text, "{from}");
            let e = err(&changed);
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_naming_the_path() {
        let text = small();
        for (from, to, needle) in [
            (
                r#""scenario": {"#,
                r#""scenario": {"sead": 1, "#,
                "scenario.sead: unknown field `sead`",
            ),
            (
                r#""nodes": 5,"#,
                r#""nodes": 5, "nodez": 5,"#,
                "scenario.store.nodez: unknown field `nodez`",
            ),
            (
                r#""sticky": null,"#,
                r#""sticky": null, "stiky": 1,"#,
                "scenario.clients[0].stiky: unknown field `stiky`",
            ),
            (
                r#""kind": "#,
                r#""kynd": 1, "kind": "#,
                "scenario.clients[0].ops[0].kynd: unknown field `kynd`",
            ),
            (
                r#""min_latency_ms": 1,"#,
                r#""min_latency_ms": 1, "jitter": 1,"#,
                "scenario.network.jitter: unknown field `jitter`",
            ),
            (
                r#""fault": "#,
                r#""fualt": 1, "fault": "#,
                "scenario.faults[0].kind: unknown field `fualt`",
            ),
        ] {
            let changed = text.replacen(from, to, 1);
            assert_ne!(changed, text, "{from}");
            let e = err(&changed);
            assert!(e.starts_with(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn a_bad_value_is_named_once_with_its_path() {
        let text = small().replacen(r#""settle_ms": 2000"#, r#""settle_ms": -1"#, 1);
        let e = err(&text);
        assert!(e.starts_with("scenario.settle_ms: invalid value"), "{e}");
        assert_eq!(e.matches("invalid value").count(), 1, "{e}");
    }

    #[test]
    fn over_long_lists_are_refused_at_the_first_entry_past_the_limit() {
        let text = small();
        let faults = format!(
            r#""faults": [{}],"#,
            vec![r#"{"at_ms": 1, "kind": {"fault": "pause", "node": 0, "duration_ms": 5}}"#; 1001]
                .join(",")
        );
        let start = text.find(r#""faults": ["#).unwrap();
        let end = start + text[start..].find("],").unwrap() + 2;
        let e = err(&format!("{}{faults}{}", &text[..start], &text[end..]));
        assert!(
            e.contains("scenario.faults: more than 1000 entries, over the limit of 1000"),
            "{e}"
        );
        let clients = format!(
            r#""clients": [{}],"#,
            vec![r#"{"sticky": null, "ops": []}"#; 1001].join(",")
        );
        let start = text.find(r#""clients": ["#).unwrap();
        let end = text.find(r#""faults": ["#).unwrap();
        let e = err(&format!("{}{clients}{}", &text[..start], &text[end..]));
        assert!(
            e.contains("scenario.clients: more than 1000 entries"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_keys_in_a_system_config_are_refused() {
        let e = value_with_unique_keys(r#"{"a": {"b": 1, "b": 2}}"#).unwrap_err();
        assert!(e.to_string().contains("a: duplicate key `b`"), "{e}");
        let v = value_with_unique_keys(r#"{"a": [1, {"b": null}], "c": "x"}"#).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, {"b": null}], "c": "x"}));
    }
}
