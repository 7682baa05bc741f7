//! Fuzz target `collab_frame`: arbitrary bytes as one y-websocket frame from a client, through
//! what the collaboration server does with it: `protocol::read_client_message`, then, for an
//! update, `Update::decode_v1` and applying it to a document that already holds content (the
//! room's calls), then encoding the document's state and reading it back (what a snapshot and
//! a late joiner's step 2 do). Nothing may panic, and a document that took an update must still
//! encode to a state that decodes and rebuilds the same content.
//!
//! Seeds (`fuzz/seeds/collab_frame/`): frames the real client sends (step 1, step 2, updates
//! on maps, text and arrays, awareness, query-awareness).
//!
//! Run: `scripts/fuzz.sh` runs every target (see its header).

#![no_main]

use std::panic::{AssertUnwindSafe, catch_unwind};

use libfuzzer_sys::fuzz_target;
use studio_collab::protocol::{
    ClientMessage, apply_update, decode_update, discard_unencodable_pending, guarded,
    read_client_message,
};
use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{Array, Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update};

/// A document with some of everything, as a live room would hold.
fn document() -> Doc {
    let doc = Doc::with_client_id(1);
    let map = doc.get_or_insert_map("project");
    let text = doc.get_or_insert_text("notes");
    let list = doc.get_or_insert_array("list");
    let mut txn = doc.transact_mut();
    map.insert(&mut txn, "name", "Film");
    map.insert(&mut txn, "fps", 30);
    text.insert(&mut txn, 0, "hello world");
    list.push_back(&mut txn, "a");
    list.push_back(&mut txn, 2.5);
    drop(txn);
    doc
}

fuzz_target!(
    init: {
        // libfuzzer-sys's hook aborts on any panic, even one the server catches (it guards its
        // calls into yrs, which asserts on some hostile input). Panics are judged below instead:
        // only one that escapes the server's own guards is a crash.
        // (The default hook: every panic is printed, caught or not, into the run's log.)
        drop(std::panic::take_hook());
    },
    |frame: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| one_frame(frame))).is_err() {
            eprintln!("a panic escaped the server's guards");
            std::process::abort();
        }
    }
);

/// What the server does with one frame (and what a snapshot does after it).
fn one_frame(frame: &[u8]) {
    let Ok(message) = read_client_message(frame) else {
        return;
    };
    let doc = document();
    match message {
        ClientMessage::SyncStep1(sv) => {
            let _ = doc.transact().encode_state_as_update_v1(&sv);
        }
        ClientMessage::Update { update, .. } => {
            let Ok(decoded) = decode_update(&update) else {
                return;
            };
            if apply_update(&doc, decoded).is_err() || !discard_unencodable_pending(&doc) {
                return;
            }
            let state = doc
                .transact()
                .encode_state_as_update_v1(&StateVector::default());
            let copy = Doc::new();
            let reread = Update::decode_v1(&state).expect("a document's own state decodes");
            copy.transact_mut()
                .apply_update(reread)
                .expect("a document's own state applies");
            // Root types are taken before any transaction opens (`get_or_insert_*` inside one
            // deadlocks).
            let (left_map, right_map) = (
                doc.get_or_insert_map("project"),
                copy.get_or_insert_map("project"),
            );
            let (left_text, right_text) = (
                doc.get_or_insert_text("notes"),
                copy.get_or_insert_text("notes"),
            );
            let list = doc.get_or_insert_array("list");
            let (a, b) = (doc.transact(), copy.transact());
            assert_eq!(left_map.to_json(&a), right_map.to_json(&b));
            assert_eq!(left_text.get_string(&a), right_text.get_string(&b));
            let _ = list.len(&a);
        }
        ClientMessage::Awareness(update) => {
            let mut awareness = yrs::sync::Awareness::new(doc);
            let _ = guarded(|| awareness.apply_update_summary(update));
            let _ = awareness.update();
        }
        ClientMessage::QueryAwareness | ClientMessage::Auth => {}
    }
}
