//! Integration tests: the real application on port 0, over HTTP, against the backend named by
//! `STUDIO_TEST_BACKEND` (the Makefile runs the suite once per backend). One test binary with a
//! module per area links once.

mod access;
mod ai;
mod ai_providers;
mod ai_sdk;
mod auth;
mod cli;
mod cold;
mod collab;
mod errors;
mod headers;
mod health;
mod jobs;
mod jwks;
mod lifecycle;
mod load;
mod media;
mod members;
mod memory;
mod openapi;
mod pipeline;
mod projects;
mod queue_metrics;
mod ratelimit;
mod reconciler;
mod support;
mod timeline;
mod uppy;
mod webhooks;
mod workers;
