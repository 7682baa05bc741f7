//! Property tests standing in for a fuzzer: a pagination cursor comes from the client, so any
//! text must decode to a cursor or to nothing, never panic; real cursors round-trip.

use proptest::prelude::*;
use studio_db::PageCursor;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_cursor_text_never_panics(token in any::<String>()) {
        if let Some(cursor) = PageCursor::decode(&token) {
            prop_assert_eq!(PageCursor::decode(&cursor.encode()), Some(cursor));
        }
    }
}
