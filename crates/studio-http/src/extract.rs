//! Request extractors that turn HTTP input into checked values or problem+json errors:
//! [`auth::AuthUser`] (who is calling), [`project::ProjectAccess`] (may they touch this project)
//! [`asset::AssetAccess`] (the same, reached through an asset), and [`json::ApiJson`] (a strictly
//! parsed body).

pub mod asset;
pub mod auth;
pub mod json;
pub mod project;
