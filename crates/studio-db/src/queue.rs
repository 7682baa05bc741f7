//! The queue half of the persistence port: the `jobs` table as a durable job queue with leases.
//!
//! The embedded queue engine (`studio-queue`) runs jobs straight from this table, and whatever
//! engine runs them, this table is what the API reads (state, attempts, progress, error).
//!
//! Invariants, on both backends:
//! - A claim is atomic: of any number of concurrent claimers, exactly one gets each due job.
//! - A job is *leased* while `active`: `lease_owner` names the worker, `lease_until` says until
//!   when. A worker keeps its lease by heartbeating; a lease that lapses (the worker died) makes
//!   the job claimable again, and the next claim counts another attempt.
//! - Every transition a worker makes (`heartbeat`, `progress`, `complete`, `fail`, `release`) is
//!   conditional on `state = 'active' AND lease_owner = worker`, so a worker that lost its lease
//!   (and whose job another worker now runs) cannot overwrite the other's outcome: the call
//!   returns `false` / [`HeartbeatOutcome::Lost`] and changes nothing.
//! - Timestamps come from the caller's clock (like every other write of this crate). Leases are
//!   seconds long, far above the skew of NTP-synchronised machines.

use std::str::FromStr;

use async_trait::async_trait;
use studio_core::JobId;
use time::OffsetDateTime;

use crate::rows::StoredTimestamp;
use crate::{DbError, NewJob};

/// Where a job is in its life. Stored as the lowercase name (`jobs_state_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Waiting to be claimed (from `run_at` on).
    Queued,
    /// Claimed by a worker holding its lease.
    Active,
    /// Finished with a result.
    Completed,
    /// Finished with an error, not to be retried.
    Failed,
    /// Failed an attempt; claimable again from `run_at` on.
    Retrying,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// Every state, in life order.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Active,
        JobState::Completed,
        JobState::Failed,
        JobState::Retrying,
        JobState::Cancelled,
    ];

    /// The stored (and API) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Active => "active",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Retrying => "retrying",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state stored as `name`, if it is one.
    pub fn from_db(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }

    /// Whether the job is over (nothing will change it any more).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to enqueue a job, beyond what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueOptions {
    /// Higher runs first (among due jobs).
    pub priority: i32,
    /// Not before this instant (`None`: now). Delayed jobs.
    pub run_at: Option<OffsetDateTime>,
    /// How many times it may be claimed in all (first run included).
    pub max_attempts: u32,
}

/// Attempts a job gets when the enqueuer does not say: a few retries ride out a restarting
/// dependency without hammering a broken input forever.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl Default for EnqueueOptions {
    fn default() -> Self {
        Self {
            priority: 0,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// A job with everything the queue keeps about it.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueJob {
    pub id: JobId,
    pub kind: String,
    /// JSON text.
    pub payload: String,
    pub state: JobState,
    pub idempotency_key: String,
    /// The request that caused it, for tracing.
    pub request_id: Option<String>,
    /// Claims so far (the current one included while `active`).
    pub attempts: u32,
    pub max_attempts: u32,
    pub priority: i32,
    /// When it is (or was) due.
    pub run_at: OffsetDateTime,
    /// The worker holding (or that last held) the lease.
    pub lease_owner: Option<String>,
    /// Until when the lease holds (`None` once settled or handed back).
    pub lease_until: Option<OffsetDateTime>,
    pub heartbeat_at: Option<OffsetDateTime>,
    /// Percent, 0 to 100.
    pub progress: f64,
    pub stage: Option<String>,
    /// JSON text, once completed.
    pub result: Option<String>,
    /// The last failure's message and stable code.
    pub error: Option<String>,
    pub error_code: Option<String>,
    /// Whether someone asked to cancel it while it ran.
    pub cancel_requested: bool,
    /// When the current (or last) attempt started.
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A job a worker has just claimed: `state` is `active`, the lease is the worker's, and
/// `attempts` counts this claim.
pub type ClaimedJob = QueueJob;

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// The lease is extended; carry on.
    Continue,
    /// The lease is extended, but cancellation was requested: stop soon.
    Cancelled,
    /// The job is no longer this worker's (lease lapsed and reclaimed, or settled): stop now and
    /// report nothing.
    Lost,
}

/// What [`QueueStore::start_attempt`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptStart {
    /// The job is now `active`, leased to the worker, with one more attempt: run it.
    Started(ClaimedJob),
    /// The job must not run: it is finished, or was settled just now because it was cancelled
    /// or out of attempts while a dead worker held it. As it stands after that.
    Over(QueueJob),
    /// No such job (never recorded, or purged).
    Unknown,
}

/// How many jobs of a kind are in a state (for metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    pub kind: String,
    pub state: JobState,
    pub count: u64,
}

/// The job queue over the `jobs` table. Implemented by both backends; a supertrait of
/// [`crate::Store`], so one `Arc<dyn Store>` reaches it.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Records a `queued` job. Idempotent on `job.idempotency_key`: if a job with that key
    /// exists, nothing is written and that job is returned.
    async fn enqueue(&self, job: NewJob, options: EnqueueOptions) -> Result<QueueJob, DbError>;

    /// Atomically claims up to `limit` due jobs of `kinds` for `worker`, highest priority first,
    /// then earliest due: `queued`/`retrying` jobs whose `run_at` has come, and `active` jobs
    /// whose lease lapsed (their worker died). Each becomes `active`, leased to `worker` for
    /// `lease`, with one more attempt. A lapsed job that has used all its attempts (or whose
    /// cancellation was requested) is settled as `failed` (`lease_lapsed`) or `cancelled`
    /// instead of being run again, so a job that kills its worker cannot loop forever.
    async fn claim(
        &self,
        worker: &str,
        kinds: &[&str],
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedJob>, DbError>;

    /// Starts an attempt of one given job for `worker`, when an external engine (BullMQ)
    /// delivers it, rather than picking due jobs like [`QueueStore::claim`]: the engine decides
    /// when a job runs (delays, backoff) and who runs it. A `queued`, `retrying` or `active`
    /// job becomes `active`, leased to `worker` for `lease`, with one more attempt; `active`
    /// included because the engine re-delivers a job whose worker died (its lock lapsed), and
    /// the new worker takes it over. Like a claim of a lapsed job, an `active` job that used all
    /// its attempts or whose cancellation was requested is settled (`failed` with
    /// `lease_lapsed`, or `cancelled`) instead of run again.
    async fn start_attempt(
        &self,
        job: &JobId,
        worker: &str,
        lease: std::time::Duration,
    ) -> Result<AttemptStart, DbError>;

    /// Waiting (`queued`/`retrying`) jobs not yet handed to the external engine: the outbox the
    /// relay drains, oldest first.
    async fn unrelayed_jobs(&self, limit: u32) -> Result<Vec<QueueJob>, DbError>;

    /// Records that `jobs` were handed to the external engine (so the relay skips them).
    async fn mark_relayed(&self, jobs: &[JobId]) -> Result<(), DbError>;

    /// Extends `worker`'s lease on `job` by `lease` from now, if it still holds it.
    async fn heartbeat(
        &self,
        job: &JobId,
        worker: &str,
        lease: std::time::Duration,
    ) -> Result<HeartbeatOutcome, DbError>;

    /// Records progress (clamped to 0..=100) and optionally a stage; false if the lease is gone.
    async fn progress(
        &self,
        job: &JobId,
        worker: &str,
        percent: f64,
        stage: Option<&str>,
    ) -> Result<bool, DbError>;

    /// `active` → `completed` with `result` (JSON text); false if the lease is gone.
    async fn complete(&self, job: &JobId, worker: &str, result: &str) -> Result<bool, DbError>;

    /// Records a failed attempt. With `retry_at`, and attempts left, the job becomes `retrying`,
    /// due at `retry_at`; otherwise `failed`. If cancellation was requested it becomes
    /// `cancelled` instead. False if the lease is gone.
    async fn fail(
        &self,
        job: &JobId,
        worker: &str,
        error_code: &str,
        message: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> Result<bool, DbError>;

    /// Cancels a job: `queued`/`retrying` → `cancelled` at once; `active` → cancellation
    /// requested (the worker learns it at its next heartbeat). False if the job is unknown or
    /// already finished.
    async fn cancel(&self, job: &JobId) -> Result<bool, DbError>;

    /// Hands a job back (graceful shutdown): `active` → `queued`, due now, the attempt not
    /// counted. A job whose cancellation was requested becomes `cancelled` instead. False if
    /// the lease is gone.
    async fn release(&self, job: &JobId, worker: &str) -> Result<bool, DbError>;

    /// A job with all its queue fields.
    async fn queue_job(&self, id: &JobId) -> Result<Option<QueueJob>, DbError>;

    /// Deletes `completed`/`failed`/`cancelled` jobs that finished before `older_than`
    /// (retention); returns how many. Jobs an asset still points at are kept: they are that
    /// asset's processing record.
    async fn purge_finished(&self, older_than: OffsetDateTime) -> Result<u64, DbError>;

    /// Job counts per kind and state (states with no job are left out).
    async fn stats(&self) -> Result<Vec<JobCount>, DbError>;
}

/// The `jobs` columns the queue selects or returns, in [`QueueJobRow`]'s order. A macro so it
/// can be `concat!`ed into static SQL.
macro_rules! queue_job_columns {
    () => {
        "id, kind, payload, state, idempotency_key, request_id, attempts, max_attempts, priority, \
         run_at, lease_owner, lease_until, heartbeat_at, progress, stage, result, error, \
         error_code, cancel_requested, started_at, finished_at, created_at, updated_at"
    };
}
pub(crate) use queue_job_columns;

/// Error code of a job settled because its lease lapsed with no attempts left.
pub(crate) const LEASE_LAPSED: &str = "lease_lapsed";

/// `jobs` columns as stored; `T` is the backend's timestamp type.
#[derive(sqlx::FromRow)]
pub(crate) struct QueueJobRow<T> {
    id: String,
    kind: String,
    payload: String,
    state: String,
    idempotency_key: String,
    request_id: Option<String>,
    attempts: i32,
    max_attempts: i32,
    priority: i32,
    run_at: T,
    lease_owner: Option<String>,
    lease_until: Option<T>,
    heartbeat_at: Option<T>,
    progress: f64,
    stage: Option<String>,
    result: Option<String>,
    error: Option<String>,
    error_code: Option<String>,
    cancel_requested: bool,
    started_at: Option<T>,
    finished_at: Option<T>,
    created_at: T,
    updated_at: T,
}

impl<T: StoredTimestamp> QueueJobRow<T> {
    pub(crate) fn into_job(self) -> Result<QueueJob, DbError> {
        let corrupt = |column: &str, err: &dyn std::fmt::Display| {
            DbError::Corrupt(format!("jobs.{column}: {err}"))
        };
        let count =
            |column: &str, value: i32| u32::try_from(value).map_err(|err| corrupt(column, &err));
        let optional = |column: &str, value: Option<T>| value.map(|v| v.decode(column)).transpose();
        Ok(QueueJob {
            id: JobId::from_str(&self.id).map_err(|err| corrupt("id", &err))?,
            kind: self.kind,
            payload: self.payload,
            state: JobState::from_db(&self.state).ok_or_else(|| corrupt("state", &self.state))?,
            idempotency_key: self.idempotency_key,
            request_id: self.request_id,
            attempts: count("attempts", self.attempts)?,
            max_attempts: count("max_attempts", self.max_attempts)?,
            priority: self.priority,
            run_at: self.run_at.decode("jobs.run_at")?,
            lease_owner: self.lease_owner,
            lease_until: optional("jobs.lease_until", self.lease_until)?,
            heartbeat_at: optional("jobs.heartbeat_at", self.heartbeat_at)?,
            progress: self.progress,
            stage: self.stage,
            result: self.result,
            error: self.error,
            error_code: self.error_code,
            cancel_requested: self.cancel_requested,
            started_at: optional("jobs.started_at", self.started_at)?,
            finished_at: optional("jobs.finished_at", self.finished_at)?,
            created_at: self.created_at.decode("jobs.created_at")?,
            updated_at: self.updated_at.decode("jobs.updated_at")?,
        })
    }
}

/// Claimed rows come back from `UPDATE … RETURNING` in no particular order: put them in claim
/// order (priority, then due time, then age).
pub(crate) fn sort_claimed(jobs: &mut [QueueJob]) {
    jobs.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.run_at.cmp(&b.run_at))
            .then(a.created_at.cmp(&b.created_at))
    });
}

/// `(kind, state, count)` rows of a `GROUP BY kind, state` into [`JobCount`]s.
pub(crate) fn job_counts(rows: Vec<(String, String, i64)>) -> Result<Vec<JobCount>, DbError> {
    rows.into_iter()
        .map(|(kind, state, count)| {
            Ok(JobCount {
                state: JobState::from_db(&state)
                    .ok_or_else(|| DbError::Corrupt(format!("jobs.state: {state}")))?,
                count: u64::try_from(count)
                    .map_err(|_| DbError::Corrupt(format!("count of {kind}: {count}")))?,
                kind,
            })
        })
        .collect()
}

/// `max_attempts` as SQL stores it (at least 1, at most `i32::MAX`).
pub(crate) fn max_attempts_to_sql(max_attempts: u32) -> i32 {
    i32::try_from(max_attempts.max(1)).unwrap_or(i32::MAX)
}

/// A lease length as a `time` duration (saturating: a lease of centuries is no lease limit).
pub(crate) fn lease_duration(lease: std::time::Duration) -> time::Duration {
    time::Duration::try_from(lease).unwrap_or(time::Duration::MAX)
}

/// Progress clamped into the column's range (NaN reads as 0).
pub(crate) fn clamp_progress(percent: f64) -> f64 {
    if percent.is_nan() {
        0.0
    } else {
        percent.clamp(0.0, 100.0)
    }
}

/// Strings (the kinds a claim asks for, job ids) as a JSON array: SQLite reads it with
/// `json_each`, one bound parameter whatever the count.
pub(crate) fn json_strings(kinds: &[&str]) -> String {
    let quoted: Vec<String> = kinds
        .iter()
        .map(|kind| {
            let mut out = String::from("\"");
            for c in kind.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        })
        .collect();
    format!("[{}]", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for state in JobState::ALL {
            assert_eq!(JobState::from_db(state.as_str()), Some(state));
        }
        assert_eq!(JobState::from_db("running"), None);
    }

    #[test]
    fn kinds_are_quoted_as_json() {
        assert_eq!(json_strings(&[]), "[]");
        assert_eq!(json_strings(&["a", "b\"c\\"]), r#"["a","b\"c\\"]"#);
        assert_eq!(json_strings(&["\n"]), r#"["\u000a"]"#);
    }

    #[test]
    fn progress_is_clamped() {
        assert_eq!(clamp_progress(-3.0), 0.0);
        assert_eq!(clamp_progress(150.0), 100.0);
        assert_eq!(clamp_progress(f64::NAN), 0.0);
        assert_eq!(clamp_progress(42.5), 42.5);
    }
}
