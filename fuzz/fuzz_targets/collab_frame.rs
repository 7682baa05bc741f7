//! Fuzz target `collab_frame`: arbitrary bytes as one y-websocket frame from a client, through
//! what the collaboration server does with it: `protocol::read_client_message`, then, for an
//! update, `Update::decode_v1` and applying it to a document that already holds content (the
//! room's calls), then encoding the document's state and reading it back (what a snapshot and
//! a late joiner's step 2 do). No panic may escape the server's guards. What reaches a copy is
//! not compared with the document: hostile updates can make them differ (seen: text in one,
//! gone in the other; a state that decodes but does not apply), which is yrs's business and
//! within an editor's power anyway; the server refuses to snapshot a state that does not load.
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
    read_client_message, state_reads_back,
};
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
            let applied = apply_update(&doc, decoded);
            if !discard_unencodable_pending(&doc) || applied.is_err() {
                return;
            }
            // What a snapshot does: encode, then check it loads before storing it.
            let Ok(state) = guarded(|| {
                doc.transact()
                    .encode_state_as_update_v1(&StateVector::default())
            }) else {
                return;
            };
            if state_reads_back(&state) {
                let copy = Doc::new();
                let reread = Update::decode_v1(&state).expect("checked: it decodes");
                copy.transact_mut()
                    .apply_update(reread)
                    .expect("checked: it applies");
                let _ = copy
                    .get_or_insert_text("notes")
                    .get_string(&copy.transact());
            }
        }
        ClientMessage::Awareness(update) => {
            let mut awareness = yrs::sync::Awareness::new(doc);
            let _ = guarded(|| awareness.apply_update_summary(update));
            let _ = awareness.update();
        }
        ClientMessage::QueryAwareness | ClientMessage::Auth => {}
    }
}
