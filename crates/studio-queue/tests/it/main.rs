//! Integration tests of studio-queue against real databases: one binary, a module per area.
//!
//! `runtime` runs workers over the embedded engine on SQLite and PostgreSQL with the harness of
//! `support` (a fresh SQLite file or PostgreSQL schema per test).

mod runtime;
mod support;
