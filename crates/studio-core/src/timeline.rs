//! The project timeline (the Project JSON, an EDL): the model, its published JSON Schema, and
//! the validation every write goes through.
//!
//! Validation has two halves, and one call ([`parse`] then [`validate`]) runs both:
//! 1. shape — the document against the JSON Schema generated from the model ([`json_schema`]):
//!    unknown or missing fields, wrong types, ranges, formats. Every error, with its pointer.
//! 2. rules — what a schema cannot say: unique ids, no overlap on a track, lengths and counts
//!    within [`TimelineLimits`], fades that fit, assets of this project of a kind the track takes,
//!    clips within the asset's probed duration.
//!
//! A document with shape errors gets only those (the rules need a well-formed document). Either
//! way, all the errors found come back together as [`Violation`]s.
//!
//! ## Versions
//! `schemaVersion` is required and is 1. When the format must change incompatibly, version 2
//! comes with: a `model` for 2 (this one kept as `v1`), a pure `upgrade_v1(Value) -> Value` that
//! rewrites a version 1 document into version 2 (renames, defaults for new required fields), run
//! by [`parse`] before the shape check when it reads `schemaVersion: 1`, and a published schema
//! per version. Stored documents are upgraded when read and written back as version 2 on the next
//! write, so no bulk migration is needed; a client still sending version 1 keeps working until it
//! is updated. Additive changes (a new optional field) need no new version.

mod model;
pub mod otio;
mod rules;
mod shape;
mod violation;

pub use model::{Clip, Marker, Project, SCHEMA_VERSION, TextAlign, TextStyle, Track, TrackKind};
pub use rules::{AssetCatalog, AssetFacts, TimelineLimits};
pub use shape::json_schema;
pub use violation::{Violation, ViolationCode, push_pointer};

/// Reads a timeline document: size, JSON, version and shape. On success the document is a
/// well-formed [`Project`] (still to be [`validate`]d); otherwise every problem found.
pub fn parse(bytes: &[u8], limits: &TimelineLimits) -> Result<Project, Vec<Violation>> {
    if bytes.len() > limits.max_document_bytes {
        return Err(vec![Violation::new(
            "",
            ViolationCode::DocumentTooLarge,
            format!(
                "the document is {} bytes; at most {} are accepted",
                bytes.len(),
                limits.max_document_bytes
            ),
        )]);
    }
    let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        vec![Violation::new(
            "",
            ViolationCode::InvalidJson,
            format!("not valid JSON: {err}"),
        )]
    })?;
    from_value(document)
}

/// [`parse`] for a document already read as JSON (the size limit is the caller's).
pub fn from_value(document: serde_json::Value) -> Result<Project, Vec<Violation>> {
    // Another version's document would only collect noise from this version's schema.
    if let Some(version) = document.get("schemaVersion")
        && version.as_f64() != Some(f64::from(SCHEMA_VERSION))
        && version.is_number()
    {
        return Err(vec![Violation::new(
            "/schemaVersion",
            ViolationCode::UnsupportedSchemaVersion,
            format!("this server reads schemaVersion {SCHEMA_VERSION}, not {version}"),
        )]);
    }
    let shape = shape::check(&document);
    if !shape.is_empty() {
        return Err(shape);
    }
    // The schema passed, so this cannot fail unless the schema and the types disagree; if they
    // ever do, the document is still refused, with serde's word for it.
    serde_json::from_value(document).map_err(|err| {
        vec![Violation::new(
            "",
            ViolationCode::InvalidValue,
            format!("not a valid timeline: {err}"),
        )]
    })
}

/// Every rule violation of a well-formed `project` against `limits` and the project's `assets`.
pub fn validate(
    project: &Project,
    limits: &TimelineLimits,
    assets: &dyn AssetCatalog,
) -> Vec<Violation> {
    rules::check(project, limits, assets)
}

/// [`parse`] and [`validate`] in one: the valid project, or every problem found.
pub fn parse_and_validate(
    bytes: &[u8],
    limits: &TimelineLimits,
    assets: &dyn AssetCatalog,
) -> Result<Project, Vec<Violation>> {
    let project = parse(bytes, limits)?;
    let violations = validate(&project, limits, assets);
    if violations.is_empty() {
        Ok(project)
    } else {
        Err(violations)
    }
}
