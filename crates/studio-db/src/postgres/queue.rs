//! [`QueueStore`](crate::QueueStore) on PostgreSQL.
//!
//! Why by hand rather than `apalis-postgres`: our own `jobs` table is the API's source of truth
//! (state, attempts, progress, error, `request_id`) and the outbox `confirm_upload` writes in the
//! same transaction as the asset change. apalis keeps its own copy of every job in its own
//! tables, so the two would have to be kept in step, and it brings the caveats we measured on
//! its SQLite sibling (`/work/shared/notes/queue-crates.md`): no progress API, status only of
//! finished jobs, custom ids stopping workers, panicking jobs re-run without a cap.
//!
//! A claim is one statement: a CTE selects the due rows `FOR UPDATE SKIP LOCKED` and the
//! `UPDATE … RETURNING` around it takes them. Concurrent claimers skip each other's locked rows
//! instead of waiting for them, and a row a concurrent claimer already took is re-checked after
//! its lock is released (READ COMMITTED re-evaluates the `WHERE` on the new row version), so it
//! no longer qualifies: each job goes to exactly one claimer. Every other transition is one
//! conditional `UPDATE` (`state` and `lease_owner` in its `WHERE`).

use std::time::Duration;

use async_trait::async_trait;
use studio_core::JobId;
use time::OffsetDateTime;

use super::PgStore;
use crate::queue::{self, LEASE_LAPSED, queue_job_columns};
use crate::rows::now;
use crate::{
    AttemptStart, DbError, EnqueueOptions, HeartbeatOutcome, JobCount, NewJob, QueueJob, QueueStore,
};

type QueueJobRow = queue::QueueJobRow<OffsetDateTime>;

#[async_trait]
impl QueueStore for PgStore {
    async fn enqueue(&self, job: NewJob, options: EnqueueOptions) -> Result<QueueJob, DbError> {
        let stamp = now();
        let run_at = options.run_at.unwrap_or(stamp);
        // One statement: the conflict decides, so two enqueuers of one key make one job.
        sqlx::query(
            "INSERT INTO jobs (id, kind, payload, state, idempotency_key, request_id, priority, \
                               max_attempts, run_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(job.id.as_str())
        .bind(&job.kind)
        .bind(&job.payload)
        .bind(&job.idempotency_key)
        .bind(&job.request_id)
        .bind(options.priority)
        .bind(queue::max_attempts_to_sql(options.max_attempts))
        .bind(run_at)
        .bind(stamp)
        .execute(&self.pool)
        .await?;
        let row: QueueJobRow = sqlx::query_as(concat!(
            "SELECT ",
            queue_job_columns!(),
            " FROM jobs WHERE idempotency_key = $1"
        ))
        .bind(&job.idempotency_key)
        .fetch_one(&self.pool)
        .await?;
        row.into_job()
    }

    async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<QueueJob>, DbError> {
        if kinds.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let stamp = now();
        let until = stamp + queue::lease_duration(lease);
        let kinds: Vec<&str> = kinds.to_vec();

        // Two statements, no transaction needed. First the sweep settles lapsed jobs that must
        // not run again (out of attempts, or cancelled while they ran); whatever it leaves is
        // claimable. A sweep racing a claim is harmless: both are conditional on the row as
        // they find it, under its lock.
        sqlx::query(
            "UPDATE jobs SET \
                 state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END, \
                 error_code = CASE WHEN cancel_requested THEN error_code ELSE $3 END, \
                 error = CASE WHEN cancel_requested THEN error \
                              ELSE 'the worker stopped heartbeating on the last attempt' END, \
                 lease_until = NULL, finished_at = $1, updated_at = $1 \
             WHERE state = 'active' AND lease_until < $1 \
               AND kind = ANY($2) \
               AND (attempts >= max_attempts OR cancel_requested)",
        )
        .bind(stamp)
        .bind(&kinds)
        .bind(LEASE_LAPSED)
        .execute(&self.pool)
        .await?;
        let rows: Vec<QueueJobRow> = sqlx::query_as(concat!(
            "WITH picked AS ( \
                 SELECT id AS picked_id FROM jobs \
                 WHERE kind = ANY($4) \
                   AND ((state IN ('queued', 'retrying') AND run_at <= $1) \
                        OR (state = 'active' AND lease_until < $1)) \
                 ORDER BY priority DESC, run_at, created_at, id \
                 LIMIT $5 \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET state = 'active', attempts = jobs.attempts + 1, lease_owner = $2, \
                 lease_until = $3, heartbeat_at = $1, started_at = $1, updated_at = $1, \
                 progress = 0, stage = NULL \
             FROM picked WHERE jobs.id = picked.picked_id \
             RETURNING ",
            queue_job_columns!()
        ))
        .bind(stamp)
        .bind(worker)
        .bind(until)
        .bind(&kinds)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = rows
            .into_iter()
            .map(QueueJobRow::into_job)
            .collect::<Result<Vec<_>, _>>()?;
        queue::sort_claimed(&mut jobs);
        Ok(jobs)
    }

    async fn start_attempt(
        &self,
        job: &JobId,
        worker: &str,
        lease: Duration,
    ) -> Result<AttemptStart, DbError> {
        let stamp = now();
        // As in `claim`: first settle the job if a dead worker left it with nothing to run,
        // then take whatever is still runnable. Each statement is conditional on the row as it
        // finds it, so no transaction is needed.
        sqlx::query(
            "UPDATE jobs SET \
                 state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'failed' END, \
                 error_code = CASE WHEN cancel_requested THEN error_code ELSE $3 END, \
                 error = CASE WHEN cancel_requested THEN error \
                              ELSE 'the worker stopped heartbeating on the last attempt' END, \
                 lease_until = NULL, finished_at = $2, updated_at = $2 \
             WHERE id = $1 AND state = 'active' \
               AND (attempts >= max_attempts OR cancel_requested)",
        )
        .bind(job.as_str())
        .bind(stamp)
        .bind(LEASE_LAPSED)
        .execute(&self.pool)
        .await?;
        let started: Option<QueueJobRow> = sqlx::query_as(concat!(
            "UPDATE jobs SET state = 'active', attempts = attempts + 1, lease_owner = $2, \
                 lease_until = $3, heartbeat_at = $4, started_at = $4, updated_at = $4, \
                 progress = 0, stage = NULL \
             WHERE id = $1 AND state IN ('queued', 'retrying', 'active') \
             RETURNING ",
            queue_job_columns!()
        ))
        .bind(job.as_str())
        .bind(worker)
        .bind(stamp + queue::lease_duration(lease))
        .bind(stamp)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = started {
            return Ok(AttemptStart::Started(row.into_job()?));
        }
        Ok(match self.queue_job(job).await? {
            Some(job) => AttemptStart::Over(job),
            None => AttemptStart::Unknown,
        })
    }

    async fn unrelayed_jobs(&self, limit: u32) -> Result<Vec<QueueJob>, DbError> {
        let rows: Vec<QueueJobRow> = sqlx::query_as(concat!(
            "SELECT ",
            queue_job_columns!(),
            " FROM jobs WHERE relayed_at IS NULL AND state IN ('queued', 'retrying') \
              ORDER BY created_at, id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(QueueJobRow::into_job).collect()
    }

    async fn mark_relayed(&self, jobs: &[JobId]) -> Result<(), DbError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = jobs.iter().map(JobId::as_str).collect();
        sqlx::query("UPDATE jobs SET relayed_at = $2 WHERE id = ANY($1) AND relayed_at IS NULL")
            .bind(&ids)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn heartbeat(
        &self,
        job: &JobId,
        worker: &str,
        lease: Duration,
    ) -> Result<HeartbeatOutcome, DbError> {
        let now = now();
        let cancel: Option<bool> = sqlx::query_scalar(
            "UPDATE jobs SET lease_until = $3, heartbeat_at = $4, updated_at = $4 \
             WHERE id = $1 AND state = 'active' AND lease_owner = $2 \
             RETURNING cancel_requested",
        )
        .bind(job.as_str())
        .bind(worker)
        .bind(now + queue::lease_duration(lease))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match cancel {
            None => HeartbeatOutcome::Lost,
            Some(true) => HeartbeatOutcome::Cancelled,
            Some(false) => HeartbeatOutcome::Continue,
        })
    }

    async fn progress(
        &self,
        job: &JobId,
        worker: &str,
        percent: f64,
        stage: Option<&str>,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE jobs SET progress = $3, stage = COALESCE($4, stage), updated_at = $5 \
             WHERE id = $1 AND state = 'active' AND lease_owner = $2",
        )
        .bind(job.as_str())
        .bind(worker)
        .bind(queue::clamp_progress(percent))
        .bind(stage)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete(&self, job: &JobId, worker: &str, result: &str) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'completed', result = $3, progress = 100, \
                 lease_until = NULL, finished_at = $4, updated_at = $4 \
             WHERE id = $1 AND state = 'active' AND lease_owner = $2",
        )
        .bind(job.as_str())
        .bind(worker)
        .bind(result)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail(
        &self,
        job: &JobId,
        worker: &str,
        error_code: &str,
        message: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<bool, DbError> {
        let stamp = now();
        let done = sqlx::query(
            "UPDATE jobs SET \
                 state = CASE WHEN cancel_requested THEN 'cancelled' \
                              WHEN $5 IS NOT NULL AND attempts < max_attempts THEN 'retrying' \
                              ELSE 'failed' END, \
                 run_at = CASE WHEN $5 IS NOT NULL AND attempts < max_attempts \
                                    AND NOT cancel_requested \
                               THEN $5 ELSE run_at END, \
                 finished_at = CASE WHEN $5 IS NOT NULL AND attempts < max_attempts \
                                         AND NOT cancel_requested \
                                    THEN NULL ELSE $6 END, \
                 error_code = $3, error = $4, lease_until = NULL, updated_at = $6 \
             WHERE id = $1 AND state = 'active' AND lease_owner = $2",
        )
        .bind(job.as_str())
        .bind(worker)
        .bind(error_code)
        .bind(message)
        .bind(retry_at)
        .bind(stamp)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn cancel(&self, job: &JobId) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE jobs SET \
                 state = CASE WHEN state = 'active' THEN state ELSE 'cancelled' END, \
                 cancel_requested = true, \
                 finished_at = CASE WHEN state = 'active' THEN finished_at ELSE $2 END, \
                 updated_at = $2 \
             WHERE id = $1 AND state IN ('queued', 'retrying', 'active')",
        )
        .bind(job.as_str())
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, job: &JobId, worker: &str) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE jobs SET \
                 state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, \
                 finished_at = CASE WHEN cancel_requested THEN $3 ELSE NULL END, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                 run_at = $3, lease_until = NULL, updated_at = $3 \
             WHERE id = $1 AND state = 'active' AND lease_owner = $2",
        )
        .bind(job.as_str())
        .bind(worker)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn queue_job(&self, id: &JobId) -> Result<Option<QueueJob>, DbError> {
        let row: Option<QueueJobRow> = sqlx::query_as(concat!(
            "SELECT ",
            queue_job_columns!(),
            " FROM jobs WHERE id = $1"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(QueueJobRow::into_job).transpose()
    }

    async fn purge_finished(&self, older_than: OffsetDateTime) -> Result<u64, DbError> {
        let done = sqlx::query(
            "DELETE FROM jobs \
             WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at < $1 \
               AND NOT EXISTS (SELECT 1 FROM assets WHERE assets.job_id = jobs.id)",
        )
        .bind(older_than)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn stats(&self) -> Result<Vec<JobCount>, DbError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state ORDER BY kind, state",
        )
        .fetch_all(&self.pool)
        .await?;
        queue::job_counts(rows)
    }
}
