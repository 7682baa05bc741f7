//! The y-websocket protocol v1 on the wire: reading one client message per binary frame, and
//! the frames the server sends.
//!
//! Messages are lib0-encoded: a `varUint` type (0 sync, 1 awareness, 2 auth, 3 query-awareness),
//! then for sync a `varUint` sub-type (0 step 1 with a state vector, 1 step 2 and 2 update with a
//! Yjs update) and a `varByteArray` payload. `yrs::sync` does the decoding; before it runs, the
//! counts a payload declares are checked against the bytes that are really there, so a few bytes
//! claiming billions of entries are rejected instead of reserving memory for them. And yrs
//! asserts on some hostile input (a client id beyond 53 bits panics in its decoder, found by the
//! `collab_frame` fuzz target): every call into yrs on client bytes goes through [`guarded`],
//! which turns a panic into an error for that connection alone.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::Bytes;
use yrs::sync::awareness::AwarenessUpdate;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update, WriteTxn};

/// A message read from a client.
#[derive(Debug)]
pub enum ClientMessage {
    /// Sync step 1: the client's state vector; answered with step 2.
    SyncStep1(StateVector),
    /// Sync step 2 or an update: changes to apply. `is_step2` only matters to logs.
    Update { update: Vec<u8>, is_step2: bool },
    /// Awareness states (the sender's, or states it relays).
    Awareness(AwarenessUpdate),
    /// Asks for every awareness state the server knows.
    QueryAwareness,
    /// An auth message: y-websocket clients never send one; ignored.
    Auth,
}

/// Why a frame is not a message the server accepts.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the frame is empty")]
    Empty,
    #[error("message type {0} is not part of the y-websocket protocol")]
    UnknownType(u64),
    #[error("the message is malformed: {0}")]
    Malformed(String),
}

/// Reads one client message from a binary frame.
pub fn read_client_message(frame: &[u8]) -> Result<ClientMessage, ProtocolError> {
    let mut reader = Lib0Reader::new(frame);
    let kind = reader.var_uint().ok_or(ProtocolError::Empty)?;
    match kind {
        0 => {
            let sub = reader.var_uint().ok_or_else(|| malformed("no sync type"))?;
            let payload = reader
                .byte_array()
                .ok_or_else(|| malformed("truncated sync payload"))?;
            match sub {
                0 => {
                    check_counted(payload, 2, "state vector")?;
                    let sv = guarded(|| StateVector::decode_v1(payload))?.map_err(malformed)?;
                    Ok(ClientMessage::SyncStep1(sv))
                }
                1 | 2 => {
                    // The first count of an update is how many clients it has blocks of; each
                    // needs at least two bytes.
                    check_counted(payload, 2, "update")?;
                    Ok(ClientMessage::Update {
                        update: payload.to_vec(),
                        is_step2: sub == 1,
                    })
                }
                other => Err(malformed(format!("unknown sync message type {other}"))),
            }
        }
        1 => {
            let payload = reader
                .byte_array()
                .ok_or_else(|| malformed("truncated awareness payload"))?;
            // Each entry is at least a client id, a clock and a string length.
            check_counted(payload, 3, "awareness update")?;
            let update = guarded(|| AwarenessUpdate::decode_v1(payload))?.map_err(malformed)?;
            Ok(ClientMessage::Awareness(update))
        }
        2 => Ok(ClientMessage::Auth),
        3 => Ok(ClientMessage::QueryAwareness),
        other => Err(ProtocolError::UnknownType(other)),
    }
}

/// Decodes a Yjs v1 update from a client, and checks that yrs can write it back in a form it
/// can read again. Some hostile updates decode, apply without error, and then leave the
/// document unencodable: every step 2 and snapshot after would fail, and a stored snapshot would
/// not load (found by the `collab_frame` fuzz target). Those fail the round trip, so they are
/// refused before they touch a document. Costs one encode and decode of the update itself.
pub fn decode_update(bytes: &[u8]) -> Result<Update, ProtocolError> {
    guarded(|| {
        let update = Update::decode_v1(bytes).map_err(malformed)?;
        let again = update.encode_v1();
        Update::decode_v1(&again)
            .map_err(|err| malformed(format!("the update does not survive re-encoding: {err}")))?;
        Ok(update)
    })?
}

/// Applies a client's update to `doc` in one transaction, then checks that what the document
/// gained encodes to something yrs reads back (the encoding of the document from the state vector
/// before the update: what the update added, plus the delete set). A few hostile updates pass the
/// round trip of [`decode_update`] and still leave the document writing state it cannot read
/// (found by the `collab_frame` fuzz target); those are reported as malformed, so the sender is
/// disconnected, and snapshots check their own encoding before they are written.
pub fn apply_update(doc: &Doc, update: Update) -> Result<(), ProtocolError> {
    guarded(|| {
        let before = doc.transact().state_vector();
        doc.transact_mut().apply_update(update).map_err(malformed)?;
        let added = doc.transact().encode_state_as_update_v1(&before);
        Update::decode_v1(&added)
            .map(drop)
            .map_err(|err| malformed(format!("the document no longer encodes: {err}")))
    })?
}

/// Whether `state` (a document's encoded state, about to be stored as its snapshot) loads: it
/// decodes and applies to an empty document. A hostile update can leave a document whose state
/// does neither (found by the `collab_frame` fuzz target); such a snapshot is never written, the
/// update log keeps everything instead. Costs one rebuild of the document per snapshot.
pub fn state_reads_back(state: &[u8]) -> bool {
    guarded(|| {
        let Ok(update) = Update::decode_v1(state) else {
            return false;
        };
        Doc::new().transact_mut().apply_update(update).is_ok()
    })
    .unwrap_or(false)
}

/// Runs yrs on client input, turning a panic into [`ProtocolError::Malformed`]. Unwinding out of
/// yrs is safe here: the decoders own nothing shared, and an apply that panics leaves the
/// transaction to its `Drop` like any early return.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, ProtocolError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| malformed("yrs could not process it"))
}

/// An update whose dependencies are missing waits in the document ("pending") and is encoded
/// with its state (every step 2, every snapshot). A hostile one can be pending in a way yrs then
/// fails to encode (found by the `collab_frame` fuzz target), which would break every later
/// join and snapshot of the project. So after a client's update leaves something pending, its
/// encoding is tried once; if it fails, the pending part is dropped (it was never integrated,
/// so nobody has it). Returns whether the document was fine.
pub fn discard_unencodable_pending(doc: &Doc) -> bool {
    let pending = doc.transact().has_missing_updates();
    if !pending {
        return true;
    }
    // The whole state, as a joiner's step 2 and a snapshot encode it (rare: only when something
    // is pending). Encoding only from the current state vector was seen to pass where this fails.
    let encodes = guarded(|| {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    })
    .is_ok();
    if !encodes {
        let mut txn = doc.transact_mut();
        let store = txn.store_mut();
        if let Some(pending) = store.pending_update_mut() {
            pending.update = yrs::Update::new();
            pending.missing = StateVector::default();
        }
        if let Some(deletes) = store.pending_ds_mut() {
            *deletes = yrs::IdSet::default();
        }
    }
    encodes
}

fn malformed(detail: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Malformed(detail.to_string())
}

/// Rejects a payload whose leading count claims more entries (of at least `min_entry_bytes`
/// each) than the payload can hold.
fn check_counted(payload: &[u8], min_entry_bytes: usize, what: &str) -> Result<(), ProtocolError> {
    let mut reader = Lib0Reader::new(payload);
    let count = reader
        .var_uint()
        .ok_or_else(|| malformed(format!("truncated {what}")))?;
    let room = (reader.remaining() / min_entry_bytes) as u64;
    if count > room {
        return Err(malformed(format!(
            "{what} declares {count} entries in {} bytes",
            payload.len()
        )));
    }
    Ok(())
}

/// Frame: the server's sync step 1 (its state vector).
pub fn sync_step1(sv: &StateVector) -> Bytes {
    Message::Sync(SyncMessage::SyncStep1(sv.clone()))
        .encode_v1()
        .into()
}

/// Frame: sync step 2 carrying `update`.
pub fn sync_step2(update: Vec<u8>) -> Bytes {
    Message::Sync(SyncMessage::SyncStep2(update))
        .encode_v1()
        .into()
}

/// Frame: a sync update.
pub fn sync_update(update: Vec<u8>) -> Bytes {
    Message::Sync(SyncMessage::Update(update))
        .encode_v1()
        .into()
}

/// Frame: awareness states.
pub fn awareness(update: AwarenessUpdate) -> Bytes {
    Message::Awareness(update).encode_v1().into()
}

/// A minimal lib0 reader for the checks above (yrs's decoder does the real decoding).
struct Lib0Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Lib0Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// A `varUint`; `None` when truncated or longer than 64 bits.
    fn var_uint(&mut self) -> Option<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.buf.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A `varByteArray`; `None` when its length runs past the end.
    fn byte_array(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.var_uint()?).ok()?;
        if len > self.remaining() {
            return None;
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_documents_step1_reads_back() {
        // What the JS client sends for an empty document.
        let msg = read_client_message(&[0, 0, 1, 0]).unwrap();
        assert!(matches!(msg, ClientMessage::SyncStep1(sv) if sv.is_empty()));
        assert_eq!(&sync_step1(&StateVector::default())[..], [0, 0, 1, 0]);
    }

    #[test]
    fn an_empty_step2_reads_back() {
        let msg = read_client_message(&[0, 1, 2, 0, 0]).unwrap();
        assert!(matches!(msg, ClientMessage::Update { is_step2: true, .. }));
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        for frame in [
            &[][..],
            &[0][..],
            &[0, 0][..],
            &[0, 0, 5, 1][..],
            &[0, 9, 0][..],
            &[1, 3, 1][..],
            &[7][..],
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ][..],
            &[0, 2, 0x80][..],
        ] {
            assert!(read_client_message(frame).is_err(), "{frame:?}");
        }
    }

    #[test]
    fn absurd_counts_are_rejected_before_decoding() {
        // A state vector claiming 2^32 - 1 clients in 5 bytes.
        let frame = [0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            read_client_message(&frame),
            Err(ProtocolError::Malformed(_))
        ));
        // An awareness update claiming a billion states.
        let frame = [1, 5, 0x80, 0x94, 0xeb, 0xdc, 0x03];
        assert!(matches!(
            read_client_message(&frame),
            Err(ProtocolError::Malformed(_))
        ));
    }

    #[test]
    fn client_ids_beyond_53_bits_are_errors_not_panics() {
        // Found by the collab_frame fuzz target: yrs asserts on such an id while decoding.
        let frame = [
            0x01, 0x0c, 0x01, 0xa4, 0xb4, 0xf7, 0x9b, 0xa4, 0xb4, 0xf7, 0x9b, 0x02, 0x00, 0x28,
            0x02, 0x02, 0x04, 0x6e, 0x75, 0x6c, 0x6c,
        ];
        assert!(read_client_message(&frame).is_err());
    }

    #[test]
    fn a_pending_update_yrs_cannot_encode_is_dropped_and_the_document_still_encodes() {
        use yrs::{Text, Transact};
        // Found by the collab_frame fuzz target: after applying it, yrs panicked encoding the
        // document's state (every later step 2 and snapshot of the project would have).
        let frame = [
            0x00, 0x02, 0x1d, 0x01, 0x01, 0xa4, 0xb4, 0xf7, 0x9b, 0x02, 0x07, 0x02, 0x07, 0x04,
            0x5b, 0x01, 0x00, 0x00, 0x00, 0x04, 0x5b, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x07, 0xc3, 0xa9, 0x6c, 0x6c, 0x6f, 0x20, 0xf0, 0x9f, 0x91, 0x8b, 0x00,
        ];
        let doc = Doc::with_client_id(1);
        let text = doc.get_or_insert_text("notes");
        text.insert(&mut doc.transact_mut(), 0, "hello world");
        let ClientMessage::Update { update, .. } = read_client_message(&frame).unwrap() else {
            panic!("an update");
        };
        // The round trip of `decode_update` now refuses it; the document-level guard behind it
        // is checked with yrs's own decoder.
        assert!(decode_update(&update).is_err());
        assert!(apply_update(&doc, Update::decode_v1(&update).unwrap()).is_err());
        assert!(!discard_unencodable_pending(&doc));
        let state = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let copy = Doc::new();
        apply_update(&copy, decode_update(&state).unwrap()).unwrap();
        assert_eq!(
            yrs::GetString::get_string(&copy.get_or_insert_text("notes"), &copy.transact()),
            "hello world"
        );
    }

    #[test]
    fn an_update_yrs_cannot_write_back_is_refused() {
        // Found by the collab_frame fuzz target: it decoded and applied, and then the
        // document's own state no longer decoded (a snapshot of it would not have loaded).
        let frame = [
            0x00, 0x02, 0x1b, 0x01, 0x01, 0xa4, 0x26, 0xf7, 0x60, 0x02, 0x01, 0x01, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x27, 0x01, 0x55, 0x07, 0x6a, 0x65, 0x9b, 0x02, 0x00,
            0x28, 0x28, 0x01, 0x07, 0x70, 0x30, 0x72, 0x51, 0x6a, 0x65,
        ];
        let ClientMessage::Update { update, .. } = read_client_message(&frame).unwrap() else {
            panic!("an update");
        };
        assert!(matches!(
            decode_update(&update),
            Err(ProtocolError::Malformed(_))
        ));
    }

    #[test]
    fn query_awareness_and_auth_are_understood() {
        assert!(matches!(
            read_client_message(&[3]).unwrap(),
            ClientMessage::QueryAwareness
        ));
        assert!(matches!(
            read_client_message(&[2, 1]).unwrap(),
            ClientMessage::Auth
        ));
    }
}
