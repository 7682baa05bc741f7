//! Studio Engine's AI backend-for-frontend.
//!
//! The browser never holds a provider key: it asks studio, studio asks the provider and streams
//! the answer back as it is generated. Around the provider clients ([`openai`], [`gemini`],
//! [`elevenlabs`], all behind the traits of [`provider`]) sit what makes that cheap and safe:
//! the answer cache ([`cache`]), request coalescing ([`flight`], across nodes through
//! [`relay`]), per-user limits ([`limits`]), and the [`service`] that orchestrates a call.
//! [`uistream`] writes the Vercel AI SDK UI message stream the browser reads.
//!
//! Features (both default): `client`, the provider clients that send requests ([`http`],
//! [`elevenlabs`], the `*Provider` structs); `service`, the orchestration around them and its
//! Redis and database dependencies. Without them only the network-free parts are built: the
//! provider contract, [`sse`], [`uistream`] and the stream translators
//! ([`openai::chat_stream`], [`gemini::chat_stream`]), which is what the fuzz targets need.

// Network-free: the contract, the parsers, the translators.
pub mod error;
pub mod gemini;
pub mod openai;
pub mod provider;
pub mod sse;
pub mod uistream;

// The provider clients.
#[cfg(feature = "client")]
pub mod elevenlabs;
#[cfg(feature = "client")]
pub mod http;

// The orchestration.
#[cfg(feature = "service")]
pub mod cache;
#[cfg(feature = "service")]
mod calllog;
#[cfg(feature = "service")]
pub mod chat;
#[cfg(feature = "service")]
pub mod flight;
#[cfg(feature = "service")]
pub mod key;
#[cfg(feature = "service")]
pub mod limits;
#[cfg(feature = "service")]
pub mod metrics;
#[cfg(feature = "service")]
pub mod relay;
#[cfg(feature = "service")]
pub mod service;
#[cfg(feature = "service")]
pub mod speech;
#[cfg(feature = "service")]
pub mod tasks;

pub use error::ProviderError;
pub use provider::{
    ChatEvent, ChatMessage, ChatProvider, ChatRequest, ChatStream, FinishReason, Role,
    SpeechProvider, SpeechRequest, SpeechStream, Timeouts, Usage,
};
#[cfg(feature = "service")]
pub use {
    chat::ChatAnswer,
    service::{
        AiError, AiParts, AiPlanLimits, AiService, AiSettings, CachePolicy, CacheStatus, Caller,
        Routed, UsageReport,
    },
    speech::SpeechAnswer,
};
