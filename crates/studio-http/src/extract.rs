//! Request extractors that turn HTTP input into checked values or problem+json errors:
//! [`auth::AuthUser`] (who is calling), [`project::ProjectAccess`] (may they touch this project)
//! and [`json::ApiJson`] (a strictly parsed body).

pub mod auth;
pub mod json;
pub mod project;
