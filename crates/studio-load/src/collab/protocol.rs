//! The y-websocket frames the load tool writes and reads (`shared/notes/collab-protocol.md`).
//!
//! Outgoing frames are encoded by `yrs::sync`, so they are byte for byte what the real client
//! and the Rust server speak. Incoming frames are only *classified* by their varUint header and
//! their payload sliced out, never fully decoded: a receiver needs the kind and the bytes, and
//! skipping the awareness JSON parse keeps the generator cheap next to the server it measures.
//! One binary frame carries one message; trailing bytes are ignored, as the JS client does.

use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode as _;
use yrs::updates::encoder::Encode as _;
use yrs::{Doc, ReadTxn as _, StateVector, Transact as _};

/// Message type: sync (step 1, step 2, update).
pub const MSG_SYNC: u64 = 0;
/// Message type: awareness states.
pub const MSG_AWARENESS: u64 = 1;
/// Message type: auth (`0` = permission denied, then a reason).
pub const MSG_AUTH: u64 = 2;
/// Message type: query awareness (the peer wants all awareness states).
pub const MSG_QUERY_AWARENESS: u64 = 3;
/// Sync subtype: step 1, a state vector.
pub const SYNC_STEP1: u64 = 0;
/// Sync subtype: step 2, the update the peer lacks.
pub const SYNC_STEP2: u64 = 1;
/// Sync subtype: an incremental update.
pub const SYNC_UPDATE: u64 = 2;

/// The step 2 an empty document answers any step 1 with (`00 01 02 00 00`).
pub const EMPTY_STEP2: [u8; 5] = [0, 1, 2, 0, 0];

/// An incoming frame, classified; payloads borrow from the frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `0,0`: the peer's state vector (lib0 v1 bytes).
    SyncStep1(&'a [u8]),
    /// `0,1`: the update we lack (lib0 v1 bytes).
    SyncStep2(&'a [u8]),
    /// `0,2`: an incremental update (lib0 v1 bytes).
    Update(&'a [u8]),
    /// `1`: awareness states (not decoded).
    Awareness,
    /// `2,0`: the server refused access, with its reason.
    AuthDenied(String),
    /// `2,x` for another `x`.
    Auth,
    /// `3`: the server asks for our awareness states.
    QueryAwareness,
    /// Another message type.
    Unknown(u64),
    /// Not a valid lib0 message header.
    Malformed,
}

/// Reads one lib0 varUint at `*pos` and advances past it; `None` on truncation or overflow.
pub fn read_var_uint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        if shift >= 64 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
        shift += 7;
    }
}

/// Reads one lib0 varByteArray (varUint length, then the bytes) at `*pos`.
fn read_var_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(read_var_uint(buf, pos)?).ok()?;
    let end = pos.checked_add(len)?;
    let bytes = buf.get(*pos..end)?;
    *pos = end;
    Some(bytes)
}

/// Classifies one binary frame by its header.
pub fn classify(frame: &[u8]) -> Incoming<'_> {
    let mut pos = 0;
    let Some(kind) = read_var_uint(frame, &mut pos) else {
        return Incoming::Malformed;
    };
    match kind {
        MSG_SYNC => {
            let Some(subtype) = read_var_uint(frame, &mut pos) else {
                return Incoming::Malformed;
            };
            let Some(payload) = read_var_bytes(frame, &mut pos) else {
                return Incoming::Malformed;
            };
            match subtype {
                SYNC_STEP1 => Incoming::SyncStep1(payload),
                SYNC_STEP2 => Incoming::SyncStep2(payload),
                SYNC_UPDATE => Incoming::Update(payload),
                _ => Incoming::Malformed,
            }
        }
        MSG_AWARENESS => Incoming::Awareness,
        MSG_AUTH => match read_var_uint(frame, &mut pos) {
            Some(0) => {
                let reason = read_var_bytes(frame, &mut pos).unwrap_or_default();
                Incoming::AuthDenied(String::from_utf8_lossy(reason).into_owned())
            }
            Some(_) => Incoming::Auth,
            None => Incoming::Malformed,
        },
        MSG_QUERY_AWARENESS => Incoming::QueryAwareness,
        other => Incoming::Unknown(other),
    }
}

/// Step 1 carrying `doc`'s state vector (for a new document: `00 00 01 00`).
pub fn step1(doc: &Doc) -> Vec<u8> {
    let sv = doc.transact().state_vector();
    Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1()
}

/// Step 1 with an empty state vector, for connections without a document.
pub fn empty_step1() -> Vec<u8> {
    Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1()
}

/// Step 2 answering the peer's step 1 (`remote_sv`, lib0 v1) with what `doc` has and it lacks.
pub fn step2_for(doc: &Doc, remote_sv: &[u8]) -> Result<Vec<u8>, yrs::encoding::read::Error> {
    let sv = StateVector::decode_v1(remote_sv)?;
    let update = doc.transact().encode_state_as_update_v1(&sv);
    Ok(Message::Sync(SyncMessage::SyncStep2(update)).encode_v1())
}

/// An incremental update message carrying `update` (lib0 v1).
pub fn update(update: Vec<u8>) -> Vec<u8> {
    Message::Sync(SyncMessage::Update(update)).encode_v1()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Map as _, Text as _};

    #[test]
    fn empty_doc_handshake_bytes_match_the_js_client() {
        assert_eq!(step1(&Doc::new()), [0, 0, 1, 0]);
        assert_eq!(empty_step1(), [0, 0, 1, 0]);
        let reply = step2_for(&Doc::new(), &[0]).expect("empty state vector");
        assert_eq!(reply, EMPTY_STEP2);
        assert_eq!(classify(&EMPTY_STEP2), Incoming::SyncStep2(&[0, 0]));
        assert_eq!(classify(&[0, 0, 1, 0]), Incoming::SyncStep1(&[0]));
    }

    #[test]
    fn classify_agrees_with_yrs_decoding() {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        let payload = {
            let mut txn = doc.transact_mut();
            text.insert(&mut txn, 0, "hello");
            txn.encode_update_v1()
        };
        let frame = update(payload.clone());
        assert_eq!(classify(&frame), Incoming::Update(&payload));
        assert_eq!(
            Message::decode_v1(&frame).expect("yrs decodes it"),
            Message::Sync(SyncMessage::Update(payload.clone()))
        );

        let step1 = step1(&doc);
        let Incoming::SyncStep1(sv) = classify(&step1) else {
            panic!("not a step 1: {step1:?}");
        };
        assert_eq!(
            StateVector::decode_v1(sv).expect("a state vector"),
            doc.transact().state_vector()
        );
    }

    #[test]
    fn step2_carries_what_the_peer_lacks() {
        let doc = Doc::new();
        let map = doc.get_or_insert_map("lt");
        map.insert(&mut doc.transact_mut(), "c0", "LT00000000000000");
        let frame = step2_for(&doc, &[0]).expect("empty state vector");
        let Incoming::SyncStep2(update) = classify(&frame) else {
            panic!("not a step 2: {frame:?}");
        };
        let copy = Doc::new();
        copy.transact_mut()
            .apply_update(yrs::Update::decode_v1(update).expect("an update"))
            .expect("applies");
        let copy_map = copy.get_or_insert_map("lt");
        assert_eq!(
            copy_map.get(&copy.transact(), "c0"),
            Some(yrs::Out::Any(yrs::Any::from("LT00000000000000")))
        );
    }

    #[test]
    fn multi_byte_var_uints() {
        let mut pos = 0;
        assert_eq!(read_var_uint(&[0xac, 0x02, 0x7f], &mut pos), Some(300));
        assert_eq!(pos, 2);
        assert_eq!(read_var_uint(&[0xac, 0x02, 0x7f], &mut pos), Some(127));
        assert_eq!(read_var_uint(&[0x80], &mut 0), None);
        assert_eq!(read_var_uint(&[0xff; 11], &mut 0), None);
    }

    #[test]
    fn other_message_kinds() {
        assert_eq!(classify(&[1, 1, 0]), Incoming::Awareness);
        assert_eq!(classify(&[3]), Incoming::QueryAwareness);
        assert_eq!(
            classify(&[2, 0, 6, b'n', b'o', b' ', b'w', b'a', b'y']),
            Incoming::AuthDenied("no way".into())
        );
        assert_eq!(classify(&[9, 0]), Incoming::Unknown(9));
        assert_eq!(classify(&[]), Incoming::Malformed);
        assert_eq!(classify(&[0, 2, 5, 1]), Incoming::Malformed);
        assert_eq!(classify(&[0, 7, 0]), Incoming::Malformed);
    }
}
