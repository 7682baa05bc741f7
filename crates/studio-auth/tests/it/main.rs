//! Integration tests for `studio-auth`, one binary with a module per area (links once).
//! JWKS tests talk only to a local server on 127.0.0.1.

mod fuzz;
mod hs256;
mod jwks_cache;
mod jwks_keys;
mod support;
