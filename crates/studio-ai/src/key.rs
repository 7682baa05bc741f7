//! Cache keys: which requests are "the same".
//!
//! A key is the SHA-256 of the request's canonical form — the kind of call, the provider, the
//! scope it is shared within, and the request's canonical JSON (model, messages, parameters,
//! with the server-side task prompt and its project context already folded into the messages) —
//! so two requests share an answer exactly when everything that shapes the answer is equal and
//! they are in the same scope. Each part is length-prefixed, so no two different requests can
//! produce the same bytes by moving text from one part to the next.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who may share cached answers and in-flight calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// Each user their own (the default: a prompt may hold private text).
    User,
    /// Everyone with access to the project (requests without a project fall back to `User`).
    Project,
    /// Every user of this installation.
    Global,
}

/// The scope one request falls in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeKey {
    User(String),
    Project(String),
    Global,
}

impl ScopeKey {
    /// The scope of a request by `user`, about `project` if any, under the configured `scope`.
    pub fn of(scope: CacheScope, user: &str, project: Option<&str>) -> Self {
        match (scope, project) {
            (CacheScope::Global, _) => Self::Global,
            (CacheScope::Project, Some(project)) => Self::Project(project.to_owned()),
            _ => Self::User(user.to_owned()),
        }
    }

    fn parts(&self) -> (&'static str, &str) {
        match self {
            Self::User(user) => ("user", user),
            Self::Project(project) => ("project", project),
            Self::Global => ("global", ""),
        }
    }
}

/// The key of a call: `kind` (`chat` or `speech`), the provider's name, the scope, and the
/// canonical JSON of the request. Lowercase hex.
pub fn cache_key(kind: &str, provider: &str, scope: &ScopeKey, request: &impl Serialize) -> String {
    let (scope_kind, scope_id) = scope.parts();
    // Serializing our own request types cannot fail (no maps with non-string keys).
    let body = serde_json::to_vec(request).unwrap_or_default();
    let mut hash = Sha256::new();
    for part in [
        kind.as_bytes(),
        provider.as_bytes(),
        scope_kind.as_bytes(),
        scope_id.as_bytes(),
        &body,
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChatMessage, ChatRequest, Role};

    fn request(text: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            messages: vec![ChatMessage {
                role: Role::User,
                content: text.into(),
            }],
            temperature: None,
            max_output_tokens: 100,
        }
    }

    #[test]
    fn equal_requests_in_one_scope_share_a_key_and_nothing_else_does() {
        let alice = ScopeKey::User("alice".into());
        let bob = ScopeKey::User("bob".into());
        let key = cache_key("chat", "openai", &alice, &request("hi"));
        assert_eq!(key, cache_key("chat", "openai", &alice, &request("hi")));
        assert_eq!(key.len(), 64);
        for other in [
            cache_key("chat", "openai", &bob, &request("hi")),
            cache_key("chat", "gemini", &alice, &request("hi")),
            cache_key("speech", "openai", &alice, &request("hi")),
            cache_key("chat", "openai", &alice, &request("hi ")),
            cache_key("chat", "openai", &ScopeKey::Global, &request("hi")),
            cache_key(
                "chat",
                "openai",
                &ScopeKey::Project("alice".into()),
                &request("hi"),
            ),
        ] {
            assert_ne!(key, other);
        }
        let mut warm = request("hi");
        warm.temperature = Some(0.5);
        assert_ne!(key, cache_key("chat", "openai", &alice, &warm));
    }

    #[test]
    fn project_scope_without_a_project_is_the_users() {
        assert_eq!(
            ScopeKey::of(CacheScope::Project, "alice", None),
            ScopeKey::User("alice".into())
        );
        assert_eq!(
            ScopeKey::of(CacheScope::Project, "alice", Some("p1")),
            ScopeKey::Project("p1".into())
        );
        assert_eq!(
            ScopeKey::of(CacheScope::Global, "alice", Some("p1")),
            ScopeKey::Global
        );
    }
}
