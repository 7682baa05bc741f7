//! The `QueueStore` contract, checked against both backends with `support`'s harness: exclusive
//! claims under concurrency, leases that lapse and are reclaimed, stale workers refused,
//! priorities and delays, retries, cancellation, release, idempotent enqueue, retention, stats.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use studio_core::{AssetId, AssetKind, JobId, ProjectId, ProjectName, UserId};
use studio_db::{
    AttemptStart, EnqueueOptions, HeartbeatOutcome, JobState, NewAsset, NewJob, NewProject,
    QueueJob, Store,
};
use time::OffsetDateTime;

use crate::support::{TestDb, backend_tests};

backend_tests!(
    worker_threads = 4;
    enqueue_is_idempotent_on_the_key,
    claims_are_exclusive_under_concurrency,
    claims_follow_priority_then_due_time,
    claims_take_only_the_kinds_asked_for,
    outbox_jobs_are_claimable,
    lapsed_leases_are_reclaimed_and_the_stale_worker_is_refused,
    a_lapsed_job_out_of_attempts_fails,
    a_lapsed_job_whose_cancellation_was_requested_is_cancelled,
    heartbeats_extend_the_lease_and_report_cancellation,
    failures_retry_until_attempts_run_out,
    a_failure_without_retry_is_final,
    cancel_stops_queued_jobs_at_once_and_flags_active_ones,
    release_hands_a_job_back_without_counting_the_attempt,
    progress_is_recorded_for_the_lease_holder_only,
    purge_removes_only_old_finished_jobs,
    purge_keeps_the_job_an_asset_points_at,
    the_outbox_job_of_an_upload_runs_through_the_queue,
    stats_count_jobs_per_kind_and_state,
    start_attempt_takes_a_delivered_job_whatever_its_due_time,
    start_attempt_takes_over_a_dead_workers_job,
    start_attempt_refuses_finished_and_settles_exhausted_jobs,
    the_relay_outbox_lists_unrelayed_waiting_jobs_once,
);

const KIND: &str = "noop";
const LEASE: Duration = Duration::from_secs(30);
/// A lease that holds for the first steps of a test, then lapses.
const SHORT: Duration = Duration::from_millis(300);
const AFTER_SHORT: Duration = Duration::from_millis(400);
/// A lease short enough to lapse within a test.
const BLINK: Duration = Duration::from_millis(1);
/// Longer than [`BLINK`], so a blink lease has lapsed after it.
const AFTER_BLINK: Duration = Duration::from_millis(20);

fn new_job(kind: &str, key: &str) -> NewJob {
    NewJob {
        id: JobId::generate(),
        kind: kind.to_owned(),
        payload: format!(r#"{{"key":"{key}"}}"#),
        idempotency_key: key.to_owned(),
        request_id: Some(format!("req-{key}")),
    }
}

async fn enqueue(store: &dyn Store, key: &str) -> QueueJob {
    store
        .enqueue(new_job(KIND, key), EnqueueOptions::default())
        .await
        .unwrap()
}

async fn state(store: &dyn Store, id: &JobId) -> QueueJob {
    store.queue_job(id).await.unwrap().expect("the job exists")
}

async fn enqueue_is_idempotent_on_the_key(db: TestDb) {
    let store = &*db.store;
    let first = enqueue(store, "a").await;
    assert_eq!(first.state, JobState::Queued);
    assert_eq!(first.attempts, 0);
    assert_eq!(first.max_attempts, studio_db::DEFAULT_MAX_ATTEMPTS);
    assert_eq!(first.request_id.as_deref(), Some("req-a"));
    assert!(first.run_at <= OffsetDateTime::now_utc());

    let again = store
        .enqueue(
            new_job(KIND, "a"),
            EnqueueOptions {
                priority: 9,
                ..EnqueueOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(again, first, "the first job comes back, unchanged");
    assert_eq!(db.job_count().await, 1);
    assert_eq!(state(store, &first.id).await, first);
    // `MediaStore::job` still reads the same row.
    let record = store.job(&first.id).await.unwrap().unwrap();
    assert_eq!(record.state, "queued");
}

async fn claims_are_exclusive_under_concurrency(db: TestDb) {
    const JOBS: usize = 200;
    const CLAIMERS: usize = 8;
    const BATCH: u32 = 7;
    let store = db.store.clone();
    for index in 0..JOBS {
        enqueue(&*store, &format!("job-{index}")).await;
    }
    let claimers: Vec<_> = (0..CLAIMERS)
        .map(|worker| {
            let store: Arc<dyn Store> = store.clone();
            tokio::spawn(async move {
                let name = format!("worker-{worker}");
                let mut mine = Vec::new();
                loop {
                    let claimed = store.claim(&name, &[KIND], LEASE, BATCH).await.unwrap();
                    if claimed.is_empty() {
                        return mine;
                    }
                    for job in claimed {
                        assert_eq!(job.state, JobState::Active);
                        assert_eq!(job.lease_owner.as_deref(), Some(name.as_str()));
                        assert_eq!(job.attempts, 1);
                        mine.push(job.id);
                    }
                }
            })
        })
        .collect();
    let mut seen: HashMap<JobId, usize> = HashMap::new();
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            *seen.entry(id).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), JOBS, "every job was claimed");
    assert!(seen.values().all(|&n| n == 1), "no job was claimed twice");
}

async fn claims_follow_priority_then_due_time(db: TestDb) {
    let store = &*db.store;
    let now = OffsetDateTime::now_utc();
    let with = |priority: i32, run_at: Option<OffsetDateTime>| EnqueueOptions {
        priority,
        run_at,
        ..EnqueueOptions::default()
    };
    let low = store
        .enqueue(new_job(KIND, "low"), with(0, None))
        .await
        .unwrap();
    let high = store
        .enqueue(new_job(KIND, "high"), with(5, None))
        .await
        .unwrap();
    let older_due = store
        .enqueue(
            new_job(KIND, "older"),
            with(0, Some(now - time::Duration::minutes(5))),
        )
        .await
        .unwrap();
    // Due well after the first claim, even on a loaded machine (the claim happens within
    // milliseconds, but a busy CI box once took longer than a 300 ms margin).
    let later = store
        .enqueue(
            new_job(KIND, "later"),
            with(10, Some(now + time::Duration::seconds(2))),
        )
        .await
        .unwrap();

    let claimed = store.claim("w", &[KIND], LEASE, 10).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|job| job.id.clone()).collect();
    assert_eq!(
        ids,
        [high.id, older_due.id, low.id],
        "the delayed job is not due yet"
    );

    let wait = later.run_at - OffsetDateTime::now_utc() + time::Duration::milliseconds(50);
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    let claimed = store.claim("w", &[KIND], LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, later.id);
}

async fn claims_take_only_the_kinds_asked_for(db: TestDb) {
    let store = &*db.store;
    let other = store
        .enqueue(new_job("other", "o"), EnqueueOptions::default())
        .await
        .unwrap();
    let mine = enqueue(store, "m").await;
    assert!(store.claim("w", &[], LEASE, 10).await.unwrap().is_empty());
    assert!(
        store
            .claim("w", &[KIND], LEASE, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim("w", &[KIND, "third"], LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, mine.id);
    assert_eq!(state(store, &other.id).await.state, JobState::Queued);
}

async fn outbox_jobs_are_claimable(db: TestDb) {
    // As `confirm_upload` writes them: no queue columns at all.
    db.exec_raw(&["INSERT INTO jobs (id, kind, payload, idempotency_key) \
         VALUES ('job_0000000000000000000000000a', 'noop', '{}', 'outbox')"])
        .await;
    let claimed = db.store.claim("w", &[KIND], LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id.as_str(), "job_0000000000000000000000000a");
    assert_eq!(claimed[0].attempts, 1);
}

async fn lapsed_leases_are_reclaimed_and_the_stale_worker_is_refused(db: TestDb) {
    let store = &*db.store;
    let job = enqueue(store, "a").await;
    let first = store.claim("stale", &[KIND], SHORT, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    // Nobody else gets it while the lease holds...
    assert!(
        store
            .claim("other", &[KIND], LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(AFTER_SHORT).await;
    // ... then the lapsed lease makes it claimable again, with one more attempt.
    let second = store.claim("fresh", &[KIND], LEASE, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, job.id);
    assert_eq!(second[0].attempts, 2);
    let current = state(store, &job.id).await;
    assert_eq!(current.lease_owner.as_deref(), Some("fresh"));

    // The stale worker can change nothing any more.
    assert_eq!(
        store.heartbeat(&job.id, "stale", LEASE).await.unwrap(),
        HeartbeatOutcome::Lost
    );
    assert!(!store.progress(&job.id, "stale", 50.0, None).await.unwrap());
    assert!(!store.complete(&job.id, "stale", "{}").await.unwrap());
    assert!(!store.fail(&job.id, "stale", "x", "y", None).await.unwrap());
    assert!(!store.release(&job.id, "stale").await.unwrap());
    assert_eq!(state(store, &job.id).await, current);

    assert!(
        store
            .complete(&job.id, "fresh", r#"{"ok":true}"#)
            .await
            .unwrap()
    );
    let done = state(store, &job.id).await;
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.result.as_deref(), Some(r#"{"ok":true}"#));
    assert_eq!(done.progress, 100.0);
    assert!(done.finished_at.is_some());
    assert_eq!(done.lease_until, None);
    // A completed job is never claimed again, lease or not.
    tokio::time::sleep(AFTER_BLINK).await;
    assert!(
        store
            .claim("x", &[KIND], LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_lapsed_job_out_of_attempts_fails(db: TestDb) {
    let store = &*db.store;
    let job = store
        .enqueue(
            new_job(KIND, "poison"),
            EnqueueOptions {
                max_attempts: 1,
                ..EnqueueOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.claim("dies", &[KIND], BLINK, 10).await.unwrap().len(),
        1
    );
    tokio::time::sleep(AFTER_BLINK).await;
    assert!(
        store
            .claim("next", &[KIND], LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let failed = state(store, &job.id).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("lease_lapsed"));
    assert_eq!(failed.attempts, 1);
}

async fn a_lapsed_job_whose_cancellation_was_requested_is_cancelled(db: TestDb) {
    let store = &*db.store;
    let job = enqueue(store, "a").await;
    assert_eq!(
        store.claim("dies", &[KIND], BLINK, 10).await.unwrap().len(),
        1
    );
    assert!(store.cancel(&job.id).await.unwrap());
    tokio::time::sleep(AFTER_BLINK).await;
    assert!(
        store
            .claim("next", &[KIND], LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let cancelled = state(store, &job.id).await;
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(cancelled.finished_at.is_some());
}

async fn heartbeats_extend_the_lease_and_report_cancellation(db: TestDb) {
    let store = &*db.store;
    let job = enqueue(store, "a").await;
    let claimed = store.claim("w", &[KIND], BLINK, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store.heartbeat(&job.id, "w", LEASE).await.unwrap(),
        HeartbeatOutcome::Continue
    );
    tokio::time::sleep(AFTER_BLINK).await;
    // The heartbeat moved the lease out: no one can take the job.
    assert!(
        store
            .claim("other", &[KIND], LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let beating = state(store, &job.id).await;
    assert!(beating.lease_until.unwrap() > OffsetDateTime::now_utc());
    assert!(beating.heartbeat_at.is_some());

    assert!(store.cancel(&job.id).await.unwrap());
    assert_eq!(
        store.heartbeat(&job.id, "w", LEASE).await.unwrap(),
        HeartbeatOutcome::Cancelled
    );
    assert_eq!(
        store.heartbeat(&job.id, "nobody", LEASE).await.unwrap(),
        HeartbeatOutcome::Lost
    );
}

async fn failures_retry_until_attempts_run_out(db: TestDb) {
    let store = &*db.store;
    let job = store
        .enqueue(
            new_job(KIND, "flaky"),
            EnqueueOptions {
                max_attempts: 2,
                ..EnqueueOptions::default()
            },
        )
        .await
        .unwrap();
    store.claim("w", &[KIND], LEASE, 1).await.unwrap();
    let retry_at = OffsetDateTime::now_utc() + time::Duration::milliseconds(200);
    assert!(
        store
            .fail(&job.id, "w", "io", "disk hiccup", Some(retry_at))
            .await
            .unwrap()
    );
    let retrying = state(store, &job.id).await;
    assert_eq!(retrying.state, JobState::Retrying);
    assert_eq!(retrying.error_code.as_deref(), Some("io"));
    assert_eq!(retrying.error.as_deref(), Some("disk hiccup"));
    assert_eq!(retrying.finished_at, None);
    // Not before its backoff...
    assert!(
        store
            .claim("w", &[KIND], LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = store.claim("w", &[KIND], LEASE, 1).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    // ... and the last attempt's failure is final even when a retry is asked for.
    assert!(
        store
            .fail(&job.id, "w", "io", "again", Some(OffsetDateTime::now_utc()))
            .await
            .unwrap()
    );
    let failed = state(store, &job.id).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("again"));
    assert!(failed.finished_at.is_some());
}

async fn a_failure_without_retry_is_final(db: TestDb) {
    let store = &*db.store;
    let job = enqueue(store, "bad").await;
    store.claim("w", &[KIND], LEASE, 1).await.unwrap();
    assert!(
        store
            .fail(&job.id, "w", "not_media", "not a media file", None)
            .await
            .unwrap()
    );
    let failed = state(store, &job.id).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.error_code.as_deref(), Some("not_media"));
    assert!(
        store
            .claim("w", &[KIND], LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn cancel_stops_queued_jobs_at_once_and_flags_active_ones(db: TestDb) {
    let store = &*db.store;
    let queued = enqueue(store, "q").await;
    assert!(store.cancel(&queued.id).await.unwrap());
    let cancelled = state(store, &queued.id).await;
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(
        store
            .claim("w", &[KIND], LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.cancel(&queued.id).await.unwrap(), "already finished");
    assert!(!store.cancel(&JobId::generate()).await.unwrap(), "unknown");

    let active = enqueue(store, "a").await;
    store.claim("w", &[KIND], LEASE, 10).await.unwrap();
    assert!(store.cancel(&active.id).await.unwrap());
    let flagged = state(store, &active.id).await;
    assert_eq!(
        flagged.state,
        JobState::Active,
        "the worker decides when to stop"
    );
    assert!(flagged.cancel_requested);
    // The worker stops with an error: the job ends cancelled, not retrying.
    assert!(
        store
            .fail(
                &active.id,
                "w",
                "cancelled",
                "stopped",
                Some(OffsetDateTime::now_utc())
            )
            .await
            .unwrap()
    );
    assert_eq!(state(store, &active.id).await.state, JobState::Cancelled);
}

async fn release_hands_a_job_back_without_counting_the_attempt(db: TestDb) {
    let store = &*db.store;
    let job = enqueue(store, "a").await;
    store.claim("leaving", &[KIND], LEASE, 10).await.unwrap();
    assert!(store.release(&job.id, "leaving").await.unwrap());
    let back = state(store, &job.id).await;
    assert_eq!(back.state, JobState::Queued);
    assert_eq!(back.attempts, 0);
    assert_eq!(back.lease_until, None);
    assert!(
        !store.release(&job.id, "leaving").await.unwrap(),
        "not active"
    );

    let claimed = store.claim("staying", &[KIND], LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);

    // Released after cancellation was requested: cancelled, not queued.
    assert!(store.cancel(&job.id).await.unwrap());
    assert!(store.release(&job.id, "staying").await.unwrap());
    assert_eq!(state(store, &job.id).await.state, JobState::Cancelled);
}

async fn progress_is_recorded_for_the_lease_holder_only(db: TestDb) {
    let store = &*db.store;
    let job = enqueue(store, "a").await;
    store.claim("w", &[KIND], LEASE, 10).await.unwrap();
    assert!(
        store
            .progress(&job.id, "w", 12.5, Some("probe"))
            .await
            .unwrap()
    );
    assert!(store.progress(&job.id, "w", 140.0, None).await.unwrap());
    let current = state(store, &job.id).await;
    assert_eq!(current.progress, 100.0, "clamped");
    assert_eq!(
        current.stage.as_deref(),
        Some("probe"),
        "kept when not given"
    );
    assert!(!store.progress(&job.id, "other", 1.0, None).await.unwrap());
}

async fn purge_removes_only_old_finished_jobs(db: TestDb) {
    let store = &*db.store;
    let done = enqueue(store, "done").await;
    let failed = enqueue(store, "failed").await;
    let waiting = enqueue(store, "waiting").await;
    let cancelled = enqueue(store, "cancelled").await;
    store.cancel(&cancelled.id).await.unwrap();
    let claimed = store.claim("w", &[KIND], LEASE, 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    store.complete(&done.id, "w", "{}").await.unwrap();
    store.fail(&failed.id, "w", "x", "y", None).await.unwrap();

    let before = OffsetDateTime::now_utc() - time::Duration::hours(1);
    assert_eq!(store.purge_finished(before).await.unwrap(), 0, "too recent");
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert_eq!(store.purge_finished(after).await.unwrap(), 3);
    assert_eq!(store.queue_job(&done.id).await.unwrap(), None);
    assert_eq!(store.queue_job(&failed.id).await.unwrap(), None);
    assert_eq!(store.queue_job(&cancelled.id).await.unwrap(), None);
    assert_eq!(state(store, &waiting.id).await.state, JobState::Queued);
}

async fn stats_count_jobs_per_kind_and_state(db: TestDb) {
    let store = &*db.store;
    for key in ["a", "b", "c"] {
        enqueue(store, key).await;
    }
    store
        .enqueue(new_job("other", "o"), EnqueueOptions::default())
        .await
        .unwrap();
    store.claim("w", &[KIND], LEASE, 1).await.unwrap();
    let counts: Vec<(String, JobState, u64)> = store
        .stats()
        .await
        .unwrap()
        .into_iter()
        .map(|count| (count.kind, count.state, count.count))
        .collect();
    let mut counts = counts;
    counts.sort();
    assert_eq!(
        counts,
        [
            (KIND.to_owned(), JobState::Queued, 2),
            (KIND.to_owned(), JobState::Active, 1),
            ("other".to_owned(), JobState::Queued, 1),
        ]
    );
}

/// Confirms an upload the way the HTTP layer does, recording its `process_asset` job (the
/// outbox); returns that job's id.
async fn confirmed_upload(store: &dyn Store) -> JobId {
    let owner = UserId::parse("owner").unwrap();
    let project = store
        .create_project(NewProject {
            id: ProjectId::generate(),
            owner_id: owner.clone(),
            name: ProjectName::parse("Film").unwrap(),
        })
        .await
        .unwrap();
    let asset = AssetId::generate();
    store
        .create_upload_intent(
            NewAsset {
                original_key: format!("originals/{}/{asset}", project.id),
                id: asset.clone(),
                project_id: project.id.clone(),
                owner_id: owner,
                kind: AssetKind::Video,
                filename: "take.mp4".to_owned(),
                content_type: "video/mp4".to_owned(),
                declared_size: 10,
                upload_id: None,
                part_size: None,
                expires_at: OffsetDateTime::now_utc() + time::Duration::hours(1),
            },
            1_000,
        )
        .await
        .unwrap();
    let confirmed = store
        .confirm_upload(
            &asset,
            10,
            new_job("process_asset", &format!("asset:{asset}")),
        )
        .await
        .unwrap();
    confirmed.job_id
}

async fn purge_keeps_the_job_an_asset_points_at(db: TestDb) {
    let store = &*db.store;
    let job = confirmed_upload(store).await;
    store
        .claim("w", &["process_asset"], LEASE, 1)
        .await
        .unwrap();
    assert!(store.complete(&job, "w", "{}").await.unwrap());
    let after = OffsetDateTime::now_utc() + time::Duration::seconds(1);
    assert_eq!(store.purge_finished(after).await.unwrap(), 0);
    assert_eq!(state(store, &job).await.state, JobState::Completed);
}

async fn the_outbox_job_of_an_upload_runs_through_the_queue(db: TestDb) {
    let store = &*db.store;
    let job = confirmed_upload(store).await;
    let recorded = state(store, &job).await;
    assert_eq!(recorded.state, JobState::Queued);
    assert_eq!(recorded.attempts, 0);
    assert_eq!(recorded.max_attempts, studio_db::DEFAULT_MAX_ATTEMPTS);
    assert!(recorded.run_at <= OffsetDateTime::now_utc());
    let claimed = store
        .claim("w", &["process_asset"], LEASE, 5)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, job);
    assert_eq!(
        claimed[0].request_id.as_deref(),
        Some(recorded.request_id.as_deref().unwrap())
    );
    // `MediaStore::job` sees the queue's state.
    assert_eq!(store.job(&job).await.unwrap().unwrap().state, "active");
}

fn started(outcome: AttemptStart) -> QueueJob {
    match outcome {
        AttemptStart::Started(job) => job,
        other => panic!("expected a started attempt, got {other:?}"),
    }
}

async fn start_attempt_takes_a_delivered_job_whatever_its_due_time(db: TestDb) {
    let store = &*db.store;
    // The external engine decides when a job runs: a job due in an hour still starts when it
    // is delivered (the engine applied the delay itself).
    let later = store
        .enqueue(
            new_job(KIND, "later"),
            EnqueueOptions {
                run_at: Some(OffsetDateTime::now_utc() + time::Duration::hours(1)),
                ..EnqueueOptions::default()
            },
        )
        .await
        .unwrap();
    let job = started(store.start_attempt(&later.id, "w", LEASE).await.unwrap());
    assert_eq!(job.state, JobState::Active);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.lease_owner.as_deref(), Some("w"));
    assert!(job.lease_until.is_some());
    assert_eq!(job.payload, r#"{"key":"later"}"#);
    assert!(store.complete(&later.id, "w", "{}").await.unwrap());

    let unknown = JobId::generate();
    assert_eq!(
        store.start_attempt(&unknown, "w", LEASE).await.unwrap(),
        AttemptStart::Unknown
    );
}

async fn start_attempt_takes_over_a_dead_workers_job(db: TestDb) {
    let store = &*db.store;
    let job = enqueue(store, "orphan").await;
    started(store.start_attempt(&job.id, "dead", LEASE).await.unwrap());
    // The engine re-delivers it (the dead worker's lock lapsed): the new worker takes it over,
    // and the old one is refused from then on.
    let again = started(store.start_attempt(&job.id, "alive", LEASE).await.unwrap());
    assert_eq!(again.attempts, 2);
    assert_eq!(again.lease_owner.as_deref(), Some("alive"));
    assert_eq!(
        store.heartbeat(&job.id, "dead", LEASE).await.unwrap(),
        HeartbeatOutcome::Lost
    );
    assert!(!store.complete(&job.id, "dead", "{}").await.unwrap());
    assert!(store.complete(&job.id, "alive", "{}").await.unwrap());

    // A retrying job is started like a queued one.
    let flaky = enqueue(store, "flaky").await;
    started(store.start_attempt(&flaky.id, "w", LEASE).await.unwrap());
    let soon = Some(OffsetDateTime::now_utc() + time::Duration::hours(1));
    assert!(store.fail(&flaky.id, "w", "x", "boom", soon).await.unwrap());
    assert_eq!(state(store, &flaky.id).await.state, JobState::Retrying);
    let second = started(store.start_attempt(&flaky.id, "w", LEASE).await.unwrap());
    assert_eq!(second.attempts, 2);
}

async fn start_attempt_refuses_finished_and_settles_exhausted_jobs(db: TestDb) {
    let store = &*db.store;
    let done = enqueue(store, "done").await;
    started(store.start_attempt(&done.id, "w", LEASE).await.unwrap());
    assert!(store.complete(&done.id, "w", "{}").await.unwrap());
    match store.start_attempt(&done.id, "w", LEASE).await.unwrap() {
        AttemptStart::Over(job) => assert_eq!(job.state, JobState::Completed),
        other => panic!("a completed job must not run again: {other:?}"),
    }

    let cancelled = enqueue(store, "cancelled").await;
    assert!(store.cancel(&cancelled.id).await.unwrap());
    match store
        .start_attempt(&cancelled.id, "w", LEASE)
        .await
        .unwrap()
    {
        AttemptStart::Over(job) => assert_eq!(job.state, JobState::Cancelled),
        other => panic!("a cancelled job must not run: {other:?}"),
    }

    // One attempt allowed; its worker died mid-run; the re-delivery settles it as failed.
    let once = store
        .enqueue(
            new_job(KIND, "once"),
            EnqueueOptions {
                max_attempts: 1,
                ..EnqueueOptions::default()
            },
        )
        .await
        .unwrap();
    started(store.start_attempt(&once.id, "dead", LEASE).await.unwrap());
    match store.start_attempt(&once.id, "w", LEASE).await.unwrap() {
        AttemptStart::Over(job) => {
            assert_eq!(job.state, JobState::Failed);
            assert_eq!(job.error_code.as_deref(), Some("lease_lapsed"));
            assert_eq!(job.attempts, 1);
        }
        other => panic!("an exhausted job must not run again: {other:?}"),
    }

    // Cancellation requested while a dead worker ran it: the re-delivery cancels it.
    let asked = enqueue(store, "asked").await;
    started(store.start_attempt(&asked.id, "dead", LEASE).await.unwrap());
    assert!(store.cancel(&asked.id).await.unwrap());
    match store.start_attempt(&asked.id, "w", LEASE).await.unwrap() {
        AttemptStart::Over(job) => assert_eq!(job.state, JobState::Cancelled),
        other => panic!("a cancelled job must not run: {other:?}"),
    }
}

async fn the_relay_outbox_lists_unrelayed_waiting_jobs_once(db: TestDb) {
    let store = &*db.store;
    let first = enqueue(store, "first").await;
    let second = enqueue(store, "second").await;
    let upload = confirmed_upload(store).await;
    let cancelled = enqueue(store, "cancelled").await;
    assert!(store.cancel(&cancelled.id).await.unwrap());

    let pending: Vec<JobId> = store
        .unrelayed_jobs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.id)
        .collect();
    assert_eq!(
        pending,
        [first.id.clone(), second.id.clone(), upload.clone()],
        "waiting jobs, oldest first; finished ones are owed to nobody"
    );
    assert_eq!(store.unrelayed_jobs(1).await.unwrap().len(), 1);

    store
        .mark_relayed(&[first.id.clone(), upload.clone()])
        .await
        .unwrap();
    store.mark_relayed(&[]).await.unwrap();
    let pending: Vec<JobId> = store
        .unrelayed_jobs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.id)
        .collect();
    assert_eq!(pending, [second.id]);
    // Marking again changes nothing.
    store
        .mark_relayed(std::slice::from_ref(&first.id))
        .await
        .unwrap();
    assert_eq!(store.unrelayed_jobs(10).await.unwrap().len(), 1);
}
