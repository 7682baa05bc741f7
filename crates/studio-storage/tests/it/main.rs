//! Integration tests of studio-storage: one binary (faster to link), a module per area.
//!
//! `contract` runs the same suite against both backends: `LocalStore` behind a minimal axum
//! server, and `S3Store` against a real `s3s-fs` (which verifies SigV4) started per test.

mod cold;
mod contract;
mod local_only;
mod post_form;
mod s3_only;
mod support;
