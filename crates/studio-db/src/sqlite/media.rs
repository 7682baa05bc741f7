//! [`MediaStore`](crate::MediaStore) on SQLite.
//!
//! Every write that reads before it decides (reserve if the quota allows, confirm if still
//! pending) runs in one `BEGIN IMMEDIATE` transaction: it holds the database's write lock from
//! its first statement, so concurrent calls run one after the other and each sees the previous
//! one's result. The reservation is still a single conditional `UPDATE`, as on PostgreSQL.

use async_trait::async_trait;
use sqlx::SqliteConnection;
use studio_core::{AssetId, AssetStatus, JobId, ProjectId, UserId};
use time::OffsetDateTime;

use super::{BEGIN_WRITE, SqliteStore, encode_timestamp};
use crate::media_rows::{self, Release, UsageRow, asset_columns, size_to_sql};
use crate::rows::now;
use crate::{
    AssetOutputs, AssetRecord, Confirmed, DbError, IntentError, JobRecord, MediaStore, NewAsset,
    NewJob, Usage,
};

/// Rows as SQLite hands them over: timestamps are text.
type AssetRow = media_rows::AssetRow<String>;
type JobRow = media_rows::JobRow<String>;

#[async_trait]
impl MediaStore for SqliteStore {
    async fn usage(&self, user: &UserId) -> Result<Usage, DbError> {
        read_usage(&mut *self.pool.acquire().await?, user).await
    }

    async fn create_upload_intent(
        &self,
        new: NewAsset,
        limit_bytes: u64,
    ) -> Result<AssetRecord, IntentError> {
        let size = size_to_sql("assets.declared_size", new.declared_size)?;
        let part_size = new
            .part_size
            .map(|part| size_to_sql("assets.part_size", part))
            .transpose()?;
        let headroom = media_rows::reservation_headroom(size, limit_bytes);
        let stamp = encode_timestamp(now())?;
        let expires_at = encode_timestamp(new.expires_at)?;

        let mut tx = self
            .pool
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(DbError::from)?;
        let project: Option<i64> = sqlx::query_scalar("SELECT 1 FROM projects WHERE id = ?1")
            .bind(new.project_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(DbError::from)?;
        if project.is_none() {
            return Err(DbError::NotFound.into());
        }
        ensure_usage_row(&mut tx, &new.owner_id).await?;
        let reserved = sqlx::query(
            "UPDATE usage SET bytes_reserved = bytes_reserved + ?2 \
             WHERE user_id = ?1 AND bytes_used + bytes_reserved <= ?3",
        )
        .bind(new.owner_id.as_str())
        .bind(size)
        .bind(headroom)
        .execute(&mut *tx)
        .await
        .map_err(DbError::from)?;
        if reserved.rows_affected() == 0 {
            let usage = read_usage(&mut tx, &new.owner_id).await?;
            return Err(IntentError::QuotaExceeded {
                usage,
                limit: limit_bytes,
            });
        }
        let row: AssetRow = sqlx::query_as(concat!(
            "INSERT INTO assets (id, project_id, owner_id, kind, filename, content_type, \
                 declared_size, status, original_key, upload_id, part_size, expires_at, \
                 created_at, updated_at, last_accessed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending_upload', ?8, ?9, ?10, ?11, ?12, ?12, \
                     ?12) \
             RETURNING ",
            asset_columns!()
        ))
        .bind(new.id.as_str())
        .bind(new.project_id.as_str())
        .bind(new.owner_id.as_str())
        .bind(new.kind.as_str())
        .bind(&new.filename)
        .bind(&new.content_type)
        .bind(size)
        .bind(&new.original_key)
        .bind(&new.upload_id)
        .bind(part_size)
        .bind(&expires_at)
        .bind(&stamp)
        .fetch_one(&mut *tx)
        .await
        .map_err(DbError::from)?;
        let asset = row.into_record()?;
        tx.commit().await.map_err(DbError::from)?;
        Ok(asset)
    }

    async fn asset(&self, id: &AssetId) -> Result<Option<AssetRecord>, DbError> {
        let row: Option<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE id = ?1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(AssetRow::into_record).transpose()
    }

    async fn asset_by_key(&self, original_key: &str) -> Result<Option<AssetRecord>, DbError> {
        let row: Option<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE original_key = ?1"
        ))
        .bind(original_key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(AssetRow::into_record).transpose()
    }

    async fn list_assets(&self, project: &ProjectId) -> Result<Vec<AssetRecord>, DbError> {
        // The rowid grows with each insert: the order of creation even within one microsecond.
        let rows: Vec<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE project_id = ?1 ORDER BY created_at, rowid"
        ))
        .bind(project.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AssetRow::into_record).collect()
    }

    async fn confirm_upload(
        &self,
        id: &AssetId,
        real_size: u64,
        job: NewJob,
    ) -> Result<Confirmed, DbError> {
        let real = size_to_sql("assets.real_size", real_size)?;
        let stamp = encode_timestamp(now())?;

        // The write lock is held from here on, so the status read below cannot change under us:
        // of any number of concurrent calls, exactly one sees `pending_upload`.
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let row: Option<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE id = ?1"
        ))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let asset = row.ok_or(DbError::NotFound)?.into_record()?;
        match asset.status {
            AssetStatus::PendingUpload => {}
            AssetStatus::Expired => {
                return Err(DbError::Conflict {
                    constraint: "asset_expired".to_owned(),
                });
            }
            AssetStatus::Uploaded
            | AssetStatus::Processing
            | AssetStatus::Ready
            | AssetStatus::Failed => {
                let job_id = media_rows::confirmed_job(&asset)?;
                return Ok(Confirmed {
                    asset,
                    job_id,
                    newly_confirmed: false,
                });
            }
        }

        let job_id = record_job(&mut tx, &job, &stamp).await?;
        let row: AssetRow = sqlx::query_as(concat!(
            "UPDATE assets SET status = 'uploaded', real_size = ?2, job_id = ?3, updated_at = ?4 \
             WHERE id = ?1 RETURNING ",
            asset_columns!()
        ))
        .bind(id.as_str())
        .bind(real)
        .bind(job_id.as_str())
        .bind(&stamp)
        .fetch_one(&mut *tx)
        .await?;
        let confirmed = row.into_record()?;
        let declared = size_to_sql("assets.declared_size", asset.declared_size)?;
        let moved = sqlx::query(
            "UPDATE usage SET bytes_reserved = bytes_reserved - ?2, \
                              bytes_used = bytes_used + ?3 \
             WHERE user_id = ?1",
        )
        .bind(asset.owner_id.as_str())
        .bind(declared)
        .bind(real)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            return Err(missing_usage(&asset.owner_id));
        }
        tx.commit().await?;
        Ok(Confirmed {
            asset: confirmed,
            job_id,
            newly_confirmed: true,
        })
    }

    async fn expire_intent(&self, id: &AssetId) -> Result<bool, DbError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let row: Option<AssetRow> = sqlx::query_as(concat!(
            "UPDATE assets SET status = 'expired', updated_at = ?2 \
             WHERE id = ?1 AND status = 'pending_upload' RETURNING ",
            asset_columns!()
        ))
        .bind(id.as_str())
        .bind(encode_timestamp(now())?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let asset = row.into_record()?;
        let release = Release {
            reserved: asset.declared_size,
            used: 0,
        };
        give_back(&mut tx, &asset.owner_id, release).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_asset(&self, id: &AssetId) -> Result<AssetRecord, DbError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let row: Option<AssetRow> = sqlx::query_as(concat!(
            "DELETE FROM assets WHERE id = ?1 RETURNING ",
            asset_columns!()
        ))
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let asset = row.ok_or(DbError::NotFound)?.into_record()?;
        give_back(&mut tx, &asset.owner_id, Release::of(&asset)?).await?;
        tx.commit().await?;
        Ok(asset)
    }

    async fn expired_intents(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<AssetRecord>, DbError> {
        let rows: Vec<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE status = 'pending_upload' AND expires_at < ?1 \
              ORDER BY expires_at, rowid LIMIT ?2"
        ))
        .bind(encode_timestamp(now)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AssetRow::into_record).collect()
    }

    async fn pending_intents(&self, limit: u32) -> Result<Vec<AssetRecord>, DbError> {
        let rows: Vec<AssetRow> = sqlx::query_as(concat!(
            "SELECT ",
            asset_columns!(),
            " FROM assets WHERE status = 'pending_upload' AND expires_at >= ?1 \
              ORDER BY created_at, rowid LIMIT ?2"
        ))
        .bind(encode_timestamp(now())?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AssetRow::into_record).collect()
    }

    async fn start_processing(&self, id: &AssetId) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE assets SET status = 'processing', error = NULL, error_code = NULL, \
                               updated_at = ?2 \
             WHERE id = ?1 AND status IN ('uploaded', 'failed', 'ready')",
        )
        .bind(id.as_str())
        .bind(encode_timestamp(now())?)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        self.asset(id).await?.ok_or(DbError::NotFound)?;
        Ok(false)
    }

    async fn finish_processing(
        &self,
        id: &AssetId,
        outputs: &AssetOutputs,
        media_info: &str,
    ) -> Result<AssetRecord, DbError> {
        // One conditional UPDATE: the outputs and the move to `ready` land together or not at
        // all, and running it twice writes the same values again.
        let row: Option<AssetRow> = sqlx::query_as(concat!(
            "UPDATE assets SET status = 'ready', media_info = ?2, proxy_key = ?3, \
                               waveform_json_key = ?4, waveform_dat_key = ?5, \
                               waveform_png_key = ?6, poster_key = ?7, error = NULL, \
                               error_code = NULL, updated_at = ?8 \
             WHERE id = ?1 AND status IN ('processing', 'ready') RETURNING ",
            asset_columns!()
        ))
        .bind(id.as_str())
        .bind(media_info)
        .bind(&outputs.proxy_key)
        .bind(&outputs.waveform_json_key)
        .bind(&outputs.waveform_dat_key)
        .bind(&outputs.waveform_png_key)
        .bind(&outputs.poster_key)
        .bind(encode_timestamp(now())?)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return row.into_record();
        }
        self.asset(id).await?.ok_or(DbError::NotFound)?;
        Err(DbError::Conflict {
            constraint: "asset_not_processing".to_owned(),
        })
    }

    async fn fail_processing(
        &self,
        id: &AssetId,
        code: &str,
        message: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE assets SET status = 'failed', error_code = ?2, error = ?3, \
                               updated_at = ?4 \
             WHERE id = ?1 AND status IN ('uploaded', 'processing', 'failed')",
        )
        .bind(id.as_str())
        .bind(code)
        .bind(message)
        .bind(encode_timestamp(now())?)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        self.asset(id).await?.ok_or(DbError::NotFound)?;
        Ok(false)
    }

    async fn job(&self, id: &JobId) -> Result<Option<JobRecord>, DbError> {
        let row: Option<JobRow> = sqlx::query_as(
            "SELECT id, kind, payload, state, request_id, created_at FROM jobs WHERE id = ?1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(JobRow::into_record).transpose()
    }

    async fn record_webhook_delivery(&self, event_key: &str) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO webhook_deliveries (event_key, received_at) VALUES (?1, ?2) \
             ON CONFLICT (event_key) DO NOTHING",
        )
        .bind(event_key)
        .bind(encode_timestamp(now())?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Deletes the assets of `project` and gives their bytes back, inside the caller's write
/// transaction (`delete_project`); returns the deleted rows.
pub(super) async fn delete_project_assets(
    conn: &mut SqliteConnection,
    project: &ProjectId,
) -> Result<Vec<AssetRecord>, DbError> {
    let rows: Vec<AssetRow> = sqlx::query_as(concat!(
        "DELETE FROM assets WHERE project_id = ?1 RETURNING ",
        asset_columns!()
    ))
    .bind(project.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let mut assets = rows
        .into_iter()
        .map(AssetRow::into_record)
        .collect::<Result<Vec<_>, _>>()?;
    for (owner, release) in Release::per_owner(&assets)? {
        give_back(conn, &owner, release).await?;
    }
    // `RETURNING` order is unspecified; hand them back oldest first, like `list_assets`.
    assets.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
    Ok(assets)
}

/// Creates `user`'s row and usage row if they do not exist yet (the usage row references it).
async fn ensure_usage_row(conn: &mut SqliteConnection, user: &UserId) -> Result<(), DbError> {
    sqlx::query("INSERT INTO users (id) VALUES (?1) ON CONFLICT (id) DO NOTHING")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO usage (user_id) VALUES (?1) ON CONFLICT (user_id) DO NOTHING")
        .bind(user.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn read_usage(conn: &mut SqliteConnection, user: &UserId) -> Result<Usage, DbError> {
    let row: Option<UsageRow> =
        sqlx::query_as("SELECT bytes_used, bytes_reserved FROM usage WHERE user_id = ?1")
            .bind(user.as_str())
            .fetch_optional(&mut *conn)
            .await?;
    row.map_or(Ok(Usage::default()), UsageRow::into_usage)
}

/// Records `job`, or finds the job already recorded under its idempotency key; returns its id.
/// Runs under the write lock, so "insert, else read" cannot race.
async fn record_job(
    conn: &mut SqliteConnection,
    job: &NewJob,
    stamp: &str,
) -> Result<JobId, DbError> {
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, state, idempotency_key, request_id, created_at, \
                           updated_at) \
         VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?6) \
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(job.id.as_str())
    .bind(&job.kind)
    .bind(&job.payload)
    .bind(&job.idempotency_key)
    .bind(&job.request_id)
    .bind(stamp)
    .execute(&mut *conn)
    .await?;
    let id: String = sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = ?1")
        .bind(&job.idempotency_key)
        .fetch_one(&mut *conn)
        .await?;
    id.parse()
        .map_err(|err| DbError::Corrupt(format!("jobs.id: {err}")))
}

/// Subtracts `release` from `owner`'s usage. The CHECKs on `usage` turn an underflow (which
/// would mean the accounting is already wrong) into an error that rolls the transaction back.
/// Also used by the timeline's forced asset deletion.
pub(super) async fn give_back(
    conn: &mut SqliteConnection,
    owner: &UserId,
    release: Release,
) -> Result<(), DbError> {
    if release.is_empty() {
        return Ok(());
    }
    let (reserved, used) = release.to_sql()?;
    let done = sqlx::query(
        "UPDATE usage SET bytes_reserved = bytes_reserved - ?2, bytes_used = bytes_used - ?3 \
         WHERE user_id = ?1",
    )
    .bind(owner.as_str())
    .bind(reserved)
    .bind(used)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Err(missing_usage(owner));
    }
    Ok(())
}

/// An asset holds bytes but its owner has no usage row: the accounting is broken.
fn missing_usage(owner: &UserId) -> DbError {
    DbError::Corrupt(format!("usage: no row for {owner}, who owns assets"))
}
