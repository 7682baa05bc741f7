//! Integration tests of studio-db: one binary (faster to link), a module per area.
//!
//! `store`, `media`, `queue`, `timeline` and `collab` check the `Store` / `MediaStore` /
//! `QueueStore` / `TimelineStore` / `CollabStore` contracts against both backends with the
//! harness of `support`; `fuzz_cursor` stands in for a fuzzer of the pagination cursor.

mod ai_usage;
mod archive;
mod collab;
mod fuzz_cursor;
mod media;
mod queue;
mod store;
mod support;
mod timeline;
