//! Property tests standing in for a fuzzer: the id, user-id and name parsers never panic, accept
//! only what they document, and round-trip what they accept.

use proptest::prelude::*;
use studio_core::{ProjectId, ProjectName, UserId};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn project_ids_parse_only_their_own_shape(s in any::<String>()) {
        if let Ok(id) = s.parse::<ProjectId>() {
            prop_assert!(s.starts_with("prj_"));
            prop_assert_eq!(id.as_str(), s.as_str());
        }
    }

    #[test]
    fn near_miss_project_ids_are_refused(suffix in "[0-9a-z]{20,30}") {
        let s = format!("prj_{suffix}");
        let valid = suffix.len() == 26 && !suffix.contains(['i', 'l', 'o', 'u']);
        prop_assert_eq!(s.parse::<ProjectId>().is_ok(), valid);
    }

    #[test]
    fn user_ids_are_safe_text(s in any::<String>()) {
        if let Ok(user) = UserId::parse(&s) {
            prop_assert!(!user.as_str().is_empty() && user.as_str().len() <= 128);
            prop_assert!(user.as_str().bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'%'));
        }
    }

    #[test]
    fn project_names_are_trimmed_bounded_and_printable(s in any::<String>()) {
        if let Ok(name) = ProjectName::parse(&s) {
            prop_assert_eq!(name.as_str(), s.trim());
            prop_assert!(!name.as_str().is_empty());
            prop_assert!(name.as_str().chars().count() <= 200);
            prop_assert!(!name.as_str().chars().any(char::is_control));
        }
    }
}
