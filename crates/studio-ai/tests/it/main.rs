//! Integration tests of the coalescer, the answer cache and the limiter, against a real Redis at
//! `127.0.0.1:6379` (`REDIS_URL` overrides). Every test uses its own key prefix and deletes its
//! keys at the end.

mod cache;
mod flight;
mod limits;
mod relay;
mod support;
