//! The y-websocket protocol v1 on the wire: reading one client message per binary frame, and
//! the frames the server sends.
//!
//! Messages are lib0-encoded: a `varUint` type (0 sync, 1 awareness, 2 auth, 3 query-awareness),
//! then for sync a `varUint` sub-type (0 step 1 with a state vector, 1 step 2 and 2 update with a
//! Yjs update) and a `varByteArray` payload. `yrs::sync` does the decoding; before it runs, the
//! counts a payload declares are checked against the bytes that are really there, so a few bytes
//! claiming billions of entries are rejected instead of reserving memory for them.

use bytes::Bytes;
use yrs::StateVector;
use yrs::sync::awareness::AwarenessUpdate;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

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
                    let sv = StateVector::decode_v1(payload).map_err(malformed)?;
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
            let update = AwarenessUpdate::decode_v1(payload).map_err(malformed)?;
            Ok(ClientMessage::Awareness(update))
        }
        2 => Ok(ClientMessage::Auth),
        3 => Ok(ClientMessage::QueryAwareness),
        other => Err(ProtocolError::UnknownType(other)),
    }
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
