//! Property tests standing in for a fuzzer (no nightly toolchain here for cargo-fuzz): whatever
//! arrives as a bearer token, verification answers `Invalid` and never panics.

use proptest::prelude::*;
use studio_auth::AuthErrorKind;

use crate::support::{authenticator, b64, good_claims, hs256_config, sign_hs256};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_is_an_invalid_token(token in any::<String>()) {
        let auth = authenticator(hs256_config());
        let err = runtime().block_on(auth.verify(&token)).unwrap_err();
        prop_assert_eq!(err.kind(), AuthErrorKind::Invalid);
    }

    #[test]
    fn three_base64_segments_of_arbitrary_bytes_are_invalid(
        header in proptest::collection::vec(any::<u8>(), 0..200),
        payload in proptest::collection::vec(any::<u8>(), 0..400),
        signature in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let token = format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature));
        let auth = authenticator(hs256_config());
        let err = runtime().block_on(auth.verify(&token)).unwrap_err();
        prop_assert_eq!(err.kind(), AuthErrorKind::Invalid);
    }

    #[test]
    fn any_single_character_change_to_a_good_token_is_refused(position in any::<prop::sample::Index>(), replacement in "[A-Za-z0-9_-]") {
        let token = sign_hs256(&good_claims());
        let mut bytes = token.clone().into_bytes();
        let at = position.index(bytes.len());
        prop_assume!(bytes[at] != b'.' && bytes[at] != replacement.as_bytes()[0]);
        bytes[at] = replacement.as_bytes()[0];
        let mutated = String::from_utf8(bytes).unwrap();
        let auth = authenticator(hs256_config());
        // A change in the last character of a segment can leave the decoded bytes unchanged
        // (base64 padding bits); only a change that alters the decoded token must fail.
        if let Ok(user) = runtime().block_on(auth.verify(&mutated)) {
            let original = runtime().block_on(auth.verify(&token)).unwrap();
            prop_assert_eq!(user.user_id, original.user_id);
        }
    }
}
