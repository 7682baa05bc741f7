//! [`BlobKey`]: the only way an object name reaches a store.
//!
//! Invariant: every parsed key is a relative path of normal segments, so joining it onto a
//! directory can never leave that directory, and it means the same thing on disk, in a URL path
//! and as an S3 key. The rules are stricter than S3's on purpose: no `%` (so no percent-encoded
//! variant of a key can exist, and decoding a URL path twice cannot change it), no `\`, no control
//! or invisible characters (they make keys that look equal in logs but are not).

use std::fmt;

/// Longest key in bytes: S3's limit.
pub const MAX_KEY_BYTES: usize = 1024;
/// Longest segment in bytes: the usual filesystem `NAME_MAX`, so a key accepted here can also be
/// stored by the local backend.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// A checked object key such as `projects/prj_1/assets/ast_2/original.mov`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

/// Why a string is not a valid [`BlobKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobKeyError {
    #[error("key is empty")]
    Empty,
    #[error("key is longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
    #[error("key segment is longer than {MAX_SEGMENT_BYTES} bytes")]
    SegmentTooLong,
    #[error("key has an empty segment (leading, trailing or doubled `/`)")]
    EmptySegment,
    #[error("key has a `.` or `..` segment")]
    DotSegment,
    #[error("key contains the forbidden character {0:?}")]
    ForbiddenChar(char),
}

impl BlobKey {
    /// Checks `s` against the rules in the module documentation.
    pub fn parse(s: &str) -> Result<Self, BlobKeyError> {
        if s.is_empty() {
            return Err(BlobKeyError::Empty);
        }
        if s.len() > MAX_KEY_BYTES {
            return Err(BlobKeyError::TooLong);
        }
        if let Some(c) = s.chars().find(|&c| is_forbidden(c)) {
            return Err(BlobKeyError::ForbiddenChar(c));
        }
        for segment in s.split('/') {
            match segment {
                "" => return Err(BlobKeyError::EmptySegment),
                "." | ".." => return Err(BlobKeyError::DotSegment),
                s if s.len() > MAX_SEGMENT_BYTES => return Err(BlobKeyError::SegmentTooLong),
                _ => {}
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated segments, each non-empty and neither `.` nor `..`.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

/// Characters no key may contain: separators and escapes other stores or layers interpret
/// (`\`, `%`), and characters that are not visible (controls, line separators, zero-width and
/// bidirectional formatting marks, byte-order mark, noncharacters).
fn is_forbidden(c: char) -> bool {
    matches!(c,
        '\\' | '%'
        | '\u{2028}' | '\u{2029}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{FDD0}'..='\u{FDEF}')
        || c.is_control()
        || (u32::from(c) & 0xFFFE) == 0xFFFE
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobKey({:?})", self.0)
    }
}

impl AsRef<str> for BlobKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for BlobKey {
    type Err = BlobKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for BlobKey {
    type Error = BlobKeyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<BlobKey> for String {
    fn from(key: BlobKey) -> Self {
        key.0
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        for ok in [
            "a",
            "projects/prj_1/assets/ast_2/original.mov",
            "my file + copy (2).mp4",
            "été/日本語/ファイル.wav",
            "...",
            ".hidden/..x/x..",
            "a:b/c@d",
        ] {
            assert_eq!(BlobKey::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_escapes_and_oddities() {
        use BlobKeyError::*;
        let cases: &[(&str, BlobKeyError)] = &[
            ("", Empty),
            ("/etc/passwd", EmptySegment),
            ("a/", EmptySegment),
            ("a//b", EmptySegment),
            ("..", DotSegment),
            ("../x", DotSegment),
            ("a/../../x", DotSegment),
            ("a/./b", DotSegment),
            ("%2e%2e/x", ForbiddenChar('%')),
            ("a%2Fb", ForbiddenChar('%')),
            ("..\\x", ForbiddenChar('\\')),
            ("C:\\Windows", ForbiddenChar('\\')),
            ("a\nb", ForbiddenChar('\n')),
            ("a\0b", ForbiddenChar('\0')),
            ("a\u{7f}", ForbiddenChar('\u{7f}')),
            ("a\u{85}", ForbiddenChar('\u{85}')),
            ("evil\u{202E}vom.exe", ForbiddenChar('\u{202E}')),
            ("zero\u{200B}width", ForbiddenChar('\u{200B}')),
            ("bom\u{FEFF}", ForbiddenChar('\u{FEFF}')),
            ("non\u{FFFF}char", ForbiddenChar('\u{FFFF}')),
        ];
        for (input, want) in cases {
            assert_eq!(BlobKey::parse(input).unwrap_err(), *want, "{input:?}");
        }
        assert_eq!(
            BlobKey::parse(&"a".repeat(MAX_KEY_BYTES + 1)).unwrap_err(),
            TooLong
        );
        assert_eq!(
            BlobKey::parse(&"a".repeat(MAX_SEGMENT_BYTES + 1)).unwrap_err(),
            SegmentTooLong
        );
        let longest = vec!["a".repeat(MAX_SEGMENT_BYTES); 4].join("/");
        assert!(longest.len() <= MAX_KEY_BYTES);
        BlobKey::parse(&longest).unwrap();
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        let key: BlobKey = serde_json::from_str(r#""a/b c""#).unwrap();
        assert_eq!(serde_json::to_string(&key).unwrap(), r#""a/b c""#);
        assert!(serde_json::from_str::<BlobKey>(r#""../x""#).is_err());
    }

    /// Strings built from the pieces an attacker would use, mixed with ordinary text.
    fn hostile() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just("%2e".to_owned()),
            Just("%2f".to_owned()),
            Just("\0".to_owned()),
            Just("~".to_owned()),
            "[a-z .+é日]{1,6}",
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 1..12).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn parsed_keys_never_escape_a_root(s in hostile()) {
            if let Ok(key) = BlobKey::parse(&s) {
                let root = Path::new("/srv/blobs");
                let joined = root.join(key.as_str());
                prop_assert!(joined.starts_with(root));
                // Every component after the root is a plain name: no `..`, no root, no prefix.
                for c in joined.strip_prefix(root).unwrap().components() {
                    prop_assert!(matches!(c, Component::Normal(_)), "{c:?} in {s:?}");
                }
                prop_assert_eq!(
                    Path::new(key.as_str()).components().count(),
                    key.segments().count()
                );
                prop_assert!(!key.as_str().contains('%'));
            }
        }

        #[test]
        fn parse_round_trips(s in "[a-zA-Z0-9 _+-][a-zA-Z0-9 _.+-]{0,19}(/[a-zA-Z0-9 _+-]{1,20}){0,4}") {
            let key = BlobKey::parse(&s).unwrap();
            let shown = key.to_string();
            prop_assert_eq!(BlobKey::parse(&shown).unwrap(), key);
        }
    }
}
