//! The local backend: objects in a directory, signed URLs served by studio itself.
//!
//! Layout under the root (all on one filesystem, so renames are atomic):
//! - `objects/{key}`: the object bytes, at the key's own path (a [`BlobKey`] cannot leave it);
//! - `.meta/{h[..2]}/{h}.json`, `h` = SHA-256 of the key: content type and etag. Hashing keeps
//!   the sidecars flat and free of file/directory clashes between keys like `a` and `a.json/b`;
//! - `.tmp/`: writes in progress, renamed into place when complete and fsynced;
//! - `.multipart/{id}/`: open multipart uploads (see `multipart`);
//! - `.cold/` unless configured elsewhere: archived objects, moved out of `objects/` after
//!   inactivity (see `cold`).
//!
//! Like any filesystem store, the keys `a` and `a/b` cannot both exist (S3 allows it): writing
//! the second fails with an IO error.
//!
//! The HTTP layer serves `/storage/{key}` by calling [`LocalStore::authorize`], then
//! [`LocalStore::write_object`], [`LocalStore::write_part`] or [`LocalStore::open_object`]; and
//! form uploads to `/storage` by calling [`LocalStore::authorize_post`] with the form's fields,
//! then [`LocalStore::write_posted_object`] with its file.

mod cold;
mod multipart;
mod port;
mod post;
mod signing;

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use futures::Stream;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub use self::post::PostGrant;
use self::signing::{Claims, Op};
pub use self::signing::{Denied, Grant};
use crate::files::{self, TempFile};
use crate::{BlobKey, ObjectMeta, PresignedRequest, StorageError, UploadedPart};

/// Shortest signing secret accepted: 256 bits, the HMAC-SHA256 key strength.
pub const MIN_SECRET_BYTES: usize = 32;

/// A [`BlobStore`](crate::BlobStore) over a local directory.
pub struct LocalStore {
    layout: Layout,
    /// Where archived objects go (see `cold`).
    cold: cold::ColdDir,
    public_base_url: String,
    secret: SecretSlice<u8>,
}

struct Layout {
    objects: PathBuf,
    meta: PathBuf,
    tmp: PathBuf,
    multipart: PathBuf,
}

/// The sidecar of an object.
#[derive(serde::Serialize, serde::Deserialize)]
struct MetaFile {
    key: BlobKey,
    size: u64,
    content_type: Option<String>,
    etag: Option<String>,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("root", &self.layout.objects.parent())
            .field("public_base_url", &self.public_base_url)
            .finish_non_exhaustive()
    }
}

impl LocalStore {
    /// Opens (creating if needed) a store rooted at `root`. `public_base_url` is where clients
    /// reach studio (`http://127.0.0.1:8080`); signed URLs point at `{public_base_url}/storage/…`.
    /// `signing_secret` must have at least [`MIN_SECRET_BYTES`] bytes.
    ///
    /// Creates the directories with blocking calls: meant to run once, at startup.
    pub fn new(
        root: PathBuf,
        public_base_url: String,
        signing_secret: SecretString,
    ) -> Result<Self, StorageError> {
        let base = url::Url::parse(&public_base_url)
            .map_err(|e| StorageError::Config(format!("public base URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https")
            || base.query().is_some()
            || base.fragment().is_some()
        {
            return Err(StorageError::Config(
                "public base URL must be http(s) without query or fragment".into(),
            ));
        }
        let secret = signing_secret.expose_secret().as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(StorageError::Config(format!(
                "storage signing secret must have at least {MIN_SECRET_BYTES} bytes"
            )));
        }
        let layout = Layout {
            objects: root.join("objects"),
            meta: root.join(".meta"),
            tmp: root.join(".tmp"),
            multipart: root.join(".multipart"),
        };
        for dir in [
            &layout.objects,
            &layout.meta,
            &layout.tmp,
            &layout.multipart,
        ] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self {
            cold: cold::ColdDir::new(root.join(".cold")),
            layout,
            public_base_url: public_base_url.trim_end_matches('/').to_owned(),
            secret: SecretSlice::from(secret.to_vec()),
        })
    }

    /// Checks a request to `/storage/{key}`: the signature over everything it binds, the expiry,
    /// that `method` fits the operation (PUT for uploads, GET or HEAD for downloads) and, for
    /// uploads, that the request's `Content-Length` (and `Content-Type` for a whole object)
    /// equal the signed ones. `raw_path_key` is the percent-decoded path after `/storage/`;
    /// `query` the raw query string.
    pub fn authorize(
        &self,
        method: &str,
        raw_path_key: &str,
        query: &str,
        content_length: Option<u64>,
        content_type: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Grant, Denied> {
        signing::authorize(
            &self.secret,
            method,
            raw_path_key,
            query,
            content_length,
            content_type,
            now,
        )
    }

    /// Stores the body of an authorized whole-object PUT. Streams to disk; refuses a body that
    /// is not exactly the signed length (nothing is stored then).
    pub async fn write_object<S, E>(
        &self,
        grant: &Grant,
        body: S,
    ) -> Result<ObjectMeta, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let Grant::PutObject {
            key,
            length,
            content_type,
        } = grant
        else {
            return Err(StorageError::InvalidArgument(
                "not a PutObject grant".into(),
            ));
        };
        let mut temp = TempFile::create(&self.layout.tmp).await?;
        let written = temp.write_stream(body, *length).await?;
        let meta = ObjectMeta {
            size: written.size,
            content_type: Some(content_type.clone()),
            etag: Some(files::etag_of(&written.md5)),
        };
        self.commit_object(temp, key, &meta).await?;
        Ok(meta)
    }

    /// Stores the body of an authorized part PUT. `NoSuchUpload` when the upload is not open.
    pub async fn write_part<S, E>(
        &self,
        grant: &Grant,
        body: S,
    ) -> Result<UploadedPart, StorageError>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let Grant::PutPart {
            key,
            upload,
            part_number,
            length,
        } = grant
        else {
            return Err(StorageError::InvalidArgument("not a PutPart grant".into()));
        };
        self.mp_write_part(key, upload, *part_number, *length, body)
            .await
    }

    /// The file holding `key` and its metadata, for serving GET/HEAD (with `Range`) from it;
    /// `None` when there is no such object.
    pub async fn open_object(
        &self,
        key: &BlobKey,
    ) -> Result<Option<(PathBuf, ObjectMeta)>, StorageError> {
        let path = self.object_path(key);
        let size = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(None),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Some((path, self.object_meta(key, size).await?)))
    }

    /// The object `key` opened for reading, with its metadata; `None` when there is none. The
    /// open file keeps the bytes it names even if the object is replaced meanwhile (writes
    /// rename a new file into place, never change one).
    async fn open_object_file(
        &self,
        key: &BlobKey,
    ) -> Result<Option<(tokio::fs::File, ObjectMeta)>, StorageError> {
        let file = match tokio::fs::File::open(self.object_path(key)).await {
            Ok(file) => file,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let stat = file.metadata().await?;
        // A directory is a key prefix (`a` of `a/b`), not an object.
        if !stat.is_file() {
            return Ok(None);
        }
        let meta = self.object_meta(key, stat.len()).await?;
        Ok(Some((file, meta)))
    }

    /// The metadata of `key`, whose file has `size` bytes, from its sidecar.
    async fn object_meta(&self, key: &BlobKey, size: u64) -> Result<ObjectMeta, StorageError> {
        let sidecar: Option<MetaFile> = files::read_json(&self.meta_path(key)).await?;
        // A sidecar of another size belongs to a write not finished yet, or to an older one.
        let sidecar = sidecar.filter(|m| m.size == size && &m.key == key);
        Ok(ObjectMeta {
            size,
            content_type: sidecar.as_ref().and_then(|m| m.content_type.clone()),
            etag: sidecar.and_then(|m| m.etag),
        })
    }

    fn object_path(&self, key: &BlobKey) -> PathBuf {
        // Every segment of a BlobKey is a plain name: this stays under `objects/`.
        self.layout.objects.join(key.as_str())
    }

    fn meta_path(&self, key: &BlobKey) -> PathBuf {
        let hash = hex::encode(Sha256::digest(key.as_str().as_bytes()));
        self.layout
            .meta
            .join(&hash[..2])
            .join(format!("{hash}.json"))
    }

    /// Moves a finished temp file into place as `key`, then records its metadata.
    async fn commit_object(
        &self,
        temp: TempFile,
        key: &BlobKey,
        meta: &ObjectMeta,
    ) -> Result<(), StorageError> {
        temp.commit(&self.object_path(key)).await?;
        let sidecar = MetaFile {
            key: key.clone(),
            size: meta.size,
            content_type: meta.content_type.clone(),
            etag: meta.etag.clone(),
        };
        files::write_json(&self.layout.tmp, &self.meta_path(key), &sidecar).await?;
        Ok(())
    }

    fn presign(&self, claims: &Claims<'_>, expires_at: OffsetDateTime) -> PresignedRequest {
        let method = match claims.op {
            Op::Put | Op::Part => "PUT",
            Op::Get => "GET",
            Op::Post => "POST",
        };
        let mut headers = Vec::new();
        if let Some(length) = claims.length {
            headers.push(("content-length".to_owned(), length.to_string()));
        }
        if let Some(content_type) = claims.content_type {
            headers.push(("content-type".to_owned(), content_type.to_owned()));
        }
        PresignedRequest {
            method: method.to_owned(),
            url: claims.url(&self.public_base_url, &self.secret),
            headers,
            expires_at,
        }
    }
}
