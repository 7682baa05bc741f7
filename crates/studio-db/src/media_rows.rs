//! What both backends do with media rows once SQL has produced them, and the arithmetic of
//! giving bytes back: decoding `assets`, `jobs` and `usage` rows into the [`MediaStore`] types,
//! converting byte counts between Rust's `u64` and SQL's signed 64-bit integers, and working out
//! what a removed asset returns to its owner's usage.
//!
//! As in [`crate::rows`], row structs are generic over the backend's stored timestamp type, and
//! a value the code does not understand (a negative size, an unknown status) is
//! [`DbError::Corrupt`] naming the column, never a panic. A size that does not fit the database
//! is refused before any SQL runs, never wrapped.
//!
//! [`MediaStore`]: crate::MediaStore

use std::collections::BTreeMap;
use std::str::FromStr;

use studio_core::{AssetId, AssetKind, AssetStatus, JobId, ProjectId, UserId};

use crate::rows::StoredTimestamp;
use crate::{AssetOutputs, AssetRecord, DbError, JobRecord, OriginalTier, Usage};

/// The `assets` columns every query selects or returns, in [`AssetRow`]'s order. A macro rather
/// than a `const` so it can be `concat!`ed into the (static) SQL text.
macro_rules! asset_columns {
    () => {
        "id, project_id, owner_id, kind, filename, content_type, declared_size, real_size, \
         status, original_key, upload_id, part_size, expires_at, job_id, error, created_at, \
         updated_at, media_info, proxy_key, waveform_json_key, waveform_dat_key, \
         waveform_png_key, poster_key, error_code, last_accessed_at, original_tier, \
         original_tier_changed_at"
    };
}
pub(crate) use asset_columns;

/// A byte count as SQL stores it; refuses (rather than wraps) one past `i64::MAX`.
pub(crate) fn size_to_sql(what: &str, bytes: u64) -> Result<i64, DbError> {
    i64::try_from(bytes).map_err(|_| {
        DbError::Other(sqlx::Error::Encode(
            format!("{what} of {bytes} bytes is more than the database can store").into(),
        ))
    })
}

/// A stored byte count; a negative one means the row is corrupt.
fn size_from_sql(column: &str, stored: i64) -> Result<u64, DbError> {
    u64::try_from(stored).map_err(|_| DbError::Corrupt(format!("{column}: {stored}")))
}

/// The most `used + reserved` may reach for the reservation of `size` bytes to fit `limit`:
/// `limit - size`. The conditional reservation compares `used + reserved` against this instead
/// of comparing `used + reserved + size` against the limit, so the SQL never adds a third large
/// number that could overflow. Negative when `size` alone passes the limit (nothing fits then).
/// A limit past `i64::MAX` is no limit at all (no stored total can pass it), so it is clamped.
pub(crate) fn reservation_headroom(size: i64, limit: u64) -> i64 {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Both are in 0..=i64::MAX, so the difference cannot overflow.
    limit - size
}

/// What removing an asset gives back to its owner's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Release {
    /// Subtracted from `bytes_reserved`: a pending intent's declared size.
    pub(crate) reserved: u64,
    /// Subtracted from `bytes_used`: a confirmed upload's real size.
    pub(crate) used: u64,
}

impl Release {
    /// What `asset` holds in its owner's usage, by status: a pending intent its reservation, a
    /// confirmed upload its real size, an expired intent nothing (expiry released it already).
    pub(crate) fn of(asset: &AssetRecord) -> Result<Self, DbError> {
        match asset.status {
            AssetStatus::PendingUpload => Ok(Self {
                reserved: asset.declared_size,
                used: 0,
            }),
            AssetStatus::Uploaded
            | AssetStatus::Processing
            | AssetStatus::Ready
            | AssetStatus::Failed => Ok(Self {
                reserved: 0,
                used: asset.real_size.ok_or_else(|| {
                    DbError::Corrupt(format!("assets.real_size: NULL for {}", asset.id))
                })?,
            }),
            AssetStatus::Expired => Ok(Self::default()),
        }
    }

    /// What removing all of `assets` gives back, per owner, in owner order (so transactions
    /// updating several usage rows lock them in one global order and cannot deadlock).
    pub(crate) fn per_owner(assets: &[AssetRecord]) -> Result<Vec<(UserId, Self)>, DbError> {
        let mut totals: BTreeMap<&str, (UserId, Self)> = BTreeMap::new();
        for asset in assets {
            let release = Self::of(asset)?;
            let entry = totals
                .entry(asset.owner_id.as_str())
                .or_insert_with(|| (asset.owner_id.clone(), Self::default()));
            let sum = |a: u64, b: u64| {
                a.checked_add(b).ok_or_else(|| {
                    DbError::Corrupt(format!("assets of {}: sizes overflow", asset.owner_id))
                })
            };
            entry.1.reserved = sum(entry.1.reserved, release.reserved)?;
            entry.1.used = sum(entry.1.used, release.used)?;
        }
        Ok(totals
            .into_values()
            .filter(|(_, r)| !r.is_empty())
            .collect())
    }

    pub(crate) fn is_empty(self) -> bool {
        self == Self::default()
    }

    /// (reserved, used) as SQL binds them.
    pub(crate) fn to_sql(self) -> Result<(i64, i64), DbError> {
        Ok((
            size_to_sql("a released reservation", self.reserved)?,
            size_to_sql("a released usage", self.used)?,
        ))
    }
}

/// `assets` columns as stored ([`asset_columns!`]); `T` is the backend's timestamp type.
#[derive(sqlx::FromRow)]
pub(crate) struct AssetRow<T> {
    id: String,
    project_id: String,
    owner_id: String,
    kind: String,
    filename: String,
    content_type: String,
    declared_size: i64,
    real_size: Option<i64>,
    status: String,
    original_key: String,
    upload_id: Option<String>,
    part_size: Option<i64>,
    expires_at: T,
    job_id: Option<String>,
    error: Option<String>,
    created_at: T,
    updated_at: T,
    media_info: Option<String>,
    proxy_key: Option<String>,
    waveform_json_key: Option<String>,
    waveform_dat_key: Option<String>,
    waveform_png_key: Option<String>,
    poster_key: Option<String>,
    error_code: Option<String>,
    /// NULL only for SQLite rows written before the code set it (read as `created_at`).
    last_accessed_at: Option<T>,
    original_tier: String,
    original_tier_changed_at: Option<T>,
}

impl<T: StoredTimestamp> AssetRow<T> {
    pub(crate) fn into_record(self) -> Result<AssetRecord, DbError> {
        let corrupt = |column: &str, err: &dyn std::fmt::Display| {
            DbError::Corrupt(format!("assets.{column}: {err}"))
        };
        let created_at = self.created_at.decode("assets.created_at")?;
        Ok(AssetRecord {
            id: AssetId::from_str(&self.id).map_err(|err| corrupt("id", &err))?,
            project_id: ProjectId::from_str(&self.project_id)
                .map_err(|err| corrupt("project_id", &err))?,
            owner_id: UserId::parse(&self.owner_id).map_err(|err| corrupt("owner_id", &err))?,
            kind: AssetKind::from_db(&self.kind).ok_or_else(|| corrupt("kind", &self.kind))?,
            filename: self.filename,
            content_type: self.content_type,
            declared_size: size_from_sql("assets.declared_size", self.declared_size)?,
            real_size: self
                .real_size
                .map(|size| size_from_sql("assets.real_size", size))
                .transpose()?,
            status: AssetStatus::from_db(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            original_key: self.original_key,
            upload_id: self.upload_id,
            part_size: self
                .part_size
                .map(|size| size_from_sql("assets.part_size", size))
                .transpose()?,
            expires_at: self.expires_at.decode("assets.expires_at")?,
            job_id: self
                .job_id
                .map(|id| JobId::from_str(&id).map_err(|err| corrupt("job_id", &err)))
                .transpose()?,
            error: self.error,
            created_at,
            updated_at: self.updated_at.decode("assets.updated_at")?,
            media_info: self.media_info,
            outputs: AssetOutputs {
                proxy_key: self.proxy_key,
                waveform_json_key: self.waveform_json_key,
                waveform_dat_key: self.waveform_dat_key,
                waveform_png_key: self.waveform_png_key,
                poster_key: self.poster_key,
            },
            error_code: self.error_code,
            last_accessed_at: match self.last_accessed_at {
                Some(at) => at.decode("assets.last_accessed_at")?,
                None => created_at,
            },
            original_tier: OriginalTier::from_db(&self.original_tier)
                .ok_or_else(|| corrupt("original_tier", &self.original_tier))?,
            original_tier_changed_at: self
                .original_tier_changed_at
                .map(|at| at.decode("assets.original_tier_changed_at"))
                .transpose()?,
        })
    }
}

/// `jobs` columns as the API reads them; `T` is the backend's timestamp type.
#[derive(sqlx::FromRow)]
pub(crate) struct JobRow<T> {
    id: String,
    kind: String,
    payload: String,
    state: String,
    request_id: Option<String>,
    created_at: T,
}

impl<T: StoredTimestamp> JobRow<T> {
    pub(crate) fn into_record(self) -> Result<JobRecord, DbError> {
        Ok(JobRecord {
            id: JobId::from_str(&self.id)
                .map_err(|err| DbError::Corrupt(format!("jobs.id: {err}")))?,
            kind: self.kind,
            payload: self.payload,
            state: self.state,
            request_id: self.request_id,
            created_at: self.created_at.decode("jobs.created_at")?,
        })
    }
}

/// A `usage` row's two counters, as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct UsageRow {
    bytes_used: i64,
    bytes_reserved: i64,
}

impl UsageRow {
    pub(crate) fn into_usage(self) -> Result<Usage, DbError> {
        Ok(Usage {
            bytes_used: size_from_sql("usage.bytes_used", self.bytes_used)?,
            bytes_reserved: size_from_sql("usage.bytes_reserved", self.bytes_reserved)?,
        })
    }
}

/// The job id a confirmed asset points at; a confirmed asset without one is corrupt (the schema's
/// `assets_confirmed_check` forbids it).
pub(crate) fn confirmed_job(asset: &AssetRecord) -> Result<JobId, DbError> {
    asset
        .job_id
        .clone()
        .ok_or_else(|| DbError::Corrupt(format!("assets.job_id: NULL for {}", asset.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_past_i64_are_refused_not_wrapped() {
        assert_eq!(size_to_sql("x", 5).unwrap(), 5);
        assert_eq!(size_to_sql("x", i64::MAX as u64).unwrap(), i64::MAX);
        assert!(matches!(
            size_to_sql("x", i64::MAX as u64 + 1),
            Err(DbError::Other(_))
        ));
        assert!(matches!(size_from_sql("c", -1), Err(DbError::Corrupt(_))));
    }

    #[test]
    fn headroom_never_overflows() {
        assert_eq!(reservation_headroom(10, 100), 90);
        assert_eq!(reservation_headroom(100, 10), -90);
        assert_eq!(reservation_headroom(0, u64::MAX), i64::MAX);
        assert_eq!(reservation_headroom(i64::MAX, 0), -i64::MAX);
    }
}
