//! Fuzz target `timeline`: arbitrary bytes into `timeline::parse_and_validate`, the one entry
//! point every timeline write goes through, with a small fixed asset catalog and the default
//! limits. It must never panic, and what it answers must hold together:
//! - a refusal lists at least one violation, each pointing into the document (the parent of
//!   its pointer exists when the input is JSON: the value itself may be the missing one);
//! - an accepted project, stored (serialized) and read again, is accepted again.
//!
//! Inputs: the seeds in `fuzz/seeds/timeline/` are valid timelines using every feature, and the
//! mutator below mutates half the time at the JSON level (numbers set to the edges the rules
//! care about, values copied across the document, array elements duplicated or dropped, keys
//! removed or added, types changed), so inputs stay JSON and reach the rules behind the shape
//! check; the other half is libFuzzer's own byte mutations, with `fuzz/timeline.dict`.
//!
//! Run: `scripts/fuzz.sh [seconds] timeline` (default 60). Longer runs and reproducing a crash:
//! see that script's header.

#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use serde_json::{Value, json};
use studio_core::AssetKind;
use studio_core::timeline::{self, AssetFacts, TimelineLimits, push_pointer};

/// The project's assets: the ids the seeds use (`…f` is deliberately absent: another project's).
static CATALOG: LazyLock<HashMap<String, AssetFacts>> = LazyLock::new(|| {
    let facts = |kind, duration_secs, has_audio| AssetFacts {
        kind,
        duration_secs,
        has_audio,
    };
    HashMap::from([
        (
            "ast_0000000000000000000000000v".to_owned(),
            facts(AssetKind::Video, Some(10.0), Some(true)),
        ),
        (
            "ast_0000000000000000000000000a".to_owned(),
            facts(AssetKind::Audio, Some(30.0), Some(true)),
        ),
        (
            "ast_00000000000000000000000000".to_owned(),
            facts(AssetKind::Image, None, Some(false)),
        ),
        (
            "ast_0000000000000000000000000s".to_owned(),
            facts(AssetKind::Video, Some(5.0), Some(false)),
        ),
        (
            "ast_0000000000000000000000000p".to_owned(),
            facts(AssetKind::Video, None, None),
        ),
        (
            "ast_000000000000000000000000hr".to_owned(),
            facts(AssetKind::Video, Some(3600.0), Some(true)),
        ),
    ])
});

static LIMITS: LazyLock<TimelineLimits> = LazyLock::new(TimelineLimits::default);

fuzz_target!(|data: &[u8]| {
    match timeline::parse_and_validate(data, &LIMITS, &*CATALOG) {
        Ok(project) => {
            let stored = serde_json::to_vec(&project).expect("an accepted project serializes");
            if let Err(violations) = timeline::parse_and_validate(&stored, &LIMITS, &*CATALOG) {
                panic!(
                    "accepted, then refused once stored: {violations:?}\nstored: {}",
                    String::from_utf8_lossy(&stored)
                );
            }
        }
        Err(violations) => {
            assert!(!violations.is_empty(), "refused without a reason");
            let document: Option<Value> = serde_json::from_slice(data).ok();
            for violation in &violations {
                let pointer = violation.pointer.as_str();
                assert!(
                    pointer.is_empty() || pointer.starts_with('/'),
                    "not a JSON pointer: {violation:?}"
                );
                assert!(!violation.message.is_empty(), "{violation:?}");
                if let (Some(document), Some(cut)) = (&document, pointer.rfind('/')) {
                    assert!(
                        document.pointer(&pointer[..cut]).is_some(),
                        "{violation:?} points outside the document"
                    );
                }
            }
        }
    }
});

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut rng = Rng(u64::from(seed) | 1 << 32);
    if rng.below(2) == 0 {
        return fuzzer_mutate(data, size, max_size);
    }
    let Ok(mut document) = serde_json::from_slice::<Value>(&data[..size]) else {
        return fuzzer_mutate(data, size, max_size);
    };
    mutate_json(&mut document, &mut rng);
    match serde_json::to_vec(&document) {
        Ok(bytes) if bytes.len() <= max_size => {
            data[..bytes.len()].copy_from_slice(&bytes);
            bytes.len()
        }
        _ => fuzzer_mutate(data, size, max_size),
    }
});

/// Numbers where the rules change their answer: 0 and its sign, the 1 ms tolerance, the speed
/// and volume bounds, the format's ranges, the default 6 h maximum, integer widths, huge values.
const EDGES: &[f64] = &[
    0.0,
    -0.0,
    -1.0,
    1e-9,
    0.001,
    0.0625,
    1.0,
    1.5,
    4.0,
    16.0,
    240.0,
    8192.0,
    8000.0,
    192_000.0,
    21_600.0,
    21_600.001,
    4_294_967_296.0,
    1e15,
    1e308,
    f64::MAX,
];

/// Field names of the format (and one it does not have), for added keys.
const FIELDS: &[&str] = &[
    "schemaVersion",
    "name",
    "fps",
    "tracks",
    "markers",
    "id",
    "kind",
    "clips",
    "assetId",
    "start",
    "duration",
    "sourceStart",
    "speed",
    "volume",
    "fadeIn",
    "fadeOut",
    "text",
    "style",
    "align",
    "x",
    "time",
    "label",
    "extra",
];

/// One JSON-level change to `document`.
fn mutate_json(document: &mut Value, rng: &mut Rng) {
    let paths = pointers(document);
    let target = &paths[rng.below(paths.len())];
    let Some(node) = document.pointer(target).cloned() else {
        return;
    };
    let replacement = match rng.below(7) {
        // A number nudged or set to an edge.
        0 | 1 => match node.as_f64() {
            Some(x) => {
                let nudged = match rng.below(6) {
                    0 => x + 0.001,
                    1 => x - 0.001,
                    2 => f64::from_bits(x.to_bits().wrapping_add(1)),
                    3 => x * 2.0,
                    4 => -x,
                    _ => EDGES[rng.below(EDGES.len())],
                };
                number(nudged)
            }
            None => number(EDGES[rng.below(EDGES.len())]),
        },
        // Another value of the document copied here: ids become duplicates, starts overlap,
        // clips move between tracks.
        2 => {
            let source = &paths[rng.below(paths.len())];
            document.pointer(source).cloned().unwrap_or(Value::Null)
        }
        // An array element duplicated, or one removed.
        3 => {
            if let Some(Value::Array(items)) = document.pointer_mut(target)
                && !items.is_empty()
            {
                let i = rng.below(items.len());
                if rng.below(2) == 0 {
                    let copy = items[i].clone();
                    items.insert(rng.below(items.len() + 1), copy);
                } else {
                    items.remove(i);
                }
            }
            return;
        }
        // A key removed, or one added.
        4 => {
            if let Some(Value::Object(map)) = document.pointer_mut(target) {
                let keys: Vec<String> = map.keys().cloned().collect();
                if !keys.is_empty() && rng.below(2) == 0 {
                    map.remove(&keys[rng.below(keys.len())]);
                } else {
                    let key = FIELDS[rng.below(FIELDS.len())];
                    map.insert(key.to_owned(), number(EDGES[rng.below(EDGES.len())]));
                }
            }
            return;
        }
        // A value of another type.
        _ => [
            Value::Null,
            json!(true),
            json!(1),
            json!(""),
            json!("video"),
            json!([]),
            json!({}),
        ][rng.below(7)]
        .clone(),
    };
    if let Some(slot) = document.pointer_mut(target) {
        *slot = replacement;
    }
}

/// `x` as JSON; a number JSON cannot hold becomes the largest one it can.
fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(|| json!(f64::MAX), Value::Number)
}

/// Every value's pointer, children before their parent (the root, `""`, last).
fn pointers(document: &Value) -> Vec<String> {
    fn walk(pointer: String, value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    walk(push_pointer(&pointer, key), child, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(format!("{pointer}/{i}"), child, out);
                }
            }
            _ => {}
        }
        out.push(pointer);
    }
    let mut out = Vec::new();
    walk(String::new(), document, &mut out);
    out
}

/// xorshift64: the mutator's choices follow from libFuzzer's seed alone, so a run replays.
struct Rng(u64);

impl Rng {
    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
