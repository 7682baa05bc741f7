//! Signed URLs of the local store, and their verification ([`authorize`]).
//!
//! A URL is `{base}/storage/{key}?op=…&exp=…[&len=…][&type=…][&upload=…&part=…]&sig=…`, where
//! `sig` is the hex HMAC-SHA256, under the store's secret, of a canonical encoding of the method,
//! operation, key, expiry and every bound value. The encoding length-prefixes each field, so no
//! two different requests share a signed message whatever the fields contain. Verification
//! rejects unknown, duplicated or missing parameters before it checks the tag in constant time.

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use time::OffsetDateTime;

use super::multipart::is_upload_id;
use crate::{BlobKey, UploadId};

type HmacSha256 = Hmac<Sha256>;

/// Domain separation: a tag made for anything else (or a later version) never verifies here.
const SIGNATURE_CONTEXT: &[u8] = b"studio-storage/local-url/v1";

/// Path-segment encoding: everything but RFC 3986 unreserved characters is escaped, so spaces,
/// `+`, `?`, `#` and non-ASCII survive every URL parser unchanged.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a signed URL allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    Put,
    Part,
    Get,
    /// A form POST (see `post`): signed into form fields, never into a URL's query.
    Post,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Part => "part",
            Op::Get => "get",
            Op::Post => "post",
        }
    }

    /// The method class that is signed: HEAD is allowed wherever GET is.
    fn method(self) -> &'static str {
        match self {
            Op::Put | Op::Part => "PUT",
            Op::Get => "GET",
            Op::Post => "POST",
        }
    }
}

/// The signed fields of one URL.
pub(super) struct Claims<'a> {
    pub op: Op,
    pub key: &'a str,
    pub expires: i64,
    pub length: Option<u64>,
    pub content_type: Option<&'a str>,
    pub upload: Option<&'a str>,
    pub part: Option<u32>,
}

impl Claims<'_> {
    pub(super) fn mac(&self, secret: &SecretSlice<u8>) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(secret.expose_secret())
            .expect("HMAC accepts keys of any length");
        let number = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        let (expires, length, part) = (
            self.expires.to_string(),
            number(self.length),
            number(self.part.map(u64::from)),
        );
        let fields: [&[u8]; 9] = [
            SIGNATURE_CONTEXT,
            self.op.method().as_bytes(),
            self.op.as_str().as_bytes(),
            self.key.as_bytes(),
            expires.as_bytes(),
            length.as_bytes(),
            self.content_type.unwrap_or("").as_bytes(),
            self.upload.unwrap_or("").as_bytes(),
            part.as_bytes(),
        ];
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }

    /// The full URL for these claims.
    pub fn url(&self, base: &str, secret: &SecretSlice<u8>) -> String {
        let path: Vec<String> = self
            .key
            .split('/')
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("op", self.op.as_str());
        query.append_pair("exp", &self.expires.to_string());
        if let Some(length) = self.length {
            query.append_pair("len", &length.to_string());
        }
        if let Some(content_type) = self.content_type {
            query.append_pair("type", content_type);
        }
        if let Some(upload) = self.upload {
            query.append_pair("upload", upload);
        }
        if let Some(part) = self.part {
            query.append_pair("part", &part.to_string());
        }
        let sig = hex::encode(self.mac(secret).finalize().into_bytes());
        query.append_pair("sig", &sig);
        format!("{base}/storage/{}?{}", path.join("/"), query.finish())
    }
}

/// What an authorized request may do. The write methods of `LocalStore` trust a grant, so only
/// [`super::LocalStore::authorize`] should make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Store the body as the object `key`; it must be exactly `length` bytes.
    PutObject {
        key: BlobKey,
        length: u64,
        content_type: String,
    },
    /// Store the body as part `part_number` of the open upload `upload` of `key`.
    PutPart {
        key: BlobKey,
        upload: UploadId,
        part_number: u32,
        length: u64,
    },
    /// Serve the object `key` (GET or HEAD, with `Range`).
    Get { key: BlobKey },
}

/// Why a request to `/storage/…` is refused. The HTTP layer answers 403 whatever the reason and
/// logs [`Denied::reason`]; the client learns nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("malformed or incomplete signed query")]
    Malformed,
    #[error("key is not a valid blob key")]
    BadKey,
    #[error("signature does not match")]
    BadSignature,
    #[error("signed URL has expired")]
    Expired,
    #[error("method not allowed by the signed operation")]
    WrongMethod,
    #[error("content-length differs from the signed length")]
    LengthMismatch,
    #[error("content-type differs from the signed type")]
    TypeMismatch,
}

impl Denied {
    /// A short, constant reason for logs.
    pub fn reason(self) -> &'static str {
        match self {
            Denied::Malformed => "malformed",
            Denied::BadKey => "bad_key",
            Denied::BadSignature => "bad_signature",
            Denied::Expired => "expired",
            Denied::WrongMethod => "wrong_method",
            Denied::LengthMismatch => "length_mismatch",
            Denied::TypeMismatch => "type_mismatch",
        }
    }
}

/// The query parameters of a signed URL, each at most once.
#[derive(Default)]
struct Params {
    op: Option<String>,
    exp: Option<String>,
    len: Option<String>,
    content_type: Option<String>,
    upload: Option<String>,
    part: Option<String>,
    sig: Option<String>,
}

impl Params {
    fn parse(query: &str) -> Result<Self, Denied> {
        let mut params = Params::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match &*name {
                "op" => &mut params.op,
                "exp" => &mut params.exp,
                "len" => &mut params.len,
                "type" => &mut params.content_type,
                "upload" => &mut params.upload,
                "part" => &mut params.part,
                "sig" => &mut params.sig,
                _ => return Err(Denied::Malformed),
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(Denied::Malformed);
            }
        }
        Ok(params)
    }
}

/// Digits only: `u64::from_str` also accepts a leading `+`, which would give one value two
/// spellings.
fn number<T: std::str::FromStr>(s: Option<&str>) -> Result<T, Denied> {
    match s {
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| Denied::Malformed)
        }
        _ => Err(Denied::Malformed),
    }
}

/// See [`super::LocalStore::authorize`].
pub(super) fn authorize(
    secret: &SecretSlice<u8>,
    method: &str,
    raw_path_key: &str,
    query: &str,
    content_length: Option<u64>,
    content_type: Option<&str>,
    now: OffsetDateTime,
) -> Result<Grant, Denied> {
    let params = Params::parse(query)?;
    let op = match params.op.as_deref() {
        Some("put") => Op::Put,
        Some("part") => Op::Part,
        Some("get") => Op::Get,
        _ => return Err(Denied::Malformed),
    };
    // Exactly the parameters the operation binds, no more.
    let shape_ok = match op {
        Op::Put => {
            params.len.is_some()
                && params.content_type.is_some()
                && params.upload.is_none()
                && params.part.is_none()
        }
        Op::Part => {
            params.len.is_some()
                && params.content_type.is_none()
                && params.upload.is_some()
                && params.part.is_some()
        }
        Op::Get => {
            params.len.is_none()
                && params.content_type.is_none()
                && params.upload.is_none()
                && params.part.is_none()
        }
        Op::Post => false,
    };
    if !shape_ok {
        return Err(Denied::Malformed);
    }
    let expires: i64 = number(params.exp.as_deref())?;
    let length: Option<u64> = params.len.as_deref().map(|l| number(Some(l))).transpose()?;
    let part: Option<u32> = params
        .part
        .as_deref()
        .map(|p| number(Some(p)))
        .transpose()?;
    let sig = params
        .sig
        .as_deref()
        .and_then(|s| hex::decode(s).ok())
        .ok_or(Denied::Malformed)?;
    let key = BlobKey::parse(raw_path_key).map_err(|_| Denied::BadKey)?;
    if let Some(upload) = params.upload.as_deref()
        && !is_upload_id(upload)
    {
        return Err(Denied::Malformed);
    }

    let claims = Claims {
        op,
        key: key.as_str(),
        expires,
        length,
        content_type: params.content_type.as_deref(),
        upload: params.upload.as_deref(),
        part,
    };
    claims
        .mac(secret)
        .verify_slice(&sig)
        .map_err(|_| Denied::BadSignature)?;

    if now.unix_timestamp() > expires {
        return Err(Denied::Expired);
    }
    let method_ok = match op {
        Op::Put | Op::Part => method == "PUT",
        Op::Get => method == "GET" || method == "HEAD",
        Op::Post => false,
    };
    if !method_ok {
        return Err(Denied::WrongMethod);
    }
    if op != Op::Get && content_length != length {
        return Err(Denied::LengthMismatch);
    }
    if op == Op::Put && content_type != claims.content_type {
        return Err(Denied::TypeMismatch);
    }

    // Both checked present by `shape_ok` above.
    let length = length.unwrap_or_default();
    Ok(match op {
        Op::Put => Grant::PutObject {
            key,
            length,
            content_type: params.content_type.unwrap_or_default(),
        },
        Op::Part => Grant::PutPart {
            key,
            upload: UploadId(params.upload.unwrap_or_default()),
            part_number: part.unwrap_or_default(),
            length,
        },
        Op::Get => Grant::Get { key },
        // `Params::parse` only reads put, part and get: form fields are checked by `post`.
        Op::Post => return Err(Denied::Malformed),
    })
}
