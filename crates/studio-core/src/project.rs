//! Project-level values that are checked before they reach storage.

use std::fmt;

use serde::Serialize;

/// Longest project name, in characters: room for a descriptive title, short enough for any list.
pub const MAX_PROJECT_NAME_CHARS: usize = 200;

/// Why a project name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectNameError {
    #[error("name must not be empty or only whitespace")]
    Empty,
    #[error("name must be at most {MAX_PROJECT_NAME_CHARS} characters")]
    TooLong,
    #[error("name must not contain control characters")]
    ControlCharacter,
}

/// A project's display name: trimmed, non-empty, bounded, free of control characters.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ProjectName(String);

impl ProjectName {
    /// Trims and checks a name.
    pub fn parse(raw: &str) -> Result<Self, ProjectNameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ProjectNameError::Empty);
        }
        if name.chars().count() > MAX_PROJECT_NAME_CHARS {
            return Err(ProjectNameError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(ProjectNameError::ControlCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ProjectName::parse("  Cats  ").unwrap().as_str(), "Cats");
        assert_eq!(ProjectName::parse("   "), Err(ProjectNameError::Empty));
        let long = "é".repeat(MAX_PROJECT_NAME_CHARS + 1);
        assert_eq!(ProjectName::parse(&long), Err(ProjectNameError::TooLong));
        assert!(ProjectName::parse(&"é".repeat(MAX_PROJECT_NAME_CHARS)).is_ok());
        assert_eq!(
            ProjectName::parse("a\u{0}b"),
            Err(ProjectNameError::ControlCharacter)
        );
    }
}
