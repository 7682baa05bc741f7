//! studio-media against the real ffmpeg/ffprobe (and the real `waveform-data` npm package).
//! Fixtures are generated at test time with ffmpeg's lavfi sources in a temp dir per test.
//! A missing ffmpeg fails the tests with a clear message: CI installs it.

mod helpers;
mod probe;
mod transcode;
mod waveform_node;
