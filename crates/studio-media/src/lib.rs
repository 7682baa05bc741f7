//! Studio Engine's media library: what a processing job calls to understand an upload and make
//! its browser-friendly derivatives.
//!
//! - [`probe`](mod@probe): `ffprobe` → [`MediaInfo`] (kind, displayed dimensions, rotation, frame rate, codecs).
//! - [`waveform`]: a streaming builder for the BBC audiowaveform v2 format (JSON, `.dat`, PNG).
//! - [`transcode`]: the one-decode `ffmpeg` run that writes the proxy and streams the waveform's PCM,
//!   plus image proxies and poster frames.
//!
//! No queue, no HTTP, no database: every external program runs through [`process`], supervised
//! (explicit args, `kill_on_drop`, a timeout that kills, stderr captured into [`MediaError`]).

pub mod error;
pub mod probe;
pub mod process;
pub mod transcode;
pub mod waveform;

pub use error::MediaError;
pub use probe::{MediaInfo, MediaKind, probe};
pub use process::Tools;
pub use transcode::{ProxyOutputs, ProxySettings, make_proxy};
pub use waveform::{Waveform, WaveformBits, WaveformBuilder};
