//! The Project JSON inside the Yjs document, and what the server does with it.
//!
//! The mapping is the obvious one, so a frontend needs no schema of its own: the root `Y.Map`
//! named `project` holds the Project JSON's top-level fields; a JSON object is a `Y.Map`, an
//! array a `Y.Array`, a string, number, boolean or null a plain value. A `Y.Text` is read as its
//! string (a frontend may edit a clip's `text` collaboratively that way). Reading turns the
//! whole tree back into JSON, whatever mix of shared types and plain values a client used.
//!
//! What the server decides about a derived document is not this module's business: a
//! [`TimelineSink`] (wired by the HTTP layer, which owns validation and the asset catalog)
//! promotes a valid one to the project's current timeline and reports an invalid one.

use async_trait::async_trait;
use serde_json::{Map as JsonMap, Number, Value};
use studio_core::ProjectId;
use yrs::types::ToJson;
use yrs::{Any, ArrayPrelim, In, Map, MapPrelim, MapRef, Transact, TransactionMut};

use crate::room::RoomState;

/// What the server made of a document derived from the Yjs state.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineVerdict {
    /// Valid: it is now the project's current timeline, at this version.
    Promoted { version: i64 },
    /// Valid and the same as the current timeline.
    Unchanged { version: i64 },
    /// Not valid: kept out. The problems are `{pointer, code, message}` objects.
    Invalid { problems: Vec<Value> },
}

/// The server's side of the timeline: validation and promotion, and the stored document a new
/// Yjs document starts from.
#[async_trait]
pub trait TimelineSink: Send + Sync + 'static {
    /// Validates `document` and, when valid, makes it the project's current timeline.
    async fn promote(
        &self,
        project: &ProjectId,
        document: Value,
    ) -> anyhow::Result<TimelineVerdict>;

    /// The project's current timeline as JSON (what a document with no `project` map starts
    /// from).
    async fn current(&self, project: &ProjectId) -> anyhow::Result<Value>;
}

/// The Project JSON the document holds; `None` while its `project` map is empty.
pub(crate) fn derive(state: &RoomState) -> Option<Value> {
    let txn = state.doc.transact();
    if state.project_map.len(&txn) == 0 {
        return None;
    }
    Some(any_to_json(state.project_map.to_json(&txn)))
}

/// Writes `document` (a JSON object) into the `project` map: top-level fields that differ are
/// replaced, fields it lacks are removed, equal ones are left alone (so concurrent edits inside
/// them survive). One transaction: connected editors see the whole change at once.
pub(crate) fn write(state: &mut RoomState, document: &Value) {
    let Value::Object(fields) = document else {
        return;
    };
    let map = state.project_map.clone();
    let mut txn = state.doc.transact_mut();
    let stale: Vec<String> = map
        .keys(&txn)
        .filter(|key| !fields.contains_key(*key))
        .map(str::to_owned)
        .collect();
    for key in stale {
        map.remove(&mut txn, &key);
    }
    for (key, value) in fields {
        if current_field(&map, &txn, key).as_ref() != Some(value) {
            map.insert(&mut txn, key.as_str(), json_to_in(value));
        }
    }
}

fn current_field(map: &MapRef, txn: &TransactionMut, key: &str) -> Option<Value> {
    map.get(txn, key).map(|out| any_to_json(out.to_json(txn)))
}

/// A JSON value as what to insert: objects and arrays as shared types, the rest plain.
pub fn json_to_in(value: &Value) -> In {
    match value {
        Value::Object(fields) => In::Map(MapPrelim::from_iter(
            fields.iter().map(|(k, v)| (k.as_str(), json_to_in(v))),
        )),
        Value::Array(items) => In::Array(ArrayPrelim::from_iter(items.iter().map(json_to_in))),
        other => In::Any(json_to_any(other)),
    }
}

fn json_to_any(value: &Value) -> Any {
    match value {
        Value::Null => Any::Null,
        Value::Bool(b) => Any::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Any::from(i),
            None => Any::from(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Any::from(s.as_str()),
        Value::Array(items) => Any::from(items.iter().map(json_to_any).collect::<Vec<_>>()),
        Value::Object(fields) => Any::from(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), json_to_any(v)))
                .collect::<std::collections::HashMap<_, _>>(),
        ),
    }
}

/// A Yjs value as JSON. `undefined` reads as null; binary as an array of bytes (the Project
/// JSON has neither, so a document holding one fails validation with a clear pointer).
pub fn any_to_json(any: Any) -> Value {
    match any {
        Any::Null | Any::Undefined => Value::Null,
        Any::Bool(b) => Value::Bool(b),
        Any::Number(n) => number_to_json(n),
        Any::String(s) => Value::String(s.to_string()),
        Any::Buffer(bytes) => Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
        Any::Array(items) => Value::Array(items.iter().cloned().map(any_to_json).collect()),
        Any::Map(fields) => {
            let mut object = JsonMap::new();
            for (key, value) in fields.iter() {
                object.insert(key.clone(), any_to_json(value.clone()));
            }
            Value::Object(object)
        }
    }
}

fn number_to_json(n: yrs::Number) -> Value {
    match n {
        yrs::Number::Int(i) => Value::from(i),
        yrs::Number::Float(f) => {
            // JS numbers are doubles; one that is whole is still an integer to JSON readers.
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                Value::from(f as i64)
            } else {
                Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use yrs::Doc;

    use super::*;

    fn round_trip(value: Value) -> Value {
        let doc = Doc::new();
        let map = doc.get_or_insert_map("project");
        {
            let mut txn = doc.transact_mut();
            if let Value::Object(fields) = &value {
                for (k, v) in fields {
                    map.insert(&mut txn, k.as_str(), json_to_in(v));
                }
            }
        }
        let txn = doc.transact();
        any_to_json(map.to_json(&txn))
    }

    #[test]
    fn json_survives_the_trip_through_shared_types() {
        let doc = json!({
            "schemaVersion": 1,
            "name": "Film",
            "tracks": [{"id": "v", "kind": "video", "clips": [{"id": "c", "start": 1.5, "duration": 2}]}],
            "markers": [],
            "flag": true,
            "nothing": null
        });
        assert_eq!(round_trip(doc.clone()), doc);
    }
}
