//! Integration tests of studio-queue against real databases: one binary, a module per area.
//!
//! `runtime` runs workers on both engines (embedded, Redis/BullMQ) over SQLite and PostgreSQL
//! with the harness of `support` (a fresh SQLite file or PostgreSQL schema, and BullMQ key
//! prefix, per test); `redis` checks what only the Redis engine has to get right.

mod redis;
mod runtime;
mod support;
