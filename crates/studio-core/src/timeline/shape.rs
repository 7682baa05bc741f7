//! The document's shape: the JSON Schema generated from the model, and the check of a document
//! against it that reports every shape error at once.
//!
//! Why validate with the schema before deserializing: serde stops at the first error, and a
//! frontend wants all of them, each with its pointer. And since the server checks the very schema
//! it publishes, "what the server accepts, the schema accepts" holds by construction; the
//! fixture corpus checks it against an independent validator (ajv) too.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::model::Project;
use super::violation::{Violation, ViolationCode, push_pointer};

/// Fields holding a time that may be 0 but not less: a `minimum` error on them is
/// [`ViolationCode::NegativeTime`].
const TIME_FIELDS: &[&str] = &["start", "sourceStart", "fadeIn", "fadeOut", "time"];

/// The JSON Schema (draft 2020-12) of the Project JSON, generated from [`Project`].
pub fn json_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let schema = generator.into_root_schema_for::<Project>();
        let mut schema = serde_json::to_value(schema).expect("a generated schema is JSON");
        tidy(&mut schema);
        schema
    })
}

/// Makes the generated schema say what the server means:
/// - an `Option` field is "may be absent", not "may be null": schemars allows `null` for them,
///   the server (which checks this schema first) refuses it like any other wrong type, and a
///   generated TypeScript type gets `field?: T` rather than `field?: T | null`;
/// - `format` annotations (`double`, `uint32`) are Rust's, not JSON Schema's, and strict
///   validators reject unknown formats.
fn tidy(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            map.remove("format");
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".to_owned(), only);
                }
            }
            // `anyOf: [{$ref}, {type: null}]` → the `$ref` itself.
            if let Some(Value::Array(options)) = map.get_mut("anyOf") {
                options.retain(|option| option.get("type").is_none_or(|t| t != "null"));
                if options.len() == 1 {
                    let only = options.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(only) = only {
                        map.extend(only);
                    }
                }
            }
            for value in map.values_mut() {
                tidy(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::draft202012::options()
            .build(json_schema())
            .expect("the generated schema is a valid draft 2020-12 schema")
    })
}

/// Every shape error of `document`, in document order.
pub(crate) fn check(document: &Value) -> Vec<Violation> {
    let mut violations: Vec<Violation> = validator()
        .iter_errors(document)
        .flat_map(|error| violations_of(error.instance_path().to_string(), error.kind(), document))
        .collect();
    violations.sort_by(|a, b| a.pointer.cmp(&b.pointer).then(a.code.cmp(&b.code)));
    violations.dedup();
    // A value of the wrong type is that one error: its range, length or constant checks only
    // repeat it less clearly ("1" for `schemaVersion` is a string, not another version).
    let mistyped: std::collections::HashSet<String> = violations
        .iter()
        .filter(|v| v.code == ViolationCode::InvalidType)
        .map(|v| v.pointer.clone())
        .collect();
    violations.retain(|v| v.code == ViolationCode::InvalidType || !mistyped.contains(&v.pointer));
    violations
}

/// The violations one schema error stands for (an object with two unknown fields is one schema
/// error and two violations, each pointing at its field).
fn violations_of(pointer: String, kind: &ValidationErrorKind, document: &Value) -> Vec<Violation> {
    let field = pointer.rsplit('/').next().unwrap_or_default().to_owned();
    let one = |code, message: String| vec![Violation::new(pointer.clone(), code, message)];
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| {
                Violation::new(
                    push_pointer(&pointer, name),
                    ViolationCode::UnknownField,
                    format!("`{name}` is not a field here"),
                )
            })
            .collect(),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            vec![Violation::new(
                push_pointer(&pointer, name),
                ViolationCode::MissingField,
                format!("`{name}` is required"),
            )]
        }
        ValidationErrorKind::Type { kind } => one(
            ViolationCode::InvalidType,
            format!(
                "expected {}, found {}",
                type_name(kind),
                found_type(document, &pointer)
            ),
        ),
        ValidationErrorKind::Minimum { limit } if TIME_FIELDS.contains(&field.as_str()) => one(
            ViolationCode::NegativeTime,
            format!("`{field}` must be at least {limit} seconds"),
        ),
        ValidationErrorKind::ExclusiveMinimum { .. } if field == "duration" => one(
            ViolationCode::NonPositiveDuration,
            "`duration` must be more than 0 seconds".to_owned(),
        ),
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            if field == "schemaVersion" {
                unsupported_version(&pointer)
            } else {
                one(
                    ViolationCode::OutOfRange,
                    format!("`{field}` must be at least {limit}"),
                )
            }
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            if field == "schemaVersion" {
                unsupported_version(&pointer)
            } else {
                one(
                    ViolationCode::OutOfRange,
                    format!("`{field}` must be at most {limit}"),
                )
            }
        }
        ValidationErrorKind::MinLength { limit } => one(
            ViolationCode::InvalidLength,
            format!("`{field}` must have at least {limit} characters"),
        ),
        ValidationErrorKind::MaxLength { limit } => one(
            ViolationCode::InvalidLength,
            format!("`{field}` must have at most {limit} characters"),
        ),
        ValidationErrorKind::Pattern { pattern } => one(
            ViolationCode::InvalidFormat,
            format!("`{field}` must match {pattern}"),
        ),
        ValidationErrorKind::Constant { .. } if field == "schemaVersion" => {
            unsupported_version(&pointer)
        }
        ValidationErrorKind::Enum { options } => one(
            ViolationCode::InvalidValue,
            format!("`{field}` must be one of {options}"),
        ),
        other => one(ViolationCode::InvalidValue, other_message(other)),
    }
}

fn unsupported_version(pointer: &str) -> Vec<Violation> {
    vec![Violation::new(
        pointer,
        ViolationCode::UnsupportedSchemaVersion,
        format!(
            "this server reads schemaVersion {}",
            super::model::SCHEMA_VERSION
        ),
    )]
}

fn other_message(kind: &ValidationErrorKind) -> String {
    match kind {
        ValidationErrorKind::Constant { expected_value } => format!("must be {expected_value}"),
        _ => "not a valid value here".to_owned(),
    }
}

fn type_name(kind: &TypeKind) -> String {
    match kind {
        TypeKind::Single(json_type) => json_type.to_string(),
        TypeKind::Multiple(types) => types
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

/// The JSON type of the value at `pointer` (for messages).
fn found_type(document: &Value, pointer: &str) -> &'static str {
    match document.pointer(pointer) {
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
        None => "nothing",
    }
}
