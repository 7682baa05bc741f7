//! Form uploads to the local store: `POST {public_url}/storage` with `multipart/form-data`, the
//! local stand-in for S3's POST Object, so one browser uploader works on both backends.
//!
//! The form's fields are the ones [`crate::BlobStore::presign_post`] gives:
//! `key`, `Content-Type`, `x-studio-expires` (Unix seconds), `x-studio-max-size` (bytes) and
//! `x-studio-signature`, the hex HMAC-SHA256 of those values under the store's secret (the same
//! length-prefixed encoding as signed URLs, with its own operation, so a URL's signature never
//! verifies a form and the reverse). [`LocalStore::authorize_post`] refuses a form with a field
//! missing, repeated, unknown or changed, or sent late; field names match whatever their case,
//! as S3's do. The file streams to disk and is refused as soon as it passes the signed size.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use hmac::Mac;
use time::OffsetDateTime;

use super::LocalStore;
use super::signing::{Claims, Denied, Op};
use crate::files::{self, TempFile};
use crate::rules::{check_content_type, check_ttl};
use crate::{BlobKey, ObjectMeta, PresignedPost, StorageError};

const FIELD_KEY: &str = "key";
const FIELD_CONTENT_TYPE: &str = "Content-Type";
const FIELD_EXPIRES: &str = "x-studio-expires";
const FIELD_MAX_SIZE: &str = "x-studio-max-size";
const FIELD_SIGNATURE: &str = "x-studio-signature";
/// Every field a form carries besides the file; any other is refused.
const FIELDS: [&str; 5] = [
    FIELD_KEY,
    FIELD_CONTENT_TYPE,
    FIELD_EXPIRES,
    FIELD_MAX_SIZE,
    FIELD_SIGNATURE,
];

/// What an authorized form may store: the object `key`, at most `max_size` bytes, typed
/// `content_type`. Only [`LocalStore::authorize_post`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostGrant {
    key: BlobKey,
    max_size: u64,
    content_type: String,
}

impl PostGrant {
    /// The object the form writes.
    pub fn key(&self) -> &BlobKey {
        &self.key
    }
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, Denied> {
    // Digits only, as in signed URLs: one value, one spelling.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Denied::Malformed);
    }
    s.parse().map_err(|_| Denied::Malformed)
}

impl LocalStore {
    /// See [`crate::BlobStore::presign_post`].
    pub(super) fn post_form(
        &self,
        key: &BlobKey,
        content_type: &str,
        max_size: u64,
        ttl: Duration,
    ) -> Result<PresignedPost, StorageError> {
        check_content_type(content_type)?;
        check_ttl(ttl)?;
        let expires_at = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 is valid")
            + ttl;
        let expires = expires_at.unix_timestamp();
        let claims = Claims {
            op: Op::Post,
            key: key.as_str(),
            expires,
            length: Some(max_size),
            content_type: Some(content_type),
            upload: None,
            part: None,
        };
        let signature = hex::encode(claims.mac(&self.secret).finalize().into_bytes());
        let fields = vec![
            (FIELD_KEY.to_owned(), key.as_str().to_owned()),
            (FIELD_CONTENT_TYPE.to_owned(), content_type.to_owned()),
            (FIELD_EXPIRES.to_owned(), expires.to_string()),
            (FIELD_MAX_SIZE.to_owned(), max_size.to_string()),
            (FIELD_SIGNATURE.to_owned(), signature),
        ];
        Ok(PresignedPost {
            url: format!("{}/storage", self.public_base_url),
            fields,
            expires_at,
        })
    }

    /// Checks the fields of a form POSTed to `/storage` (everything before its file): exactly
    /// the signed fields, each once, unchanged, not expired. The HTTP layer answers 403 for any
    /// [`Denied`].
    pub fn authorize_post(
        &self,
        fields: &[(String, String)],
        now: OffsetDateTime,
    ) -> Result<PostGrant, Denied> {
        let mut found: BTreeMap<&'static str, &str> = BTreeMap::new();
        for (name, value) in fields {
            let known = FIELDS
                .iter()
                .find(|f| f.eq_ignore_ascii_case(name))
                .ok_or(Denied::Malformed)?;
            if found.insert(known, value.as_str()).is_some() {
                return Err(Denied::Malformed);
            }
        }
        let field = |name: &str| found.get(name).copied().ok_or(Denied::Malformed);
        let key = BlobKey::parse(field(FIELD_KEY)?).map_err(|_| Denied::BadKey)?;
        let content_type = field(FIELD_CONTENT_TYPE)?;
        check_content_type(content_type).map_err(|_| Denied::Malformed)?;
        let expires: i64 = number(field(FIELD_EXPIRES)?)?;
        let max_size: u64 = number(field(FIELD_MAX_SIZE)?)?;
        let signature = hex::decode(field(FIELD_SIGNATURE)?).map_err(|_| Denied::Malformed)?;
        let claims = Claims {
            op: Op::Post,
            key: key.as_str(),
            expires,
            length: Some(max_size),
            content_type: Some(content_type),
            upload: None,
            part: None,
        };
        claims
            .mac(&self.secret)
            .verify_slice(&signature)
            .map_err(|_| Denied::BadSignature)?;
        if now.unix_timestamp() > expires {
            return Err(Denied::Expired);
        }
        Ok(PostGrant {
            key,
            max_size,
            content_type: content_type.to_owned(),
        })
    }

    /// Stores the file of an authorized form. Streams to disk; refuses a file of more than the
    /// signed size (nothing is stored then).
    pub async fn write_posted_object<S, E>(
        &self,
        grant: &PostGrant,
        file: S,
    ) -> Result<ObjectMeta, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let mut temp = TempFile::create(&self.layout.tmp).await?;
        let written = temp.write_stream_at_most(file, grant.max_size).await?;
        let meta = ObjectMeta {
            size: written.size,
            content_type: Some(grant.content_type.clone()),
            etag: Some(files::etag_of(&written.md5)),
        };
        self.commit_object(temp, &grant.key, &meta).await?;
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::BlobStore as _;

    fn store(dir: &std::path::Path) -> LocalStore {
        LocalStore::new(
            dir.to_owned(),
            "http://127.0.0.1:8080/".into(),
            SecretString::from("0123456789abcdef0123456789abcdef"),
        )
        .unwrap()
    }

    fn form(store: &LocalStore, max: u64) -> PresignedPost {
        let key = BlobKey::parse("originals/prj_1/ast 2").unwrap();
        store
            .presign_post(&key, "video/mp4", max, Duration::from_secs(60))
            .unwrap()
    }

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_form_names_its_fields_and_posts_to_the_store_root() {
        let dir = tempfile::tempdir().unwrap();
        let post = form(&store(dir.path()), 10);
        assert_eq!(post.url, "http://127.0.0.1:8080/storage");
        let names: Vec<&str> = post.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, FIELDS);
        assert_eq!(post.fields[0].1, "originals/prj_1/ast 2");
        assert_eq!(post.fields[3].1, "10");
    }

    #[tokio::test]
    async fn an_authorized_form_stores_at_most_the_signed_size() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let post = form(&store, 10);
        let now = OffsetDateTime::now_utc();
        // Field names match whatever their case, like S3's.
        let mut fields = post.fields.clone();
        fields[1].0 = "content-type".into();
        let grant = store.authorize_post(&fields, now).unwrap();
        assert_eq!(grant.key().as_str(), "originals/prj_1/ast 2");

        let too_long = store
            .write_posted_object(&grant, chunks(&[b"0123456", b"789ab"]))
            .await;
        assert!(matches!(too_long, Err(StorageError::InvalidBody(_))));
        assert_eq!(store.head(grant.key()).await.unwrap(), None);

        let meta = store
            .write_posted_object(&grant, chunks(&[b"0123", b"456"]))
            .await
            .unwrap();
        assert_eq!(meta.size, 7);
        let stored = store.head(grant.key()).await.unwrap().unwrap();
        assert_eq!(stored.size, 7);
        assert_eq!(stored.content_type.as_deref(), Some("video/mp4"));
    }

    #[test]
    fn changed_missing_extra_or_late_forms_are_denied() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let post = form(&store, 10);
        let now = OffsetDateTime::now_utc();
        let with = |i: usize, value: &str| {
            let mut fields = post.fields.clone();
            fields[i].1 = value.to_owned();
            fields
        };
        assert_eq!(
            store.authorize_post(&with(0, "originals/prj_1/other"), now),
            Err(Denied::BadSignature)
        );
        assert_eq!(
            store.authorize_post(&with(1, "image/png"), now),
            Err(Denied::BadSignature)
        );
        assert_eq!(
            store.authorize_post(&with(3, "11"), now),
            Err(Denied::BadSignature)
        );
        assert_eq!(
            store.authorize_post(&with(3, "+10"), now),
            Err(Denied::Malformed)
        );
        assert_eq!(
            store.authorize_post(&with(0, "../x"), now),
            Err(Denied::BadKey)
        );
        let mut extra = post.fields.clone();
        extra.push(("success_action_status".into(), "201".into()));
        assert_eq!(store.authorize_post(&extra, now), Err(Denied::Malformed));
        let mut repeated = post.fields.clone();
        repeated.push(("KEY".into(), post.fields[0].1.clone()));
        assert_eq!(store.authorize_post(&repeated, now), Err(Denied::Malformed));
        assert_eq!(
            store.authorize_post(&post.fields[1..], now),
            Err(Denied::Malformed)
        );
        assert_eq!(
            store.authorize_post(&post.fields, now + Duration::from_secs(120)),
            Err(Denied::Expired)
        );
        // A signed URL's signature is no form signature (the operation is signed too).
        let url = store
            .presign_put(
                &BlobKey::parse("originals/prj_1/ast 2").unwrap(),
                10,
                "video/mp4",
                Duration::from_secs(60),
            )
            .unwrap()
            .url;
        let sig = url.rsplit("sig=").next().unwrap();
        assert_eq!(
            store.authorize_post(&with(4, sig), now),
            Err(Denied::BadSignature)
        );
    }
}
