//! The S3 backend: any S3-compatible bucket (AWS, MinIO, Garage, `s3s-fs` in tests).
//!
//! Clients get SigV4-presigned URLs (rusty-s3) whose signed headers bind what they may send:
//! `content-length` and `content-type` for a whole-object PUT, `content-length` for a part, so
//! the store itself refuses another size or type; browser form uploads get a signed POST policy
//! (`post`) binding the key, type and largest size. The server's own calls (head, delete,
//! multipart bookkeeping, file transfers) are presigned the same way for a short lifetime and
//! sent with reqwest (see `transport`); so is CopyObject, a server-side copy of up to 5 GiB.
//! Neither secrets nor signed URLs are ever logged.

mod cold;
mod lifecycle;
mod multipart;
mod objects;
mod post;
mod transport;
mod xml;

pub use lifecycle::{LifecycleApplied, ReadRule, parse_rules};

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::rules::{check_content_type, check_part_number, check_ttl};
use crate::{
    BlobKey, BlobStore, CompletedPart, ObjectMeta, PresignedPost, PresignedRequest, StorageError,
    UploadId, UploadedPart,
};

/// S3's largest single PUT is 5 GiB; `put_file` switches to multipart above this size.
const DEFAULT_MULTIPART_THRESHOLD: u64 = 5 * 1024 * 1024 * 1024;
/// Part size for `put_file`'s own multipart uploads: 10,000 parts of 512 MiB cover 5 TiB, S3's
/// largest object, while each part stays a single modest request.
const DEFAULT_PART_SIZE: u64 = 512 * 1024 * 1024;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// A [`BlobStore`] over one S3 bucket.
pub struct S3Store {
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
    multipart_threshold: u64,
    part_size: u64,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The endpoint and bucket only: never the credentials.
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket.name())
            .field("base_url", &self.bucket.base_url().as_str())
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// `url` names the bucket and where it lives:
    /// `s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&path_style=true`.
    /// Without `endpoint`, AWS (`https://s3.{region}.amazonaws.com`, virtual-hosted style);
    /// with one, `path_style` defaults to `true` (what MinIO-like servers on an IP need).
    /// `region` defaults to `us-east-1`.
    pub fn from_url(
        url: &str,
        access_key_id: String,
        secret: SecretString,
        http: reqwest::Client,
    ) -> Result<Self, StorageError> {
        let bad = |what: &str| StorageError::Config(format!("storage URL: {what}"));
        let parsed = url::Url::parse(url).map_err(|_| bad("not a URL"))?;
        if parsed.scheme() != "s3" {
            return Err(bad("scheme must be s3://"));
        }
        let bucket_name = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("missing bucket name"))?
            .to_owned();
        if !matches!(parsed.path(), "" | "/") || parsed.fragment().is_some() {
            return Err(bad("only s3://bucket?options is supported"));
        }
        let (mut endpoint, mut region, mut path_style) = (None, None, None);
        for (name, value) in parsed.query_pairs() {
            match &*name {
                "endpoint" => endpoint = Some(value.into_owned()),
                "region" => region = Some(value.into_owned()),
                "path_style" => {
                    path_style = Some(match &*value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad("path_style must be true or false")),
                    })
                }
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        let region = region.unwrap_or_else(|| "us-east-1".to_owned());
        let path_style = path_style.unwrap_or(endpoint.is_some());
        let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = url::Url::parse(&endpoint).map_err(|_| bad("endpoint is not a URL"))?;
        let style = if path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, bucket_name, region)
            .map_err(|e| bad(&format!("bucket: {e}")))?;
        if access_key_id.is_empty() || secret.expose_secret().is_empty() {
            return Err(StorageError::Config("S3 credentials are empty".into()));
        }
        let credentials = Credentials::new(access_key_id, secret.expose_secret());
        Ok(Self {
            bucket,
            credentials,
            http,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: DEFAULT_PART_SIZE,
        })
    }

    /// Sets when `put_file` switches to a multipart upload, and its part size (at least
    /// [`MIN_PART_SIZE`]). The defaults suit S3; tests lower them.
    pub fn with_multipart_threshold(
        mut self,
        threshold: u64,
        part_size: u64,
    ) -> Result<Self, StorageError> {
        if part_size < MIN_PART_SIZE || threshold > DEFAULT_MULTIPART_THRESHOLD {
            return Err(StorageError::Config(
                "multipart threshold must be at most 5 GiB and parts at least 5 MiB".into(),
            ));
        }
        self.multipart_threshold = threshold;
        self.part_size = part_size;
        Ok(self)
    }

    /// Signs `action` for clients: `headers` are the ones signed into it, to send verbatim.
    fn presign<'a, A: S3Action<'a>>(
        mut action: A,
        method: &str,
        headers: Vec<(String, String)>,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_ttl(ttl)?;
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 is valid");
        for (name, value) in &headers {
            action.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(PresignedRequest {
            method: method.to_owned(),
            url: action.sign(ttl).into(),
            headers,
            expires_at: now + ttl,
        })
    }
}

#[async_trait]
impl BlobStore for S3Store {
    fn backend(&self) -> &'static str {
        "s3"
    }

    fn presign_put(
        &self,
        key: &BlobKey,
        content_length: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_content_type(content_type)?;
        let action = self
            .bucket
            .put_object(Some(&self.credentials), key.as_str());
        let headers = vec![
            ("content-length".to_owned(), content_length.to_string()),
            ("content-type".to_owned(), content_type.to_owned()),
        ];
        Self::presign(action, "PUT", headers, ttl)
    }

    fn presign_post(
        &self,
        key: &BlobKey,
        content_type: &str,
        max_size: u64,
        ttl: Duration,
    ) -> Result<PresignedPost, StorageError> {
        self.post_form(key, content_type, max_size, ttl)
    }

    fn presign_get(&self, key: &BlobKey, ttl: Duration) -> Result<PresignedRequest, StorageError> {
        let action = self
            .bucket
            .get_object(Some(&self.credentials), key.as_str());
        Self::presign(action, "GET", Vec::new(), ttl)
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<ObjectMeta>, StorageError> {
        self.head_object(key).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StorageError> {
        self.delete_object(key).await
    }

    async fn create_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<UploadId, StorageError> {
        check_content_type(content_type)?;
        self.mp_create(key, content_type).await
    }

    fn presign_upload_part(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        part_number: u32,
        content_length: u64,
        ttl: Duration,
    ) -> Result<PresignedRequest, StorageError> {
        check_part_number(part_number)?;
        let action = self.bucket.upload_part(
            Some(&self.credentials),
            key.as_str(),
            u16::try_from(part_number).expect("checked ≤ 10000"),
            &upload.0,
        );
        let headers = vec![("content-length".to_owned(), content_length.to_string())];
        Self::presign(action, "PUT", headers, ttl)
    }

    async fn list_parts(
        &self,
        key: &BlobKey,
        upload: &UploadId,
    ) -> Result<Vec<UploadedPart>, StorageError> {
        self.mp_list_parts(key, upload).await
    }

    async fn complete_multipart(
        &self,
        key: &BlobKey,
        upload: &UploadId,
        parts: &[CompletedPart],
    ) -> Result<(), StorageError> {
        self.mp_complete(key, upload, parts).await
    }

    async fn abort_multipart(&self, key: &BlobKey, upload: &UploadId) -> Result<(), StorageError> {
        self.mp_abort(key, upload).await
    }

    async fn put_file(
        &self,
        key: &BlobKey,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        check_content_type(content_type)?;
        let size = tokio::fs::metadata(path).await?.len();
        if size > self.multipart_threshold {
            self.put_file_multipart(key, path, size, content_type).await
        } else {
            self.put_file_single(key, path, size, content_type).await
        }
    }

    async fn get_to_file(&self, key: &BlobKey, path: &Path) -> Result<(), StorageError> {
        self.get_object_to_file(key, path).await
    }

    async fn copy(&self, from: &BlobKey, to: &BlobKey) -> Result<(), StorageError> {
        self.copy_object(from, to).await
    }

    async fn archive(&self, key: &BlobKey, storage_class: &str) -> Result<(), StorageError> {
        self.archive_object(key, storage_class).await
    }

    async fn restore(&self, key: &BlobKey, days: u32) -> Result<crate::RestoreState, StorageError> {
        self.restore_object(key, days).await
    }

    async fn tier_status(&self, key: &BlobKey) -> Result<Option<crate::TierStatus>, StorageError> {
        self.tier_status_object(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(url: &str) -> Result<S3Store, StorageError> {
        S3Store::from_url(
            url,
            "AKID".into(),
            SecretString::from("secret"),
            reqwest::Client::new(),
        )
    }

    #[test]
    fn reads_the_storage_url() {
        let s = store("s3://media?endpoint=http://127.0.0.1:9000&region=eu-west-3").unwrap();
        assert_eq!(s.bucket.base_url().as_str(), "http://127.0.0.1:9000/media/");
        assert_eq!(s.bucket.region(), "eu-west-3");
        let s = store("s3://media").unwrap();
        assert_eq!(
            s.bucket.base_url().as_str(),
            "https://media.s3.us-east-1.amazonaws.com/"
        );
        let s = store("s3://media?endpoint=https://s3.example.com&path_style=false").unwrap();
        assert_eq!(
            s.bucket.base_url().as_str(),
            "https://media.s3.example.com/"
        );
        for bad in [
            "http://media",
            "s3://?region=x",
            "s3://media/prefix",
            "s3://media?color=blue",
            "s3://media?path_style=yes",
        ] {
            assert!(matches!(store(bad), Err(StorageError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let s = store("s3://media?endpoint=http://127.0.0.1:9000").unwrap();
        let debug = format!("{s:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("AKID"),
            "{debug}"
        );
    }

    #[test]
    fn copy_sources_are_url_encoded_per_segment() {
        let key = BlobKey::parse("a dir/my file+1 é日~_-.(x)&=;,@!$*'?#.mov").unwrap();
        assert_eq!(
            objects::copy_source("media", &key),
            "/media/a%20dir/my%20file%2B1%20%C3%A9%E6%97%A5~_-.%28x%29%26%3D%3B%2C%40%21%24%2A%27%3F%23.mov"
        );
    }

    #[test]
    fn presigned_put_binds_length_and_type() {
        let s = store("s3://media?endpoint=http://127.0.0.1:9000").unwrap();
        let key = BlobKey::parse("a dir/my file+1 é.mov").unwrap();
        let p = s
            .presign_put(&key, 42, "video/quicktime", Duration::from_secs(60))
            .unwrap();
        assert_eq!(p.method, "PUT");
        assert!(
            p.url
                .starts_with("http://127.0.0.1:9000/media/a%20dir/my%20file%2B1%20%C3%A9.mov?"),
            "{}",
            p.url
        );
        assert!(
            p.url
                .contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost")
        );
        assert_eq!(
            p.headers,
            vec![
                ("content-length".into(), "42".into()),
                ("content-type".into(), "video/quicktime".into())
            ]
        );
        assert!(
            s.presign_get(&key, Duration::from_secs(8 * 86_400))
                .is_err()
        );
    }
}
