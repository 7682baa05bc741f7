//! The storage webhook's transport-free core: reading the notification formats stores send
//! ([`payload`]) and deciding whether a delivery really comes from the store ([`auth`], with the
//! Standard Webhooks signature scheme in [`signature`]). Pure functions, no I/O, so they are
//! unit- and property-tested on their own; `routes::webhooks` is the thin handler on top.
//!
//! Invariant: nothing here trusts a payload's size or type. A record only names an object; the
//! handler checks that object in storage before anything changes.

pub mod auth;
pub mod payload;
pub mod signature;

#[cfg(test)]
mod proptests;
