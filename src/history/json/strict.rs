//! A JSON value reader that refuses an object with a repeated key (serde_json's `Value` keeps
//! the last one silently), naming the key, and that stops with an error where a string or an
//! array does not fit in the memory left, where an infallible allocation would abort.
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value as Json};

/// Reads one JSON value; a repeated key anywhere inside is an error.
pub(super) struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

const REPEATED: &str = " appears twice in one object";

/// The error for a repeated key.
pub(super) fn repeated<E: de::Error>(key: &str) -> E {
    E::custom(format_args!(
        "key {}{REPEATED}",
        Json::String(key.to_owned())
    ))
}

/// The key, when `e` is the error [`repeated`] made.
pub(super) fn repeated_key(e: &serde_json::Error) -> Option<String> {
    let msg = e.to_string();
    let quoted = msg.strip_prefix("key ")?.split(REPEATED).next()?;
    msg.contains(REPEATED)
        .then(|| serde_json::from_str::<String>(quoted).ok())
        .flatten()
}

const OUT_OF_MEMORY: &str = "out of memory: ";

/// The error for something that does not fit in memory (`what` did not fit).
pub(super) fn out_of_memory<E: de::Error>(what: fmt::Arguments) -> E {
    E::custom(format_args!("{OUT_OF_MEMORY}{what}"))
}

/// What did not fit, when `e` is the error [`out_of_memory`] made.
pub(super) fn out_of_memory_what(e: &serde_json::Error) -> Option<String> {
    let msg = e.to_string();
    let at = format!(" at line {} column {}", e.line(), e.column());
    msg.strip_suffix(&at)
        .unwrap_or(&msg)
        .strip_prefix(OUT_OF_MEMORY)
        .map(str::to_owned)
}

/// A copy of `s`, or the error [`out_of_memory`] when it does not fit. (A string without
/// escapes is read in place from the file's bytes: this copy is its only allocation.)
pub(super) fn owned<E: de::Error>(s: &str) -> Result<String, E> {
    let mut out = String::new();
    out.try_reserve_exact(s.len())
        .map_err(|_| out_of_memory(format_args!("a string of {} bytes does not fit", s.len())))?;
    out.push_str(s);
    Ok(out)
}

/// Makes room for one more item in `v`, or the error [`out_of_memory`] naming `what` (plural).
pub(super) fn room_for_one<T, E: de::Error>(v: &mut Vec<T>, what: &str) -> Result<(), E> {
    v.try_reserve(1)
        .map_err(|_| out_of_memory(format_args!("more than {} {what} do not fit", v.len())))
}

/// An object's key, read as [`owned`] reads a string.
pub(super) struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(Key)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        owned(v)
    }

    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        owned(v).map(Json::String)
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Strict.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element_seed(Strict)? {
            room_for_one(&mut v, "array items")?;
            v.push(x);
        }
        Ok(Json::Array(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key_seed(Key)? {
            if m.contains_key(&k) {
                return Err(repeated(&k));
            }
            let v = map.next_value_seed(Strict)?;
            m.insert(k, v);
        }
        Ok(Json::Object(m))
    }
}
