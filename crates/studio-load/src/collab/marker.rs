//! Markers: the string each sending client writes into map `lt`, key `c<client>`, one per
//! update, `LT<client:04><seq:010>` (16 ASCII bytes).
//!
//! A Yjs v1 update stores a string value as a varString, raw UTF-8, so a receiver finds which
//! (sender, seq) a relayed frame carries by scanning its bytes, without a `Doc` per receiver
//! (the load tool shares two cores with the server it measures). A frame may carry several
//! markers (a server may merge updates); the scanner returns them all.

/// Marker prefix.
const PREFIX: [u8; 2] = *b"LT";
/// Decimal digits of the client number.
const CLIENT_DIGITS: usize = 4;
/// Decimal digits of the sequence number.
const SEQ_DIGITS: usize = 10;
/// Length of a marker in bytes.
pub const LEN: usize = PREFIX.len() + CLIENT_DIGITS + SEQ_DIGITS;
/// Clients a room run may have: the client number has four digits.
pub const MAX_CLIENTS: usize = 10_000;

/// One (sender, sequence number) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// The sending client, `0..MAX_CLIENTS`.
    pub client: u32,
    /// The sender's update number, from 0.
    pub seq: u64,
}

impl Marker {
    /// The marker text, `LT<client:04><seq:010>`.
    pub fn text(self) -> String {
        let Self { client, seq } = self;
        format!("LT{client:04}{seq:010}")
    }
}

/// The map key a client writes its markers to.
pub fn key(client: u32) -> String {
    format!("c{client}")
}

/// All markers in `bytes`, in order.
pub fn scan(bytes: &[u8]) -> Scan<'_> {
    Scan { bytes, pos: 0 }
}

/// Iterator returned by [`scan`].
#[derive(Debug)]
pub struct Scan<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Iterator for Scan<'_> {
    type Item = Marker;

    fn next(&mut self) -> Option<Marker> {
        while self.pos + LEN <= self.bytes.len() {
            let rest = &self.bytes[self.pos..];
            let Some(at) = rest[..=rest.len() - LEN]
                .iter()
                .position(|&b| b == PREFIX[0])
            else {
                self.pos = self.bytes.len();
                return None;
            };
            let candidate = &rest[at..at + LEN];
            if let Some(marker) = parse(candidate) {
                self.pos += at + LEN;
                return Some(marker);
            }
            self.pos += at + 1;
        }
        None
    }
}

/// Parses exactly one marker (`LEN` bytes).
fn parse(candidate: &[u8]) -> Option<Marker> {
    let (prefix, digits) = candidate.split_at(PREFIX.len());
    if prefix != PREFIX || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let (client, seq) = digits.split_at(CLIENT_DIGITS);
    let number = |digits: &[u8]| {
        digits
            .iter()
            .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'))
    };
    Some(Marker {
        client: u32::try_from(number(client)).ok()?,
        seq: number(seq),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{Doc, Map as _, Transact as _};

    fn marker(client: u32, seq: u64) -> Marker {
        Marker { client, seq }
    }

    #[test]
    fn text_has_fixed_width() {
        assert_eq!(marker(7, 42).text(), "LT00070000000042");
        assert_eq!(marker(9999, 9_999_999_999).text().len(), LEN);
        assert_eq!(key(12), "c12");
    }

    #[test]
    fn finds_markers_anywhere() {
        assert_eq!(
            scan(b"LT00070000000042").collect::<Vec<_>>(),
            [marker(7, 42)]
        );
        let bytes = b"\x00\x02LLT00010000000001xxLT0002000000000\x00LT00030000000003";
        assert_eq!(
            scan(bytes).collect::<Vec<_>>(),
            [marker(1, 1), marker(3, 3)],
            "a truncated marker in the middle is skipped"
        );
        let adjacent = [marker(1, 5).text(), marker(2, 6).text()].concat();
        assert_eq!(
            scan(adjacent.as_bytes()).collect::<Vec<_>>(),
            [marker(1, 5), marker(2, 6)]
        );
    }

    #[test]
    fn ignores_near_misses() {
        assert_eq!(scan(b"").count(), 0);
        assert_eq!(scan(b"LT0007000000004").count(), 0, "one digit short");
        assert_eq!(scan(b"LT000700000000x2").count(), 0);
        assert_eq!(scan(b"lt00070000000042").count(), 0);
        assert_eq!(scan(b"LX00070000000042").count(), 0);
    }

    #[test]
    fn finds_the_marker_in_a_real_yjs_update_frame() {
        let doc = Doc::new();
        let map = doc.get_or_insert_map("lt");
        let mut frames = Vec::new();
        for seq in 0..3 {
            let mut txn = doc.transact_mut();
            map.insert(&mut txn, key(12), marker(12, seq).text());
            frames.push(crate::collab::protocol::update(txn.encode_update_v1()));
        }
        for (seq, frame) in (0..).zip(&frames) {
            assert_eq!(scan(frame).collect::<Vec<_>>(), [marker(12, seq)]);
        }
        // The update overwriting the key also deletes the previous value, but carries only
        // the new string: a receiver sees each marker once.
        let merged =
            yrs::merge_updates_v1(frames.iter().map(
                |frame| match crate::collab::protocol::classify(frame) {
                    crate::collab::protocol::Incoming::Update(update) => update,
                    other => panic!("not an update: {other:?}"),
                },
            ))
            .expect("merges");
        assert_eq!(
            scan(&merged).collect::<Vec<_>>(),
            [marker(12, 0), marker(12, 1), marker(12, 2)]
        );
    }
}
