//! Storage event notifications → [`Record`]s: one per event the body carries.
//!
//! The format is recognised from the JSON itself (senders differ in content type and headers):
//!
//! - **S3 event notifications** (AWS, and MinIO, which adds top-level `EventName` and `Key` and
//!   prefixes event names with `s3:`):
//!   `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":…},"object":{"key":…,
//!   "size":…,"eTag":…,"sequencer":…}}}]}`. The key is form-URL-encoded (`+` is a space, `%2F`
//!   a slash); it is decoded here. AWS's `{"Event":"s3:TestEvent",…}` carries no records.
//! - **Supabase Storage webhooks** (the storage server's `WEBHOOK_URL`):
//!   `{"type":"Webhook","event":{"type":"ObjectCreated:Put","$version":"v1","payload":{"name":…,
//!   "bucketId":…,"version":…,"metadata":{"size":…,"mimetype":…,"eTag":…}}},"sentAt":…}`; the
//!   bare `event` object is accepted too. The name is the key as is (not encoded).
//! - **Supabase Database webhooks** on `storage.objects`:
//!   `{"type":"INSERT","table":"objects","schema":"storage","record":{"id":…,"name":…,
//!   "bucket_id":…,"version":…,"metadata":{"size":…,"mimetype":…,"eTag":…}},"old_record":null}`.
//!   `INSERT` and `UPDATE` (an object replaced) count as created; other tables are ignored.
//!
//! Both spellings are read wherever a store has used both: `bucketId`/`bucket_id`,
//! `eTag`/`etag`, `mimetype`/`mimeType`/`contentType`/`content_type`.
//!
//! A body that is not JSON, or JSON of none of these shapes, is a [`PayloadError`]. Within a
//! recognised body each record stands alone: an unreadable one becomes [`Record::Invalid`] and
//! the others are still read. Sizes, types and tags are reported as sent; callers must not trust
//! them (the handler checks the object in storage).

use serde_json::{Map, Value};

/// Which family of sender a body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// S3 event notifications (AWS, MinIO, other S3-compatible stores).
    S3,
    /// Supabase Storage's own webhook.
    SupabaseStorage,
    /// A Supabase Database webhook on `storage.objects`.
    SupabaseDatabase,
}

impl Format {
    /// A short stable name, for logs and de-duplication keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::SupabaseStorage => "supabase-storage",
            Self::SupabaseDatabase => "supabase-db",
        }
    }
}

/// A parsed notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub format: Format,
    /// In the order the body lists them.
    pub records: Vec<Record>,
}

/// One event of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An object was created or replaced: its asset may now be confirmed.
    Created(ObjectCreated),
    /// Any other event (a removal, a metadata change, another table's row): nothing to do.
    Ignored {
        /// The event as the sender named it, for the summary and logs.
        event: String,
    },
    /// A record that could not be read (a missing key, a key that does not decode).
    Invalid(RecordError),
}

/// An object-created event, as reported. Only `key` is acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// The event name as sent (`ObjectCreated:Put`, `s3:ObjectCreated:Put`, `INSERT`).
    pub event: String,
    pub bucket: Option<String>,
    /// The object key, decoded.
    pub key: String,
    /// Reported size in bytes; informational only.
    pub size: Option<u64>,
    /// Reported content type; informational only.
    pub content_type: Option<String>,
    /// Reported entity tag, quotes removed.
    pub etag: Option<String>,
    /// What tells two writes of the same key apart: S3's `sequencer`, Supabase's object
    /// `version` (or row `id`).
    pub sequencer: Option<String>,
}

impl ObjectCreated {
    /// The de-duplication key of this event when the delivery has no id of its own: the same
    /// write of the same object, however many times it is delivered, gives the same key; a new
    /// write (new sequencer, version or entity tag) gives another.
    pub fn event_key(&self, format: Format) -> String {
        let tag = self
            .sequencer
            .as_deref()
            .or(self.etag.as_deref())
            .unwrap_or("-");
        format!(
            "{}:{}/{}@{tag}",
            format.as_str(),
            self.bucket.as_deref().unwrap_or(""),
            self.key
        )
    }
}

/// Why one record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// JSON pointer (RFC 6901) to the offending value in the body.
    pub pointer: String,
    pub message: String,
}

/// Why a whole body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// Not JSON at all.
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// JSON, but not a notification this endpoint knows, or with its record list broken.
    #[error("{message}")]
    Unrecognized { pointer: String, message: String },
}

/// Reads a notification body.
pub fn parse(body: &[u8]) -> Result<Notification, PayloadError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| PayloadError::Malformed(err.to_string()))?;
    let Value::Object(root) = &value else {
        return Err(unrecognized("", "the body must be a JSON object"));
    };
    if let Some(records) = root.get("Records") {
        let Value::Array(records) = records else {
            return Err(unrecognized("/Records", "`Records` must be an array"));
        };
        let records = records
            .iter()
            .enumerate()
            .map(|(i, record)| s3_record(record, &format!("/Records/{i}")))
            .collect();
        return Ok(Notification {
            format: Format::S3,
            records,
        });
    }
    if str_at(root, "Event").is_some_and(|e| e.ends_with("TestEvent")) {
        // Sent once when a bucket's notifications are configured.
        return Ok(Notification {
            format: Format::S3,
            records: Vec::new(),
        });
    }
    if let Some(Value::Object(event)) = root.get("event")
        && str_at(root, "type") == Some("Webhook")
    {
        return Ok(Notification {
            format: Format::SupabaseStorage,
            records: vec![supabase_event(event, "/event")],
        });
    }
    if root.get("payload").is_some_and(Value::is_object)
        && str_at(root, "type").is_some_and(|t| t.starts_with("Object"))
    {
        return Ok(Notification {
            format: Format::SupabaseStorage,
            records: vec![supabase_event(root, "")],
        });
    }
    if str_at(root, "table").is_some()
        && (root.contains_key("record") || root.contains_key("old_record"))
    {
        return Ok(Notification {
            format: Format::SupabaseDatabase,
            records: vec![database_row(root)],
        });
    }
    Err(unrecognized(
        "",
        "not a storage notification: expected S3 `Records`, a Supabase Storage webhook \
         (`type: Webhook`) or a Supabase Database webhook on storage.objects",
    ))
}

fn unrecognized(pointer: &str, message: &str) -> PayloadError {
    PayloadError::Unrecognized {
        pointer: pointer.to_owned(),
        message: message.to_owned(),
    }
}

fn invalid(pointer: String, message: impl Into<String>) -> Record {
    Record::Invalid(RecordError {
        pointer,
        message: message.into(),
    })
}

/// The string member `name` of `object`, if it is one.
fn str_at<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

/// The first of `names` present in `object` as a string.
fn str_of<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| str_at(object, name))
}

/// The object member `name` of `object`, if it is one.
fn object_at<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Map<String, Value>> {
    object.get(name).and_then(Value::as_object)
}

/// A size sent as a number or a decimal string.
fn size_of(object: &Map<String, Value>, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|name| match object.get(*name)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

fn etag_of(object: &Map<String, Value>) -> Option<String> {
    str_of(object, &["eTag", "etag", "ETag"])
        .map(|e| e.trim_matches('"').to_owned())
        .filter(|e| !e.is_empty())
}

const CONTENT_TYPE_NAMES: &[&str] = &["mimetype", "mimeType", "contentType", "content_type"];
const CREATED_PREFIX: &str = "ObjectCreated:";

fn s3_record(record: &Value, base: &str) -> Record {
    let Some(record) = record.as_object() else {
        return invalid(base.to_owned(), "a record must be an object");
    };
    let Some(event) = str_at(record, "eventName") else {
        return invalid(format!("{base}/eventName"), "missing `eventName`");
    };
    // MinIO names events `s3:ObjectCreated:Put`; AWS `ObjectCreated:Put`.
    if !event
        .strip_prefix("s3:")
        .unwrap_or(event)
        .starts_with(CREATED_PREFIX)
    {
        return Record::Ignored {
            event: event.to_owned(),
        };
    }
    let s3 = object_at(record, "s3");
    let key_pointer = format!("{base}/s3/object/key");
    let Some((object, encoded)) = s3
        .and_then(|s3| object_at(s3, "object"))
        .and_then(|o| Some((o, str_at(o, "key")?)))
    else {
        return invalid(key_pointer, "missing `s3.object.key`");
    };
    let key = match decode_key(encoded) {
        Ok(key) if !key.is_empty() => key,
        Ok(_) => return invalid(key_pointer, "the key is empty"),
        Err(err) => return invalid(key_pointer, err.to_string()),
    };
    Record::Created(ObjectCreated {
        event: event.to_owned(),
        bucket: s3
            .and_then(|s3| object_at(s3, "bucket"))
            .and_then(|b| str_at(b, "name"))
            .map(str::to_owned),
        key,
        size: size_of(object, &["size"]),
        content_type: str_of(object, CONTENT_TYPE_NAMES).map(str::to_owned),
        etag: etag_of(object),
        sequencer: str_of(object, &["sequencer", "versionId"]).map(str::to_owned),
    })
}

/// A Supabase Storage event (`{type, payload: {name, bucketId, metadata}}`) at `base`.
fn supabase_event(event: &Map<String, Value>, base: &str) -> Record {
    let Some(kind) = str_at(event, "type") else {
        return invalid(format!("{base}/type"), "missing the event `type`");
    };
    if !kind.starts_with(CREATED_PREFIX) {
        return Record::Ignored {
            event: kind.to_owned(),
        };
    }
    let Some(payload) = object_at(event, "payload") else {
        return invalid(format!("{base}/payload"), "missing the event `payload`");
    };
    object_row(kind, payload, &format!("{base}/payload"))
}

/// A Supabase Database webhook on `storage.objects`.
fn database_row(root: &Map<String, Value>) -> Record {
    let kind = str_at(root, "type").unwrap_or("");
    let table = (
        str_at(root, "schema").unwrap_or(""),
        str_at(root, "table").unwrap_or(""),
    );
    if table != ("storage", "objects") || !matches!(kind, "INSERT" | "UPDATE") {
        return Record::Ignored {
            event: format!("{kind} {}.{}", table.0, table.1),
        };
    }
    let Some(row) = object_at(root, "record") else {
        return invalid(
            "/record".to_owned(),
            "an INSERT or UPDATE carries its `record`",
        );
    };
    object_row(kind, row, "/record")
}

/// The object fields Supabase sends, in an event payload or a `storage.objects` row.
fn object_row(event: &str, row: &Map<String, Value>, base: &str) -> Record {
    let key = match str_at(row, "name") {
        Some(name) if !name.is_empty() => name.to_owned(),
        Some(_) => return invalid(format!("{base}/name"), "the object name is empty"),
        None => return invalid(format!("{base}/name"), "missing the object `name`"),
    };
    let metadata = object_at(row, "metadata");
    Record::Created(ObjectCreated {
        event: event.to_owned(),
        bucket: str_of(row, &["bucketId", "bucket_id"]).map(str::to_owned),
        key,
        size: metadata.and_then(|m| size_of(m, &["size", "contentLength"])),
        content_type: metadata
            .and_then(|m| str_of(m, CONTENT_TYPE_NAMES))
            .map(str::to_owned),
        etag: metadata.and_then(etag_of),
        sequencer: str_of(row, &["version", "id"]).map(str::to_owned),
    })
}

/// Why an S3 key does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key has a `%` not followed by two hex digits")]
    BadEscape,
    #[error("the decoded key is not UTF-8")]
    NotUtf8,
}

/// Decodes an S3 notification key: form URL encoding, so `+` is a space and `%XX` a byte.
pub fn decode_key(encoded: &str) -> Result<String, KeyError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(KeyError::BadEscape)?;
                let high = hex_value(hex[0]).ok_or(KeyError::BadEscape)?;
                let low = hex_value(hex[1]).ok_or(KeyError::BadEscape)?;
                out.push(high << 4 | low);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| KeyError::NotUtf8)
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Encodes a key as S3 notifications do (the inverse of [`decode_key`]): unreserved characters
/// and `/` as is, a space as `+`, every other byte as `%XX`. For tests and tools that play the
/// store.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &byte in key.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recorded-style payloads the integration tests use too.
    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../studio/tests/fixtures/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn created(record: &Record) -> &ObjectCreated {
        match record {
            Record::Created(c) => c,
            other => panic!("not a created record: {other:?}"),
        }
    }

    #[test]
    fn reads_an_aws_notification_and_decodes_its_key() {
        let parsed = parse(&fixture("aws-put.json")).unwrap();
        assert_eq!(parsed.format, Format::S3);
        let [record] = parsed.records.as_slice() else {
            panic!("{parsed:?}")
        };
        let c = created(record);
        assert_eq!(c.event, "ObjectCreated:Put");
        assert_eq!(c.bucket.as_deref(), Some("studio-media"));
        assert_eq!(c.key, "uploads/My Clip+final (2) été 東京.mp4");
        assert_eq!(c.size, Some(1_048_576));
        assert_eq!(c.etag.as_deref(), Some("d41d8cd98f00b204e9800998ecf8427e"));
        assert_eq!(c.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
        assert_eq!(
            c.event_key(parsed.format),
            "s3:studio-media/uploads/My Clip+final (2) été 東京.mp4@0055AED6DCD90281E5"
        );
    }

    #[test]
    fn reads_a_minio_notification_with_its_prefixed_event_names() {
        let parsed = parse(&fixture("minio-put.json")).unwrap();
        assert_eq!(parsed.format, Format::S3);
        let c = created(&parsed.records[0]);
        assert_eq!(c.event, "s3:ObjectCreated:Put");
        // MinIO escapes `/` too.
        assert_eq!(c.key, "uploads/My Clip+final (2) été 東京.mp4");
        assert_eq!(c.content_type.as_deref(), Some("video/mp4"));
        assert_eq!(c.size, Some(1_048_576));
    }

    #[test]
    fn reads_a_supabase_storage_webhook() {
        let parsed = parse(&fixture("supabase-storage.json")).unwrap();
        assert_eq!(parsed.format, Format::SupabaseStorage);
        let c = created(&parsed.records[0]);
        assert_eq!(c.event, "ObjectCreated:Put");
        assert_eq!(c.bucket.as_deref(), Some("media"));
        assert_eq!(c.key, "uploads/My Clip+final (2) été 東京.mp4");
        assert_eq!(c.size, Some(1_048_576));
        assert_eq!(c.content_type.as_deref(), Some("video/mp4"));
        assert_eq!(
            c.sequencer.as_deref(),
            Some("4f4a5b1e-3f0c-4c36-9f43-2a3c0f6f9d11")
        );
        // The bare event, as a relay might forward it.
        let value: Value = serde_json::from_slice(&fixture("supabase-storage.json")).unwrap();
        let bare = serde_json::to_vec(&value["event"]).unwrap();
        assert_eq!(parse(&bare).unwrap().records, parsed.records);
    }

    #[test]
    fn reads_a_supabase_database_webhook_in_snake_case() {
        let parsed = parse(&fixture("supabase-db-insert.json")).unwrap();
        assert_eq!(parsed.format, Format::SupabaseDatabase);
        let c = created(&parsed.records[0]);
        assert_eq!(c.event, "INSERT");
        assert_eq!(c.bucket.as_deref(), Some("media"));
        assert_eq!(c.key, "uploads/My Clip+final (2) été 東京.mp4");
        assert_eq!(c.size, Some(1_048_576));
        assert_eq!(c.content_type.as_deref(), Some("video/mp4"));
    }

    #[test]
    fn other_events_are_ignored_and_bad_records_do_not_hide_good_ones() {
        let parsed = parse(&fixture("aws-mixed.json")).unwrap();
        let kinds: Vec<&str> = parsed
            .records
            .iter()
            .map(|r| match r {
                Record::Created(_) => "created",
                Record::Ignored { .. } => "ignored",
                Record::Invalid(_) => "invalid",
            })
            .collect();
        assert_eq!(
            kinds,
            ["created", "ignored", "invalid", "invalid", "created"]
        );
        let Record::Invalid(err) = &parsed.records[2] else {
            unreachable!()
        };
        assert_eq!(err.pointer, "/Records/2/s3/object/key");
        assert_eq!(
            created(&parsed.records[4]).event,
            "ObjectCreated:CompleteMultipartUpload"
        );
    }

    #[test]
    fn the_aws_test_event_has_no_records() {
        let parsed = parse(&fixture("aws-test-event.json")).unwrap();
        assert!(parsed.records.is_empty());
        let parsed = parse(br#"{"Records":[]}"#).unwrap();
        assert!(parsed.records.is_empty());
    }

    #[test]
    fn other_tables_and_deletes_are_ignored() {
        let other = br#"{"type":"INSERT","table":"profiles","schema":"public","record":{"id":1},"old_record":null}"#;
        assert!(matches!(
            parse(other).unwrap().records[0],
            Record::Ignored { .. }
        ));
        let delete = br#"{"type":"DELETE","table":"objects","schema":"storage","record":null,"old_record":{"name":"a"}}"#;
        assert!(matches!(
            parse(delete).unwrap().records[0],
            Record::Ignored { .. }
        ));
        let removed = br#"{"type":"Webhook","event":{"type":"ObjectRemoved:Delete","payload":{"name":"a","bucketId":"b"}}}"#;
        assert!(matches!(
            parse(removed).unwrap().records[0],
            Record::Ignored { .. }
        ));
    }

    #[test]
    fn unknown_shapes_and_non_json_are_errors() {
        assert!(matches!(parse(b"{"), Err(PayloadError::Malformed(_))));
        assert!(matches!(parse(b""), Err(PayloadError::Malformed(_))));
        for body in [
            &b"[]"[..],
            b"42",
            br#"{"hello":"world"}"#,
            br#"{"Records":{}}"#,
        ] {
            assert!(
                matches!(parse(body), Err(PayloadError::Unrecognized { .. })),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn keys_decode_as_form_urlencoding() {
        assert_eq!(decode_key("a+b%2Bc%2Fd").unwrap(), "a b+c/d");
        assert_eq!(decode_key("%C3%A9t%C3%A9").unwrap(), "été");
        assert_eq!(decode_key("plain/key.mp4").unwrap(), "plain/key.mp4");
        assert_eq!(decode_key("100%"), Err(KeyError::BadEscape));
        assert_eq!(decode_key("%4"), Err(KeyError::BadEscape));
        assert_eq!(decode_key("%zz"), Err(KeyError::BadEscape));
        assert_eq!(decode_key("%FF"), Err(KeyError::NotUtf8));
        assert_eq!(encode_key("a b+c/été"), "a+b%2Bc/%C3%A9t%C3%A9");
    }
}
